// Package mappedjson is the adapter style for district systems that speak
// their own REST/JSON: pinyin field names (sqrxm 申请人姓名, zjhm 证件号码,
// sxbm 事项编码, bjbh 办件编号), their own code tables (case states, id
// types, yes/no flags "1"/"0"), their own date formats ("2006-01-02
// 15:04:05", "20060102150405") and nesting, and a result envelope such as
// {"code": "0", "msg": "成功", "data": {...}}. It registers itself as
// "mapped-json".
//
// Onboarding such a district is configuration only: the partner's config
// block declares, once per message, how the gateway's contract message and
// the district's JSON correspond. The same declaration serves both
// directions: the adapter encodes with it what it sends and decodes with it
// what it reads, and PartnerSide, the district's end built from the same
// block, does the reverse (simulators and contract tests use it; for the
// district it is the reference of what its system must do). ExampleConfig
// returns a complete block for the demo district 330702 婺城区.
//
// # Operations
//
// Every operation is optional; the adapter has exactly the capabilities
// whose operations are configured (adapters.CapabilitySet):
//
//	config key        capability       call                                                    contract
//	case_delivery     case_delivery    POST {endpoint}{path}                                   CaseDelivery → Ack
//	status_delivery   status_delivery  POST {endpoint}{path}                                   StatusDelivery → Ack
//	notice_delivery   (notices)        POST {endpoint}{path}                                   NoticeDelivery → Ack
//	usage_delivery    usage_records    POST {endpoint}{path}                                   UsageRecordDelivery → Ack
//	usage_batch_delivery  (usage_records, in batches)  POST {endpoint}{path}               UsageRecordBatch → UsageBatchAck
//	license_lookup    license_lookup   POST {endpoint}{path}, tried once                       LicenseLookupRequest → LicenseLookupResponse
//	inbound           inbound          the district POSTs /v1/inbound/{partner_id}/{operation}  CaseSubmission, StatusUpdate, EvaluationSubmission,
//	                                                                                           EvaluationReply or BundleSubmission → Receipt
//
// notice_delivery makes the adapter's DeliverNotice (port.NoticeDeliverer)
// work and DeliversNotices report true; without it, DeliverNotice fails
// permanently.
//
// Outbound calls go through adapters.Caller: Content-Type application/json,
// Gw-Signature and Gw-Key-Id over the exact body, traceparent, a bearer
// token when the gateway's Crypto issues one, max_retries quick retries
// inside one attempt for deliveries (never for lookups), and answers
// accepted only when the district signed their exact bytes with a key
// registered for it. Inbound calls reach the adapter's Translator after the
// gateway checked the bearer token and the district's signature; the
// receipt and refusals the adapter renders are signed by the gateway.
//
// # The config block
//
// Operators write YAML; the gateway hands the block to the factory as JSON.
// Quote codes in YAML ("0", "111", "true") so that they stay strings.
// Unknown keys anywhere are an error, and the whole block is validated when
// the adapter is built: every contract path must exist in its contract
// type, every filter must fit its field, every table named must exist,
// no partner key may appear twice in one object and no two keys may read
// back into the same contract field, the fields the gateway needs must be
// mapped, paths and operation names must be well formed. Errors name the
// offending config field, for example
//
//	config: case_delivery.request.bj.sqrxm: submission.applicant has no field "nmae"
//
// Top-level keys:
//
//	endpoint         the district's base URL, absolute http(s), no query; required when an outbound operation is configured
//	max_retries      quick retries inside one delivery attempt, 0..10 (default 2)
//	timezone         the fixed offset times are written in, "+08:00" (default, China Standard Time) or "-05:30" or "Z"
//	envelope         the district's result envelope (required, below)
//	tables           code tables by name (below)
//	case_delivery    {path, request, ack, envelope?}
//	status_delivery  {path, request, ack, envelope?}
//	notice_delivery  {path, request, ack, envelope?}
//	usage_delivery   {path, request, ack, envelope?}
//	usage_batch_delivery  {path, request, ack, envelope?}; needs usage_delivery
//	license_lookup   {path, request, answer, envelope?}
//	inbound          {case_submission, status_update, evaluation_submission, evaluation_reply,
//	                  bundle_submission: each {operation, request}, at least one; receipt}
//
// path is appended to the endpoint; it starts with "/" and each outbound
// operation has its own (the district tells the operations apart by path).
// request maps the contract message to the district's request body; ack and
// answer map the data of the district's answer to the contract Ack and
// LicenseLookupResponse; an operation's envelope replaces the config's for
// its answers (a license library that is a separate system, say).
// inbound.*.operation is the last segment of the district's call path and
// request maps its body to the contract message; receipt maps the
// gateway's Receipt into the data of the gateway's answer.
//
// # Mappings
//
// A mapping is an object whose keys are the district's field names. Each
// value is one of:
//
//   - "path": a contract field, named by the message's JSON field names
//     (submission.applicant.name); "." is the current element inside
//     $item. The value is carried as it is (numbers as numbers, times as
//     RFC 3339, bytes as base64, the form as a JSON object).
//   - "path | filter": the same, converted by one filter (below).
//   - a nested object: the district's nesting. It is written only when
//     something in it is; on reading, its fields map as if they were flat.
//   - {"$each": "path", "$item": ...}: a contract array. $item is a
//     mapping whose paths are relative to the element, or an expression
//     ("." for an array of strings such as license_ids or correction_items).
//   - "=text": a constant string (a version, a fixed flag), written on
//     encoding; on reading it may be absent, and if present must equal it.
//     A JSON number or boolean in the mapping is such a constant too.
//   - "text {{path}} text {{path | filter}}": a template, written on
//     encoding only; templates are one-way, the adapter ignores the field
//     when reading (use one to repeat a field already mapped elsewhere).
//
// Filters:
//
//	| table:NAME    through the code table NAME (string, boolean and number fields); reading inverts it,
//	                and a value the table does not list is an error naming the field
//	| time:LAYOUT   a time written in the configured timezone in a Go layout, or one of the names
//	                datetime (2006-01-02 15:04:05), datetimefrac (the same, plus the fraction of a second
//	                when there is one), datetimemilli (2006-01-02 15:04:05.000), compact (20060102150405),
//	                rfc3339, rfc3339nano, unix and unixmilli (numbers). datetime, compact, rfc3339 and unix
//	                drop fractions of a second, datetimemilli and unixmilli keep milliseconds. A layout must
//	                read back the date and the time of day as far as it shows it (15 for hours, or 03 with PM).
//	| date:LAYOUT   a contract date (YYYY-MM-DD: issued_on, valid_from, valid_until) in a Go layout, or one
//	                of compact (20060102), slash (2006/01/02), chinese (2006年01月02日), date (2006-01-02)
//	| json          a JSON value (the case's form) carried as a string of its JSON text
//	| string        a number (a size, the evidence sequence) carried as a string of its digits
//
// A contract field that is absent, null, "", an empty array or the zero
// time is left out of the district's JSON, and a district field that is
// absent, null, "" or [] reads back as absent, so optional fields round
// trip. Reading is strict: the district's JSON may hold only declared
// fields (an unknown field is an error naming the object that holds it),
// every value must have the declared type, duplicate keys are an error,
// and the result is decoded strictly into the contract type.
//
// Tables map contract values (as text: "accepted", "111", "true") to the
// district's values (strings, numbers or booleans, never ""). A "*" entry
// is the default for values the table does not list; it is used only when
// encoding. A table used by a filter must be readable back: no two
// contract values may share a district value, nor may the default equal a
// listed value. A boolean field's table has both keys true and false.
// Numbers compare by exact value (1 and 1.0 are one value, 2^53+1 and 2^53
// are two).
//
// # The envelope
//
// The district answers every call in its envelope, and the gateway answers
// the district's calls in it:
//
//	code             path (dotted district keys) of the result code; required
//	message          path of the result message
//	data             path of the object the operation's ack, answer or receipt mapping describes;
//	                 empty when those fields sit at the top level beside the code (under other names)
//	request_id       path where the gateway writes the request id of its refusals
//	success          the codes that mean success; the first is the one written
//	retryable        the codes that mean "try again later"; any other code is a permanent refusal
//	success_message  the message written with receipts
//	error_codes      a table from the gateway's error codes (validation_failed, rate_limited, ...)
//	                 to the district's codes, with "*" as the default; without it the gateway's code is written
//	numeric_code     write codes as JSON numbers (either is read)
//
// A 2xx answer whose code is not a success code is a refusal: retryable
// when its code is listed in retryable (honouring Retry-After), permanent
// otherwise, with the district's code and message (at most 200 bytes,
// identifier-like runs masked) in the reason. Non-2xx answers are
// classified by their HTTP status like every style's (5xx, 408 and 429
// retryable, honouring Retry-After; other statuses permanent), with the
// envelope's code and message added to the reason when the body is one.
// Result codes compare as text, and as numbers when both are JSON numbers
// ("0" and 0 are one code, "0" and "00" are two).
// An answer that is unsigned or badly signed is permanent
// (adapters.ErrBadSignature); one that does not read (not JSON, no code,
// unknown fields, wrong types, values outside a table, more than
// adapters.MaxAnswerSize bytes) is permanent (adapters.ErrMalformedAck).
//
// # Acknowledgements and lookup answers
//
// An ack mapping must map exchange_id and acknowledged_at, and for cases
// partner_case_no (the district's 办件编号); delivery_id and body_sm3 are
// optional. When body_sm3 is not mapped, the adapter fills it with the SM3
// of the exact bytes it sent; key_id is never mapped, it is always the
// Gw-Key-Id that signed the answer. The Ack is then checked with
// adapters.CheckAck: the same exchange (and delivery, when named), body
// digest and key. A lookup answer mapping must map exchange_id and the
// license record's required fields; found is optional (without it, found
// means a license is present). The answer is checked with
// adapters.CheckLookupAnswer. The raw answer and signature the adapter
// returns are the district's exact bytes.
//
// # Usage records in batches
//
// With usage_batch_delivery configured, the adapter also passes several
// usage records in one call (adapters.UsageBatchDeliverer), for a partner
// whose license_library.usage_batch is above 1 (the default when the
// operation is configured; usage_batch 1 sends each record through
// usage_delivery). Its request maps a UsageRecordBatch, which must map
// batch_id and, through $each over deliveries, each record's delivery_id
// (the district's dedup key; the records' other fields as usage_delivery
// maps them). Its ack maps the data of the district's answer to a
// UsageBatchAck: batch_id, delivery_ids (the records the district stored,
// an array of strings: {"$each": "delivery_ids", "$item": "."}) and
// acknowledged_at must be mapped, body_sm3 is optional (the SM3 of the
// bytes sent when absent), key_id is the Gw-Key-Id. The acknowledgement
// is checked with adapters.CheckBatchAck: the same batch and body, and
// only records of the batch, each once. The records it leaves out are not
// taken; the gateway retries them, possibly in a later batch, where the
// district recognises a record it stored before by its delivery_id and
// acknowledges it again.
//
// # Notices
//
// notice_delivery carries the gateway's notices about a case: deadline
// warnings and overdue notices (notice.deadline, the statutory clock),
// evaluations (notice.evaluation, the applicant's id masked, and for a
// negative one notice.follow_up), follow-up replies and overdue follow-ups
// (notice.follow_up, with its reply), cancelled parts of bundles
// (notice.bundle_id, notice.reason). Exactly the parts a notice's type
// needs are set; the others are absent and written nowhere. Its request
// must map delivery_id, exchange_id, notice.type (through a table of the
// district's notice codes, in the example) and case_id or notice.case_id;
// its ack is read and checked as a status delivery's is.
//
// # Bundles (一件事)
//
// A case that is a part of a bundle carries a bundle (contracts.BundleRef:
// bundle.bundle_id, bundle.name, bundle.part, bundle.parts, bundle.after,
// and bundle.prerequisites with each one's result documents), which the
// case_delivery request maps like any field. CheckCase refuses a part of a
// bundle when the mapping leaves out a value its bundle holds (naming the
// first one, such as bundle.prerequisites[0].documents[1].content), and
// DeliverCase fails permanently for it without a call: the district would
// take the part without knowing it is one, or without the results it
// waited for. A case outside a bundle needs no bundle mapping.
// inbound.bundle_submission reads the district's bundles (its parts as a
// $each over parts); the receipt must then map parts[].part and
// parts[].case_id, which tell the district each part's case.
//
// # Repeats
//
// Delivery is at least once: an attempt whose answer was lost is made
// again, and an operator may redeliver a dead letter. Districts recognise
// a repeat by delivery_id alone, so every delivery request mapping
// (case_delivery, status_delivery, usage_delivery) must map it (tsid in
// the example): the gateway makes it unique across all senders and keeps
// it through every attempt and redelivery. exchange_id is unique per
// sender only (two districts may send the same one), so a district that
// dedups on it takes one district's case for another's. case_id names the
// case (a resubmission after correction is a new delivery of the same
// case). An acknowledgement that gives, as partner_case_no, the number of
// another case of the same district is refused by the gateway: the
// delivery counts as not delivered.
//
// # Inbound calls
//
// DecodeCall takes POST /v1/inbound/{partner_id}/{operation} with an
// application/json body: the operation selects the case_submission,
// status_update, evaluation_submission, evaluation_reply or
// bundle_submission mapping (operations differ), whose required contract
// fields (exchange_id, case_id, state, reported_at for an update;
// everything a CaseSubmission, EvaluationSubmission, EvaluationReply or
// BundleSubmission always carries for the others) must be mapped. A call it cannot read fails
// with a *contracts.FieldError whose Field is the district's field path
// and whose Code is unsupported_media_type, not_found (unknown operation),
// invalid_json (not JSON, unknown field, wrong type) or validation_failed
// (a value outside its table, a malformed time or number, a wrong
// constant); messages never quote values. EncodeReceipt writes the
// envelope with the first success code and the receipt mapping (which must
// map exchange_id and case_id); EncodeError writes it with the district's
// code for the error, the message and the request id, and keeps the HTTP
// status.
//
// # Limits
//
// Everything read from a partner is bounded: JSON nesting (MaxDepth),
// array lengths (MaxArrayItems), answers (adapters.MaxAnswerSize), and the
// configuration itself (MaxMappingDepth, MaxMappingEntries, 512 entries
// per table). The gateway's own contract values are bounded by the
// contract and the gateway's body limit instead; only their nesting is
// (256 levels).
//
// # Example
//
// A district whose cases, status callbacks, license library and calls are
// all mapped (abbreviated where marked; ExampleConfig returns the complete
// block):
//
//	adapter: mapped-json
//	config:
//	  endpoint: https://zwfw.wucheng.example.gov.cn/tongban
//	  max_retries: 2
//	  timezone: "+08:00"
//	  envelope:
//	    code: code                   # {"code": "0", "msg": "成功", "data": {...}}
//	    message: msg
//	    data: data
//	    request_id: lsh              # 流水号 of the gateway's refusals
//	    success: ["0"]
//	    success_message: 成功
//	    retryable: ["4290", "5000", "5020", "5030"]
//	    error_codes: cwdm
//	  tables:
//	    zjlx: {"111": "10", "001": "49"}                    # 证件类型
//	    bjzt: {accepted: "02", rejected: "03", correction_required: "04", in_progress: "05",
//	           concluded: "06", dispatched: "07", delivered: "08", received: "00", forwarded: "01",
//	           waiting: "09", cancelled: "10"}
//	    bjjg: {approved: "1", denied: "2"}                 # 办结结果
//	    sdfs: {window_pickup: "1", post: "2", electronic: "3"}
//	    sf: {"true": "1", "false": "0"}                    # 是否
//	    zzzt: {valid: "10", suspended: "20", revoked: "30", cancelled: "40", expired: "50"}  # 证照状态
//	    hyjg: {valid: "1", mismatch: "2", suspended: "3", revoked: "4", cancelled: "5", expired: "6",
//	           not_found: "7", source_unavailable: "8"}     # 核验结果
//	    tzlx: {deadline_warning: "01", deadline_overdue: "02", evaluation: "03", follow_up_reply: "04",
//	           follow_up_overdue: "05", part_cancelled: "06"}     # 通知类型
//	    sxdw: {working_days: "1", calendar_days: "2"}      # 时限单位
//	    pjdj: {very_satisfied: "5", satisfied: "4", basically_satisfied: "3", dissatisfied: "2", very_dissatisfied: "1"}
//	    pjqd: {window: "1", pc: "2", app: "3", mini_program: "4", hotline: "5", sms: "6"}  # 评价渠道
//	    zgzt: {open: "1", answered: "2", overdue: "3"}     # 整改状态
//	    cwdm: {validation_failed: "4002", rate_limited: "4290", unavailable: "5030", "*": "9999"}  # abbreviated
//	  case_delivery:
//	    path: /api/tongban/bjjs                             # 办件接收
//	    request:
//	      bbh: "=1.0"                                      # constant: interface version
//	      tsid: delivery_id
//	      wgbjid: case_id
//	      jhid: exchange_id
//	      fsqh: sender_region
//	      fssj: sent_at | time:datetimefrac
//	      bjbt: "{{submission.service_item.name}}（{{submission.applicant.name}}）"  # one-way
//	      bj:                                              # nesting
//	        jhid: submission.exchange_id
//	        sjqh: submission.from_region
//	        blqh: submission.to_region
//	        tjsj: submission.submitted_at | time:datetimefrac
//	        ybjid: submission.resubmits_case_id
//	        sx:
//	          jbbm: submission.service_item.basic_code
//	          ssbm: submission.service_item.implementation_code
//	          sxmc: submission.service_item.name
//	          sszt: submission.service_item.department
//	        sqrzjlx: submission.applicant.holder_type | table:zjlx
//	        sqrzjhm: submission.applicant.id_number
//	        sqrxm: submission.applicant.name
//	        sqrlxdh: submission.applicant.phone
//	        dlr:                                           # written only when there is an agent
//	          zjlx: submission.agent.holder_type | table:zjlx
//	          zjhm: submission.agent.id_number
//	          xm: submission.agent.name
//	          lxdh: submission.agent.phone
//	        ck:
//	          ckbh: submission.window.window_id
//	          gzrybh: submission.window.operator_id
//	          ckqh: submission.window.region
//	          ckmc: submission.window.name
//	        sjsj: submission.received_at | time:datetimefrac
//	        sjbh: submission.local_case_no
//	        sqb: submission.form | json                    # the form as a JSON string
//	        clxx:
//	          $each: submission.materials
//	          $item: {clbm: material_id, clmc: name, wjlx: media_type, wjdx: size | string,
//	                  sm3: sm3, wjnr: content, xzdz: url}
//	        mtjzz: {$each: submission.license_ids, $item: "."}
//	        jgsd:
//	          sdfs: submission.result_delivery.method | table:sdfs
//	          sjr: submission.result_delivery.recipient
//	          sjrdh: submission.result_delivery.phone
//	          yjdz: submission.result_delivery.address
//	          yzbm: submission.result_delivery.postal_code
//	        bz: submission.remark
//	      yjs:                                             # a part of a bundle (一件事) only
//	        yjsid: bundle.bundle_id
//	        yjsmc: bundle.name
//	        bjmc: bundle.part
//	        bjzs: bundle.parts
//	        qzbj: {$each: bundle.after, $item: "."}
//	        qzjg:
//	          $each: bundle.prerequisites
//	          $item: {bjmc: part, wgbjid: case_id, bjjg: outcome | table:bjjg, bjsj: concluded_at | time:datetimefrac,
//	                  jgwj: {$each: documents, $item: {wjmc: name, sm3: sm3, wjnr: content, xzdz: url}}}  # abbreviated
//	    ack:                                               # the envelope's data
//	      jhid: exchange_id
//	      tsid: delivery_id
//	      bjbh: partner_case_no
//	      qssj: acknowledged_at | time:compact
//	      zwzy: body_sm3                                   # optional
//	  status_delivery:
//	    path: /api/tongban/ztfk                             # 状态反馈
//	    request:
//	      tsid: delivery_id
//	      wgbjid: case_id
//	      jhid: exchange_id
//	      sjbh: local_case_no
//	      fssj: sent_at | time:datetimefrac
//	      zt:
//	        jhid: update.exchange_id
//	        wgbjid: update.case_id
//	        bjzt: update.state | table:bjzt
//	        bgsj: update.reported_at | time:datetimefrac
//	        bjbh: update.owner_case_no
//	        bz: update.note
//	        yy: update.reason
//	        bzqd: {$each: update.correction_items, $item: "."}
//	        bjjg: update.outcome | table:bjjg
//	        jgwj:
//	          $each: update.documents
//	          $item: {wjmc: name, wjlx: media_type, wjdx: size | string, sm3: sm3,
//	                  wjnr: content, xzdz: url, dzzzbs: license_id}
//	        jdxx:
//	          jdfs: update.dispatch.method | table:sdfs
//	          kdgs: update.dispatch.carrier
//	          ydh: update.dispatch.tracking_number
//	          xzdz: update.dispatch.url
//	          jdsj: update.dispatch.dispatched_at | time:datetimefrac
//	        sdsj: update.delivered_at | time:datetimefrac
//	    ack: {jhid: exchange_id, tsid: delivery_id, qssj: acknowledged_at | time:compact}
//	  usage_delivery:                                      # abbreviated
//	    path: /api/dzzz/yzjlhc                              # 用证记录回传
//	    request:
//	      jhid: exchange_id
//	      yzjl: {jlbh: record.usage_record_id, yzsy: record.purpose, hyjg: record.outcome | table:hyjg,
//	             sfhc: record.cached | table:sf, hysj: record.checked_at | time:datetimefrac}
//	    ack: {jhid: exchange_id, qssj: acknowledged_at | time:compact}
//	  usage_batch_delivery:                                # abbreviated
//	    path: /api/dzzz/yzjlplhc                            # 用证记录批量回传
//	    request:
//	      pcid: batch_id                                   # 批次号
//	      fssj: sent_at | time:datetimefrac
//	      yzjls:
//	        $each: deliveries
//	        $item: {tsid: delivery_id, jhid: exchange_id,
//	                yzjl: {jlbh: record.usage_record_id, yzsy: record.purpose, hyjg: record.outcome | table:hyjg}}
//	    ack: {pcid: batch_id, tsids: {$each: delivery_ids, $item: "."}, qssj: acknowledged_at | time:compact}
//	  license_lookup:
//	    path: /api/dzzz/zzcx                                # 证照查询
//	    request:
//	      jhid: exchange_id
//	      zzbs: license_id
//	      czr: {zjlx: holder.holder_type | table:zjlx, zjhm: holder.id_number}
//	      zzlxdm: license_type_code
//	      zzbh: license_number
//	      qqqh: requester_region
//	      yzsy: purpose
//	      wgbjid: case_id
//	    answer:
//	      jhid: exchange_id
//	      sfcz: found | table:sf                           # optional
//	      zz:
//	        zzbs: license.license_id
//	        zzlxdm: license.type_code
//	        zzlxmc: license.type_name
//	        zzmc: license.name
//	        zzbh: license.number
//	        czr: {zjlx: license.holder.holder_type | table:zjlx, zjhm: license.holder.id_number,
//	              xm: license.holder.name, lxdh: license.holder.phone}
//	        fzjg: license.issuer_name
//	        fzjgdm: license.issuer_code
//	        fzrq: license.issued_on | date:compact
//	        yxqq: license.valid_from | date:compact
//	        yxqz: license.valid_until | date:compact
//	        zzzt: license.status | table:zzzt
//	        ztsm: license.status_reason
//	        wjsm3: license.file_sm3
//	        gxsj: license.updated_at | time:datetimefrac
//	  notice_delivery:                                   # abbreviated
//	    path: /api/tongban/tzjs                             # 通知接收
//	    request:
//	      tsid: delivery_id
//	      wgbjid: case_id
//	      jhid: exchange_id
//	      fssj: sent_at | time:datetimefrac
//	      tz:
//	        tzlx: notice.type | table:tzlx                 # 通知类型
//	        tzsj: notice.at | time:datetimefrac
//	        sx: {sxts: notice.deadline.limit.days, sxdw: notice.deadline.limit.unit | table:sxdw,
//	             jzsj: notice.deadline.deadline | time:datetimefrac, syts: notice.deadline.days_left}
//	        pj: {pjdj: notice.evaluation.level | table:pjdj, pjnr: notice.evaluation.text,
//	             zjhm: notice.evaluation.applicant_masked}
//	        zg: {zgzt: notice.follow_up.state | table:zgzt, jzsj: notice.follow_up.due | time:datetimefrac,
//	             fk: {zgcs: notice.follow_up.reply.measures, sfhf: notice.follow_up.reply.contacted_applicant | table:sf}}
//	        yy: notice.reason
//	    ack: {jhid: exchange_id, tsid: delivery_id, qssj: acknowledged_at | time:compact}
//	  inbound:
//	    case_submission:
//	      operation: bjtj                                  # POST /v1/inbound/330702/bjtj
//	      request:                                         # abbreviated: as bj above, without "submission."
//	        jhid: exchange_id
//	        sqrxm: applicant.name
//	        sqb: form | json
//	    status_update:
//	      operation: ztbg                                  # POST /v1/inbound/330702/ztbg
//	      request:                                         # as zt above, without "update."
//	        jhid: exchange_id
//	        wgbjid: case_id
//	        bjzt: state | table:bjzt
//	        bgsj: reported_at | time:datetimefrac
//	        bjbh: owner_case_no
//	    evaluation_submission:                             # 好差评, POST /v1/inbound/330702/pjtj
//	      operation: pjtj
//	      request: {jhid: exchange_id, wgbjid: case_id, pjdj: level | table:pjdj, pjnr: text,
//	                pjqd: channel | table:pjqd, pjsj: evaluated_at | time:datetimefrac,
//	                pjr: {zjlx: applicant.holder_type | table:zjlx, zjhm: applicant.id_number}}
//	    evaluation_reply:                                  # 整改反馈, POST /v1/inbound/330702/zgfk
//	      operation: zgfk
//	      request: {jhid: exchange_id, wgbjid: case_id, fksj: replied_at | time:datetimefrac,
//	                zgcs: measures, zgjg: result, sfhf: contacted_applicant | table:sf}
//	    bundle_submission:                                 # 一件事, POST /v1/inbound/330702/yjstj; abbreviated
//	      operation: yjstj
//	      request:
//	        jhid: exchange_id
//	        yjsmc: name
//	        sqrxm: applicant.name                          # the common fields as in case_submission
//	        bjs:
//	          $each: parts
//	          $item: {bjmc: part, blqh: to_region, sx: {ssbm: service_item.implementation_code, sxmc: service_item.name},
//	                  qzbj: {$each: after, $item: "."}, sqb: form | json}
//	    receipt:                                           # the data of the gateway's answer
//	      jhid: exchange_id
//	      wgbjid: case_id
//	      jssj: received_at | time:datetimefrac
//	      zwzy: body_sm3
//	      bjzt: state | table:bjzt
//	      czxh: evidence_seq | string
//	      bjs: {$each: parts, $item: {bjmc: part, wgbjid: case_id, bjzt: state | table:bjzt}}  # a bundle's parts
//
// With it, a case goes to the district as
//
//	{"bbh":"1.0","tsid":"dlv-0001","wgbjid":"case-01959245f1f97a3c","jhid":"01959245-…",
//	 "fsqh":"320404","fssj":"2026-03-14 09:30:01","bjbt":"个体工商户设立登记（王秀英）",
//	 "bj":{"jhid":"01959245-…","sjqh":"320404","blqh":"330702", … ,"sqrzjlx":"10",
//	       "sqrzjhm":"11010519491231002X","sqrxm":"王秀英", … ,"sqb":"{\"business_name\":…}", …}}
//
// and the district acknowledges with
//
//	{"code":"0","msg":"成功","data":{"jhid":"01959245-…","tsid":"dlv-0001",
//	 "bjbh":"WC-2026-000042","qssj":"20260314093000"}}
//
// signed over its exact bytes (Gw-Signature, Gw-Key-Id).
package mappedjson

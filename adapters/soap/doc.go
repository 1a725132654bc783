// Package soap is the adapter style for partners that expose SOAP 1.1 web
// services, as many older provincial government service platforms do. It
// registers itself as "soap" with every capability but pull: case
// delivery, status delivery, inbound calls, license lookup and usage
// records; it also delivers notices (port.NoticeDeliverer).
//
// # Configuration
//
// Operators write the partner's block in YAML; the gateway hands it to the
// factory as JSON, which ParseConfig decodes strictly (unknown fields are
// errors) and validates, naming the offending field:
//
//	partners:
//	  - id: "371523"                  # 茌平区 (Liaocheng, Shandong)
//	    roles: [partner]
//	    regions: ["371523"]
//	    keys: {"371523": keys/371523.pub}
//	    adapter: soap
//	    config:
//	      endpoint: https://zwfw.chiping.example.gov.cn/services/TongbanExchange
//	      namespace: urn:tongban:exchange:v1           # optional, the default
//	      soap_action_prefix: urn:tongban:exchange:v1/ # optional, default namespace + "/"
//	      max_retries: 2                               # optional, 0..10, default 2
//
// The fields:
//
//   - endpoint (required): the service URL, absolute http or https, without
//     query or fragment. Every operation is a POST to it.
//   - namespace: the namespace of the operation elements, their children
//     and the fault detail; an absolute URI of printable ASCII, at most 255
//     bytes, not a SOAP or XML namespace. Default DefaultNamespace.
//   - soap_action_prefix: put before the operation's name to make the
//     SOAPAction; "" sends the bare operation name. Default the namespace
//     followed by "/".
//   - max_retries: quick retries inside one delivery attempt (see
//     Retries). License lookups are never retried.
//
// ExampleConfig returns the block of the demo district 371523.
//
// # Operations
//
// Each operation is one POST of a SOAP 1.1 envelope with Content-Type
// "text/xml; charset=utf-8" and the header SOAPAction: "{prefix}{operation}"
// (quoted, as SOAP 1.1 writes it). The Body holds one element named after
// the operation, in the configured namespace; a successful answer (HTTP
// 200) holds one element named after the operation with "Response"
// appended.
//
//	gateway → partner, POST {endpoint}
//	  DeliverCase     contracts.CaseDelivery         → DeliverCaseResponse:     contracts.Ack
//	  DeliverStatus   contracts.StatusDelivery       → DeliverStatusResponse:   contracts.Ack
//	  DeliverNotice   contracts.NoticeDelivery       → DeliverNoticeResponse:   contracts.Ack
//	  DeliverUsage    contracts.UsageRecordDelivery  → DeliverUsageResponse:    contracts.Ack
//	  DeliverUsageBatch contracts.UsageRecordBatch   → DeliverUsageBatchResponse: contracts.UsageBatchAck
//	  LookupLicense   contracts.LicenseLookupRequest → LookupLicenseResponse:   contracts.LicenseLookupResponse
//	partner → gateway, POST {gateway}/v1/inbound/{partner_id}
//	  SubmitCase      contracts.CaseSubmission       → SubmitCaseResponse:      contracts.Receipt
//	  ReportStatus    contracts.StatusUpdate         → ReportStatusResponse:    contracts.Receipt
//	  SubmitEvaluation  contracts.EvaluationSubmission → SubmitEvaluationResponse:  contracts.Receipt
//	  ReplyToEvaluation contracts.EvaluationReply      → ReplyToEvaluationResponse: contracts.Receipt
//	  SubmitBundle      contracts.BundleSubmission     → SubmitBundleResponse:      contracts.Receipt (with parts)
//
// With the defaults, a status callback reads (line breaks added; the
// style writes no whitespace between elements):
//
//	POST /services/TongbanExchange HTTP/1.1
//	Content-Type: text/xml; charset=utf-8
//	SOAPAction: "urn:tongban:exchange:v1/DeliverStatus"
//	Gw-Signature: MEUCIQ…
//	Gw-Key-Id: gateway
//
//	<?xml version="1.0" encoding="UTF-8"?>
//	<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>
//	<DeliverStatus xmlns="urn:tongban:exchange:v1">
//	  <delivery_id>dlv-0002</delivery_id><case_id>case-01959245f1f97a3c</case_id>
//	  <exchange_id>01959246-0000-7000-8000-000000000001</exchange_id>
//	  <local_case_no>ZL-KSTB-20260314-0017</local_case_no><sent_at>2026-03-16T15:04:06Z</sent_at>
//	  <update>
//	    <exchange_id>01959246-0000-7000-8000-000000000001</exchange_id><case_id>case-01959245f1f97a3c</case_id>
//	    <state>correction_required</state><reported_at>2026-03-16T15:04:05+08:00</reported_at>
//	    <reason>请补正以下材料</reason>
//	    <correction_items>经营场所使用证明（原件）</correction_items>
//	    <correction_items>身份证复印件 &lt;正反面&gt;</correction_items>
//	  </update>
//	</DeliverStatus>
//	</soap:Body></soap:Envelope>
//
// and the partner acknowledges it with HTTP 200, signed:
//
//	<?xml version="1.0" encoding="UTF-8"?>
//	<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>
//	<DeliverStatusResponse xmlns="urn:tongban:exchange:v1">
//	  <exchange_id>01959246-0000-7000-8000-000000000001</exchange_id><delivery_id>dlv-0002</delivery_id>
//	  <acknowledged_at>2026-03-16T15:04:07+08:00</acknowledged_at>
//	  <body_sm3>…SM3 of the exact request envelope…</body_sm3><key_id>371523</key_id>
//	</DeliverStatusResponse>
//	</soap:Body></soap:Envelope>
//
// testdata/*.golden.xml holds the exact envelopes of every operation.
//
// DeliverUsageBatch carries several usage records in one call, for a
// partner whose license_library.usage_batch is above 1 (the default for
// this style; usage_batch 1 sends each as DeliverUsage): one <deliveries>
// element per record, each the DeliverUsage body's fields, signed once
// over the exact envelope. The partner answers with one
// DeliverUsageBatchResponse naming, in repeated <delivery_ids> elements,
// the records it stored (now or before: it recognises a repeat by
// delivery_id); those it leaves out are retried by the gateway, possibly
// in a later batch.
//
// DeliverNotice carries one notice about a case (a deadline warning or
// overdue notice, an evaluation, a follow-up reply or overdue follow-up, a
// cancelled part of a bundle): the NoticeDelivery's fields, the notice in
// <notice> with exactly the elements its type sets (<deadline>,
// <evaluation>, <follow_up>, <reason>). It is acknowledged, signed and
// checked exactly as DeliverStatus is. A case that is a part of a 一件事
// bundle carries a <bundle> element in DeliverCase (the BundleRef: the
// bundle's id and name, the part, how many parts, the parts it waited for
// in repeated <after> and their results in repeated <prerequisites>, each
// with its result <documents>); a bundle's receipt names each part's case
// in repeated <parts>. testdata/deliver_notice.golden.xml and
// testdata/deliver_case_bundle.golden.xml show them.
//
// # Message encoding
//
// One reflection-driven codec maps every contract type, so every field the
// contracts gain is carried without change here:
//
//   - a field is an element named after its json name, unprefixed, in the
//     operation element's default namespace, in declaration order;
//   - strings (and named string types such as states and codes) are text;
//     int and int64 are canonical decimal, bool is true or false, time.Time
//     is RFC 3339 with nanoseconds (2026-03-14T09:30:12.345+08:00; a zone
//     whose offset is not whole minutes under 24 hours is refused), []byte
//     is standard base64, json.RawMessage (the case's form) is its JSON
//     text, exactly as given;
//   - a slice is one sibling element per item, repeated (maxOccurs
//     unbounded); an empty slice is no element and decodes as nil;
//   - a pointer to a struct is an optional element, absent when nil;
//   - omitempty and omitzero fields are left out when empty or zero; all
//     other fields are always written and must be present.
//
// Text is escaped as XML requires (&amp; &lt; &gt;, and CR as &#xD; so it
// survives line-end normalisation); a string holding a character XML 1.0
// cannot carry (most control characters) is refused rather than altered.
//
// Decoding is strict. Refused, with a *contracts.FieldError naming the
// element path (for example "submission.materials[1].content"): unknown
// elements, a non-list element given twice, text where elements belong
// and elements where text belongs, attributes on message elements,
// elements of another namespace (children may be qualified with the
// configured namespace or unqualified), text that is not of the field's
// type (a bool other than true, false, 1 or 0; a non-canonical integer; a
// time without zone; bad base64; JSON that does not parse), and a missing
// required element. The document must be UTF-8 XML 1.0 without DOCTYPE or
// any other declaration, processing instructions other than the XML
// declaration, or undefined entities, at most MaxDepth elements deep, at
// most MaxElements elements in all, and at most MaxAttributes attributes
// (namespace declarations included) on one element. Tolerated: any namespace prefix, an
// XML declaration, a byte order mark, comments, CDATA sections, whitespace
// between elements, and a SOAP Header (whose entries are ignored, unless
// one is marked mustUnderstand, which is refused). The envelope must be in
// the SOAP 1.1 namespace, http://schemas.xmlsoap.org/soap/envelope/; SOAP
// 1.2 is not spoken. Decoded values equal the encoded ones exactly (times
// as instants with the same offset).
//
// # Signatures
//
// Every envelope is signed over its exact bytes, both ways: Gw-Signature
// (standard base64 of the DER SM2 signature, SM3 with the default id) and
// Gw-Key-Id. The gateway signs its calls and its receipts; the partner
// signs its answers and its calls. The adapter sends requests through
// adapters.Caller, which also adds traceparent and, when the gateway's
// Crypto issues tokens, Authorization: Bearer.
//
// # Acknowledgements and lookup answers
//
// A delivery succeeds only with an HTTP 200 answer signed by a key
// registered for the partner, holding the operation's response element,
// whose Ack (decoded strictly) passes adapters.CheckAck: the same
// exchange_id (and delivery_id, when it names one), body_sm3 the SM3 of the
// exact envelope sent, key_id the answer's Gw-Key-Id, and for a case a
// partner_case_no. A lookup answer must hold found and pass
// adapters.CheckLookupAnswer. The raw bytes and signature the adapter
// returns are the partner's exact answer envelope and its signature.
//
// # Repeats
//
// Delivery is at least once: an attempt whose answer was lost is made
// again, and an operator may redeliver a dead letter. Partners recognise
// a repeat by the <delivery_id> element alone: the gateway makes it unique across all
// senders and keeps it through every attempt and redelivery of the
// delivery. exchange_id is unique per sender only (two districts may send
// the same one), so a partner that dedups on it takes one district's case
// for another's. case_id names the case (a resubmission after correction
// is a new delivery of the same case). An acknowledgement that gives, as
// partner_case_no, the number of another case of the same partner is
// refused by the gateway: the delivery counts as not delivered.
//
// # Faults
//
// SOAP 1.1 sends faults with HTTP 500. The style's faults read:
//
//	<soap:Fault>
//	  <faultcode>soap:Client</faultcode>
//	  <faultstring>case … cannot go from accepted to delivered</faultstring>
//	  <detail><ExchangeFault xmlns="urn:tongban:exchange:v1">
//	    <code>invalid_transition</code><status>409</status>
//	    <request_id>req-7f3a</request_id><retryable>false</retryable>
//	  </ExchangeFault></detail>
//	</soap:Fault>
//
// code is a contracts.Code, status what the refusal means in HTTP terms in
// the standard contract, request_id optional. The gateway
// (Adapter.EncodeError) and the partner (PartnerSide.WriteError) write
// faultcode soap:Server for 5xx, 408 and 429 (retryable true) and
// soap:Client for every other status (retryable false), and always answer
// with HTTP 500, whatever the status: the fault, not the HTTP status,
// carries the meaning.
//
// The adapter classifies a partner's fault, in a 4xx or 5xx answer or in a
// signed 200 answer, as follows:
//
//   - faultcode Client, with any prefix and any subcode (SOAP-ENV:Client,
//     soap:Client.Authentication), VersionMismatch and MustUnderstand:
//     permanent, the delivery goes to dead letter;
//   - faultcode Server (any prefix, any subcode): retryable, and Retry-After
//     (seconds or HTTP-date) is honoured;
//   - another faultcode: retryable for 5xx, 408 and 429, else permanent;
//   - an ExchangeFault detail overrides the faultcode: its retryable, when
//     present, decides; else its code, when it is a published
//     contracts.Code, decides by the code's HTTP status (5xx, 408 and 429
//     retryable); the code becomes the error's *contracts.Error cause;
//   - the faultstring, clipped to 200 bytes and with runs of 15 or more
//     letters and digits (possible id numbers) redacted, goes into the
//     reason recorded as the delivery's last error.
//
// A non-2xx answer that holds no fault falls back to the shared rules of
// adapters.Classify (5xx, 408 and 429 retryable; other statuses
// permanent). A 200 answer that is not the operation's response element,
// or not well-formed, is a permanent adapters.ErrMalformedAck; unsigned or
// badly signed answers are a permanent adapters.ErrBadSignature; an Ack for
// something else is a permanent adapters.ErrAckMismatch.
//
// # Retries
//
// Within one delivery attempt, connection errors, 408, 5xx without a fault
// and retryable faults without Retry-After are retried max_retries times
// (50–500 ms apart, each try bounded by the partner's timeout). Answers with
// Retry-After and 429 end the attempt at once so the gateway can honour
// the pause. A license lookup is tried exactly once.
//
// # Inbound calls
//
// The partner POSTs SubmitCase, ReportStatus, SubmitEvaluation,
// ReplyToEvaluation and SubmitBundle envelopes, signed, with its bearer
// token, to /v1/inbound/{partner_id}. The operation is the Body's
// element; a SOAPAction, when sent, must name the same operation (the
// configured prefix and the operation, the bare operation, or any value
// ending in "/", "#" or ":" and the operation). Adapter.DecodeCall returns
// *contracts.FieldError values: unsupported_media_type for anything but
// text/xml (the gateway passes the media type without its charset, so a
// body that is not UTF-8 fails as invalid_json), bad_request for an
// unknown operation, a disagreeing SOAPAction or a mustUnderstand header,
// invalid_json for XML that is not the message it should be,
// validation_failed for a missing required element. No error message quotes a value from the body. The
// gateway answers with the operation's response envelope holding the
// Receipt, signed, with HTTP 200 as SOAP clients expect (a repeated call
// gets the byte-identical stored receipt), or with a fault (HTTP 500).
//
// # Partner side
//
// PartnerSide is the district's end of the same protocol, used by the
// partner simulator and the shared contract tests, and the reference for a
// district implementing the style: ReadRequest decodes the gateway's
// calls, WriteAck, WriteBatchAck and WriteLookupAnswer render the answers,
// WriteError a fault, Call the partner's SubmitCase, ReportStatus,
// SubmitEvaluation, ReplyToEvaluation and SubmitBundle, and ReadReceipt
// the gateway's answer.
package soap

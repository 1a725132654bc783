package mappedjson

import (
	"encoding/json"
	"strings"
)

// ExampleConfig returns a complete mapped-json config for the demo district
// 330702 婺城区 (Jinhua) whose system listens at endpoint: pinyin field
// names, code tables for id types, case states, outcomes, delivery
// methods, license statuses, verification outcomes, yes/no flags, error
// codes, notice types, time-limit units, evaluation levels and channels
// and follow-up states, times as "2006-01-02 15:04:05" in China Standard Time (with a
// fraction of a second only when the time has one, so that no time loses
// precision), the district's own acknowledgement times as "20060102150405",
// dates as "20060102", nesting, arrays, a one-way template and the result
// envelope {"code": "0", "msg": "成功", "data": {...}}. It configures every
// operation and maps every field of every contract message, so every field
// survives a round trip through the district's JSON (acknowledgement times
// to the second).
func ExampleConfig(endpoint string) json.RawMessage {
	ep, _ := json.Marshal(endpoint)
	return json.RawMessage(strings.Replace(exampleConfig, `"ENDPOINT"`, string(ep), 1))
}

const exampleConfig = `{
  "endpoint": "ENDPOINT",
  "max_retries": 2,
  "timezone": "+08:00",
  "envelope": {
    "code": "code",
    "message": "msg",
    "data": "data",
    "request_id": "lsh",
    "success": ["0"],
    "success_message": "成功",
    "retryable": ["4290", "5000", "5020", "5030"],
    "error_codes": "cwdm"
  },
  "tables": {
    "zjlx": {"111": "10", "001": "49"},
    "bjzt": {
      "received": "00", "forwarded": "01", "accepted": "02", "rejected": "03",
      "correction_required": "04", "in_progress": "05", "concluded": "06",
      "dispatched": "07", "delivered": "08", "waiting": "09", "cancelled": "10"
    },
    "bjjg": {"approved": "1", "denied": "2"},
    "sdfs": {"window_pickup": "1", "post": "2", "electronic": "3"},
    "zzzt": {"valid": "10", "suspended": "20", "revoked": "30", "cancelled": "40", "expired": "50"},
    "hyjg": {
      "valid": "1", "mismatch": "2", "suspended": "3", "revoked": "4", "cancelled": "5",
      "expired": "6", "not_found": "7", "source_unavailable": "8"
    },
    "sf": {"true": "1", "false": "0"},
    "tzlx": {
      "deadline_warning": "01", "deadline_overdue": "02", "evaluation": "03",
      "follow_up_reply": "04", "follow_up_overdue": "05", "part_cancelled": "06"
    },
    "sxdw": {"working_days": "1", "calendar_days": "2"},
    "pjdj": {
      "very_satisfied": "5", "satisfied": "4", "basically_satisfied": "3",
      "dissatisfied": "2", "very_dissatisfied": "1"
    },
    "pjqd": {"window": "1", "pc": "2", "app": "3", "mini_program": "4", "hotline": "5", "sms": "6"},
    "zgzt": {"open": "1", "answered": "2", "overdue": "3"},
    "cwdm": {
      "bad_request": "4000", "invalid_json": "4001", "validation_failed": "4002",
      "invalid_region": "4003", "invalid_citizen_id": "4004", "invalid_credit_code": "4005",
      "invalid_license_id": "4006", "invalid_holder_type": "4007", "invalid_exchange_id": "4008",
      "unauthenticated": "4010", "token_expired": "4011", "bad_signature": "4012",
      "body_too_large": "4013", "unknown_key": "4014", "unsupported_media_type": "4015",
      "forbidden": "4030", "not_found": "4040", "exchange_conflict": "4090",
      "invalid_transition": "4091", "no_route": "4220", "rate_limited": "4290",
      "internal": "5000", "source_unavailable": "5020", "unavailable": "5030",
      "*": "9999"
    }
  },
  "case_delivery": {
    "path": "/api/tongban/bjjs",
    "request": {
      "bbh": "=1.0",
      "tsid": "delivery_id",
      "wgbjid": "case_id",
      "jhid": "exchange_id",
      "fsqh": "sender_region",
      "fssj": "sent_at | time:datetimefrac",
      "bjbt": "{{submission.service_item.name}}（{{submission.applicant.name}}）",
      "bj": {
        "jhid": "submission.exchange_id",
        "sjqh": "submission.from_region",
        "blqh": "submission.to_region",
        "tjsj": "submission.submitted_at | time:datetimefrac",
        "ybjid": "submission.resubmits_case_id",
        "sx": {
          "jbbm": "submission.service_item.basic_code",
          "ssbm": "submission.service_item.implementation_code",
          "sxmc": "submission.service_item.name",
          "sszt": "submission.service_item.department"
        },
        "sqrzjlx": "submission.applicant.holder_type | table:zjlx",
        "sqrzjhm": "submission.applicant.id_number",
        "sqrxm": "submission.applicant.name",
        "sqrlxdh": "submission.applicant.phone",
        "dlr": {
          "zjlx": "submission.agent.holder_type | table:zjlx",
          "zjhm": "submission.agent.id_number",
          "xm": "submission.agent.name",
          "lxdh": "submission.agent.phone"
        },
        "ck": {
          "ckbh": "submission.window.window_id",
          "gzrybh": "submission.window.operator_id",
          "ckqh": "submission.window.region",
          "ckmc": "submission.window.name"
        },
        "sjsj": "submission.received_at | time:datetimefrac",
        "sjbh": "submission.local_case_no",
        "sqb": "submission.form | json",
        "clxx": {
          "$each": "submission.materials",
          "$item": {
            "clbm": "material_id",
            "clmc": "name",
            "wjlx": "media_type",
            "wjdx": "size | string",
            "sm3": "sm3",
            "wjnr": "content",
            "xzdz": "url"
          }
        },
        "mtjzz": {"$each": "submission.license_ids", "$item": "."},
        "jgsd": {
          "sdfs": "submission.result_delivery.method | table:sdfs",
          "sjr": "submission.result_delivery.recipient",
          "sjrdh": "submission.result_delivery.phone",
          "yjdz": "submission.result_delivery.address",
          "yzbm": "submission.result_delivery.postal_code"
        },
        "bz": "submission.remark"
      },
      "yjs": {
        "yjsid": "bundle.bundle_id",
        "yjsmc": "bundle.name",
        "bjmc": "bundle.part",
        "bjzs": "bundle.parts",
        "qzbj": {"$each": "bundle.after", "$item": "."},
        "qzjg": {
          "$each": "bundle.prerequisites",
          "$item": {
            "bjmc": "part",
            "wgbjid": "case_id",
            "bjjg": "outcome | table:bjjg",
            "bjsj": "concluded_at | time:datetimefrac",
            "jgwj": {
              "$each": "documents",
              "$item": {
                "wjmc": "name",
                "wjlx": "media_type",
                "wjdx": "size | string",
                "sm3": "sm3",
                "wjnr": "content",
                "xzdz": "url",
                "dzzzbs": "license_id"
              }
            }
          }
        }
      }
    },
    "ack": {
      "jhid": "exchange_id",
      "tsid": "delivery_id",
      "bjbh": "partner_case_no",
      "qssj": "acknowledged_at | time:compact",
      "zwzy": "body_sm3"
    }
  },
  "status_delivery": {
    "path": "/api/tongban/ztfk",
    "request": {
      "bbh": "=1.0",
      "tsid": "delivery_id",
      "wgbjid": "case_id",
      "jhid": "exchange_id",
      "sjbh": "local_case_no",
      "fssj": "sent_at | time:datetimefrac",
      "zt": {
        "jhid": "update.exchange_id",
        "wgbjid": "update.case_id",
        "bjzt": "update.state | table:bjzt",
        "bgsj": "update.reported_at | time:datetimefrac",
        "bjbh": "update.owner_case_no",
        "bz": "update.note",
        "yy": "update.reason",
        "bzqd": {"$each": "update.correction_items", "$item": "."},
        "bjjg": "update.outcome | table:bjjg",
        "jgwj": {
          "$each": "update.documents",
          "$item": {
            "wjmc": "name",
            "wjlx": "media_type",
            "wjdx": "size | string",
            "sm3": "sm3",
            "wjnr": "content",
            "xzdz": "url",
            "dzzzbs": "license_id"
          }
        },
        "jdxx": {
          "jdfs": "update.dispatch.method | table:sdfs",
          "kdgs": "update.dispatch.carrier",
          "ydh": "update.dispatch.tracking_number",
          "xzdz": "update.dispatch.url",
          "jdsj": "update.dispatch.dispatched_at | time:datetimefrac"
        },
        "sdsj": "update.delivered_at | time:datetimefrac"
      }
    },
    "ack": {
      "jhid": "exchange_id",
      "tsid": "delivery_id",
      "qssj": "acknowledged_at | time:compact",
      "zwzy": "body_sm3"
    }
  },
  "notice_delivery": {
    "path": "/api/tongban/tzjs",
    "request": {
      "bbh": "=1.0",
      "tsid": "delivery_id",
      "wgbjid": "case_id",
      "jhid": "exchange_id",
      "fssj": "sent_at | time:datetimefrac",
      "tz": {
        "tzlx": "notice.type | table:tzlx",
        "wgbjid": "notice.case_id",
        "yjsid": "notice.bundle_id",
        "bjbh": "notice.owner_case_no",
        "sjbh": "notice.local_case_no",
        "ssbm": "notice.implementation_code",
        "tzsj": "notice.at | time:datetimefrac",
        "sx": {
          "sxts": "notice.deadline.limit.days",
          "sxdw": "notice.deadline.limit.unit | table:sxdw",
          "jsz": "notice.deadline.running | table:sf",
          "kssj": "notice.deadline.started_at | time:datetimefrac",
          "jzsj": "notice.deadline.deadline | time:datetimefrac",
          "yyts": "notice.deadline.days_used",
          "syts": "notice.deadline.days_left",
          "sfcq": "notice.deadline.overdue | table:sf",
          "yjsj": "notice.deadline.warned_at | time:datetimefrac",
          "cqsj": "notice.deadline.overdue_at | time:datetimefrac",
          "tzsj": "notice.deadline.stopped_at | time:datetimefrac"
        },
        "pj": {
          "pjid": "notice.evaluation.evaluation_id",
          "wgbjid": "notice.evaluation.case_id",
          "jhid": "notice.evaluation.exchange_id",
          "ssbm": "notice.evaluation.implementation_code",
          "sjqh": "notice.evaluation.sender",
          "blqh": "notice.evaluation.owner",
          "pjdj": "notice.evaluation.level | table:pjdj",
          "pjfs": "notice.evaluation.score",
          "pjnr": "notice.evaluation.text",
          "pjqd": "notice.evaluation.channel | table:pjqd",
          "pjsj": "notice.evaluation.evaluated_at | time:datetimefrac",
          "zjlx": "notice.evaluation.holder_type | table:zjlx",
          "zjhm": "notice.evaluation.applicant_masked",
          "jssj": "notice.evaluation.received_at | time:datetimefrac"
        },
        "zg": {
          "zgzt": "notice.follow_up.state | table:zgzt",
          "sxts": "notice.follow_up.limit.days",
          "sxdw": "notice.follow_up.limit.unit | table:sxdw",
          "jzsj": "notice.follow_up.due | time:datetimefrac",
          "cqsj": "notice.follow_up.overdue_at | time:datetimefrac",
          "fk": {
            "jhid": "notice.follow_up.reply.exchange_id",
            "wgbjid": "notice.follow_up.reply.case_id",
            "fksj": "notice.follow_up.reply.replied_at | time:datetimefrac",
            "zgcs": "notice.follow_up.reply.measures",
            "zgjg": "notice.follow_up.reply.result",
            "sfhf": "notice.follow_up.reply.contacted_applicant | table:sf"
          },
          "sfyq": "notice.follow_up.late | table:sf"
        },
        "yy": "notice.reason"
      }
    },
    "ack": {
      "jhid": "exchange_id",
      "tsid": "delivery_id",
      "qssj": "acknowledged_at | time:compact",
      "zwzy": "body_sm3"
    }
  },
  "usage_delivery": {
    "path": "/api/dzzz/yzjlhc",
    "request": {
      "tsid": "delivery_id",
      "jhid": "exchange_id",
      "fssj": "sent_at | time:datetimefrac",
      "yzjl": {
        "jlbh": "record.usage_record_id",
        "dyf": "record.caller",
        "ckbh": "record.window_id",
        "gzrybh": "record.operator_id",
        "yzsy": "record.purpose",
        "wgbjid": "record.case_id",
        "zzbs": "record.license_id",
        "zzlxdm": "record.license_type_code",
        "czrzjhm": "record.holder_id_masked",
        "hyjg": "record.outcome | table:hyjg",
        "cwdm": "record.error_code | table:cwdm",
        "lyqh": "record.source_region",
        "hysj": "record.checked_at | time:datetimefrac",
        "sfhc": "record.cached | table:sf"
      }
    },
    "ack": {
      "jhid": "exchange_id",
      "tsid": "delivery_id",
      "qssj": "acknowledged_at | time:compact",
      "zwzy": "body_sm3"
    }
  },
  "usage_batch_delivery": {
    "path": "/api/dzzz/yzjlplhc",
    "request": {
      "pcid": "batch_id",
      "fssj": "sent_at | time:datetimefrac",
      "yzjls": {
        "$each": "deliveries",
        "$item": {
          "tsid": "delivery_id",
          "jhid": "exchange_id",
          "fssj": "sent_at | time:datetimefrac",
          "yzjl": {
            "jlbh": "record.usage_record_id",
            "dyf": "record.caller",
            "ckbh": "record.window_id",
            "gzrybh": "record.operator_id",
            "yzsy": "record.purpose",
            "wgbjid": "record.case_id",
            "zzbs": "record.license_id",
            "zzlxdm": "record.license_type_code",
            "czrzjhm": "record.holder_id_masked",
            "hyjg": "record.outcome | table:hyjg",
            "cwdm": "record.error_code | table:cwdm",
            "lyqh": "record.source_region",
            "hysj": "record.checked_at | time:datetimefrac",
            "sfhc": "record.cached | table:sf"
          }
        }
      }
    },
    "ack": {
      "pcid": "batch_id",
      "tsids": {"$each": "delivery_ids", "$item": "."},
      "qssj": "acknowledged_at | time:compact",
      "zwzy": "body_sm3"
    }
  },
  "license_lookup": {
    "path": "/api/dzzz/zzcx",
    "request": {
      "jhid": "exchange_id",
      "zzbs": "license_id",
      "czr": {
        "zjlx": "holder.holder_type | table:zjlx",
        "zjhm": "holder.id_number"
      },
      "zzlxdm": "license_type_code",
      "zzbh": "license_number",
      "qqqh": "requester_region",
      "yzsy": "purpose",
      "wgbjid": "case_id"
    },
    "answer": {
      "jhid": "exchange_id",
      "sfcz": "found | table:sf",
      "zz": {
        "zzbs": "license.license_id",
        "zzlxdm": "license.type_code",
        "zzlxmc": "license.type_name",
        "zzmc": "license.name",
        "zzbh": "license.number",
        "czr": {
          "zjlx": "license.holder.holder_type | table:zjlx",
          "zjhm": "license.holder.id_number",
          "xm": "license.holder.name",
          "lxdh": "license.holder.phone"
        },
        "fzjg": "license.issuer_name",
        "fzjgdm": "license.issuer_code",
        "fzrq": "license.issued_on | date:compact",
        "yxqq": "license.valid_from | date:compact",
        "yxqz": "license.valid_until | date:compact",
        "zzzt": "license.status | table:zzzt",
        "ztsm": "license.status_reason",
        "wjsm3": "license.file_sm3",
        "gxsj": "license.updated_at | time:datetimefrac"
      }
    }
  },
  "inbound": {
    "case_submission": {
      "operation": "bjtj",
      "request": {
        "bbh": "=1.0",
        "jhid": "exchange_id",
        "sjqh": "from_region",
        "blqh": "to_region",
        "tjsj": "submitted_at | time:datetimefrac",
        "ybjid": "resubmits_case_id",
        "sx": {
          "jbbm": "service_item.basic_code",
          "ssbm": "service_item.implementation_code",
          "sxmc": "service_item.name",
          "sszt": "service_item.department"
        },
        "sqrzjlx": "applicant.holder_type | table:zjlx",
        "sqrzjhm": "applicant.id_number",
        "sqrxm": "applicant.name",
        "sqrlxdh": "applicant.phone",
        "dlr": {
          "zjlx": "agent.holder_type | table:zjlx",
          "zjhm": "agent.id_number",
          "xm": "agent.name",
          "lxdh": "agent.phone"
        },
        "ck": {
          "ckbh": "window.window_id",
          "gzrybh": "window.operator_id",
          "ckqh": "window.region",
          "ckmc": "window.name"
        },
        "sjsj": "received_at | time:datetimefrac",
        "sjbh": "local_case_no",
        "sqb": "form | json",
        "clxx": {
          "$each": "materials",
          "$item": {
            "clbm": "material_id",
            "clmc": "name",
            "wjlx": "media_type",
            "wjdx": "size | string",
            "sm3": "sm3",
            "wjnr": "content",
            "xzdz": "url"
          }
        },
        "mtjzz": {"$each": "license_ids", "$item": "."},
        "jgsd": {
          "sdfs": "result_delivery.method | table:sdfs",
          "sjr": "result_delivery.recipient",
          "sjrdh": "result_delivery.phone",
          "yjdz": "result_delivery.address",
          "yzbm": "result_delivery.postal_code"
        },
        "bz": "remark"
      }
    },
    "status_update": {
      "operation": "ztbg",
      "request": {
        "bbh": "=1.0",
        "jhid": "exchange_id",
        "wgbjid": "case_id",
        "bjzt": "state | table:bjzt",
        "bgsj": "reported_at | time:datetimefrac",
        "bjbh": "owner_case_no",
        "bz": "note",
        "yy": "reason",
        "bzqd": {"$each": "correction_items", "$item": "."},
        "bjjg": "outcome | table:bjjg",
        "jgwj": {
          "$each": "documents",
          "$item": {
            "wjmc": "name",
            "wjlx": "media_type",
            "wjdx": "size | string",
            "sm3": "sm3",
            "wjnr": "content",
            "xzdz": "url",
            "dzzzbs": "license_id"
          }
        },
        "jdxx": {
          "jdfs": "dispatch.method | table:sdfs",
          "kdgs": "dispatch.carrier",
          "ydh": "dispatch.tracking_number",
          "xzdz": "dispatch.url",
          "jdsj": "dispatch.dispatched_at | time:datetimefrac"
        },
        "sdsj": "delivered_at | time:datetimefrac"
      }
    },
    "evaluation_submission": {
      "operation": "pjtj",
      "request": {
        "bbh": "=1.0",
        "jhid": "exchange_id",
        "wgbjid": "case_id",
        "pjdj": "level | table:pjdj",
        "pjnr": "text",
        "pjqd": "channel | table:pjqd",
        "pjsj": "evaluated_at | time:datetimefrac",
        "pjr": {
          "zjlx": "applicant.holder_type | table:zjlx",
          "zjhm": "applicant.id_number"
        }
      }
    },
    "evaluation_reply": {
      "operation": "zgfk",
      "request": {
        "bbh": "=1.0",
        "jhid": "exchange_id",
        "wgbjid": "case_id",
        "fksj": "replied_at | time:datetimefrac",
        "zgcs": "measures",
        "zgjg": "result",
        "sfhf": "contacted_applicant | table:sf"
      }
    },
    "bundle_submission": {
      "operation": "yjstj",
      "request": {
        "bbh": "=1.0",
        "jhid": "exchange_id",
        "sjqh": "from_region",
        "tjsj": "submitted_at | time:datetimefrac",
        "yjsmc": "name",
        "sqrzjlx": "applicant.holder_type | table:zjlx",
        "sqrzjhm": "applicant.id_number",
        "sqrxm": "applicant.name",
        "sqrlxdh": "applicant.phone",
        "dlr": {
          "zjlx": "agent.holder_type | table:zjlx",
          "zjhm": "agent.id_number",
          "xm": "agent.name",
          "lxdh": "agent.phone"
        },
        "ck": {
          "ckbh": "window.window_id",
          "gzrybh": "window.operator_id",
          "ckqh": "window.region",
          "ckmc": "window.name"
        },
        "sjsj": "received_at | time:datetimefrac",
        "sjbh": "local_case_no",
        "jgsd": {
          "sdfs": "result_delivery.method | table:sdfs",
          "sjr": "result_delivery.recipient",
          "sjrdh": "result_delivery.phone",
          "yjdz": "result_delivery.address",
          "yzbm": "result_delivery.postal_code"
        },
        "bz": "remark",
        "bjs": {
          "$each": "parts",
          "$item": {
            "bjmc": "part",
            "blqh": "to_region",
            "sx": {
              "jbbm": "service_item.basic_code",
              "ssbm": "service_item.implementation_code",
              "sxmc": "service_item.name",
              "sszt": "service_item.department"
            },
            "qzbj": {"$each": "after", "$item": "."},
            "sqb": "form | json",
            "clxx": {
              "$each": "materials",
              "$item": {
                "clbm": "material_id",
                "clmc": "name",
                "wjlx": "media_type",
                "wjdx": "size | string",
                "sm3": "sm3",
                "wjnr": "content",
                "xzdz": "url"
              }
            },
            "mtjzz": {"$each": "license_ids", "$item": "."}
          }
        }
      }
    },
    "receipt": {
      "jhid": "exchange_id",
      "wgbjid": "case_id",
      "jssj": "received_at | time:datetimefrac",
      "zwzy": "body_sm3",
      "bjzt": "state | table:bjzt",
      "czxh": "evidence_seq | string",
      "bjs": {
        "$each": "parts",
        "$item": {
          "bjmc": "part",
          "wgbjid": "case_id",
          "bjzt": "state | table:bjzt"
        }
      }
    }
  }
}
`

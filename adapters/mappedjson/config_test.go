package mappedjson_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/adapters/mappedjson"
)

func TestExampleConfigParses(t *testing.T) {
	cfg, err := mappedjson.ParseConfig(mappedjson.ExampleConfig("https://zwfw.wucheng.example.gov.cn/tongban/"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Endpoint != "https://zwfw.wucheng.example.gov.cn/tongban/" {
		t.Errorf("endpoint %q", cfg.Endpoint)
	}
	if !json.Valid(mappedjson.ExampleConfig(`https://x.example/"quoted"`)) {
		t.Error("ExampleConfig does not escape the endpoint")
	}
}

// TestConfigMistakes: each mistake fails at start-up with an error that
// names the offending config field.
func TestConfigMistakes(t *testing.T) {
	const ep = "https://jh.example/tongban"
	set := func(v any, keys ...string) func(map[string]any) {
		return func(c map[string]any) { at(c, keys[:len(keys)-1]...)[keys[len(keys)-1]] = v }
	}
	del := func(keys ...string) func(map[string]any) {
		return func(c map[string]any) { delete(at(c, keys[:len(keys)-1]...), keys[len(keys)-1]) }
	}
	for _, tc := range []struct {
		name   string
		change func(map[string]any)
		raw    string // used instead of change when set
		want   string
	}{
		{name: "empty block", raw: " ", want: "empty"},
		{name: "unknown key", change: set(1, "endpiont"), want: `"endpiont"`},
		{name: "unknown operation key", change: set("x", "case_delivery", "paht"), want: `"paht"`},
		{name: "no endpoint", change: del("endpoint"), want: "endpoint"},
		{name: "endpoint scheme", change: set("ftp://jh.example", "endpoint"), want: "endpoint"},
		{name: "endpoint query", change: set(ep+"?a=1", "endpoint"), want: "endpoint"},
		{name: "max_retries", change: set(99, "max_retries"), want: "max_retries"},
		{name: "timezone name", change: set("Asia/Shanghai", "timezone"), want: "timezone"},
		{name: "timezone range", change: set("+15:00", "timezone"), want: "timezone"},
		{name: "no envelope", change: del("envelope"), want: "envelope is required"},
		{name: "envelope without code", change: del("envelope", "code"), want: "envelope.code"},
		{name: "envelope without success", change: set([]any{}, "envelope", "success"), want: "envelope.success"},
		{name: "retryable success code", change: set([]any{"0"}, "envelope", "retryable"), want: "envelope.retryable"},
		{name: "overlapping envelope paths", change: set("code.x", "envelope", "data"), want: "envelope.data"},
		{name: "unknown error table", change: set("nope", "envelope", "error_codes"), want: "envelope.error_codes"},
		{name: "error table with a success code", change: set("0", "tables", "cwdm", "internal"), want: "envelope.error_codes"},
		{name: "error table with an unknown contract code", change: set("1", "tables", "cwdm", "no_such_code"), want: "envelope.error_codes"},
		{name: "numeric codes", change: func(c map[string]any) {
			at(c, "envelope")["numeric_code"] = true
			at(c, "envelope")["success"] = []any{"ok"}
		}, want: "envelope.success"},
		{name: "numeric error codes", change: func(c map[string]any) {
			at(c, "envelope")["numeric_code"] = true
			at(c, "tables", "cwdm")["internal"] = "E500"
		}, want: "envelope.error_codes"},
		{name: "table name", change: set(map[string]any{"a": "1"}, "tables", "9x"), want: "tables.9x"},
		{name: "empty table", change: set(map[string]any{}, "tables", "x"), want: "tables.x has no entries"},
		{name: "table value", change: set(map[string]any{"a": []any{}}, "tables", "x"), want: "tables.x.a must be"},
		{name: "table maps two values to one", change: set("10", "tables", "zjlx", "001"),
			want: "holder_type: table zjlx maps two contract values to \"10\", so it cannot be read back"},
		// A "*" default equal to a listed value read every unlisted value
		// back as that one: denied came back approved.
		{name: "table default shared by a listed value", change: func(c map[string]any) {
			at(c, "tables")["bjjg"] = map[string]any{"approved": "1", "*": "1"}
		}, want: `case_delivery.request.yjs.qzjg.$item.bjjg: outcome: table bjjg's "*" default "1" is also the value of "approved"`},
		// A boolean table without false failed at the first uncached usage record.
		{name: "boolean table with one key", change: del("tables", "sf", "false"),
			want: "table sf serves a boolean field, it must map both true and false"},
		// A 12-hour clock without PM read 21:30 back as 09:30.
		{name: "12-hour layout without PM", change: set("sent_at | time:2006-01-02 03:04:05", "case_delivery", "request", "fssj"),
			want: "case_delivery.request.fssj: sent_at: time layout"},
		// With no data path, a receipt field named like the envelope's
		// message failed every receipt at run time.
		{name: "receipt key beside the envelope", change: func(c map[string]any) {
			delete(at(c, "envelope"), "data")
			delete(at(c, "inbound", "receipt"), "jhid")
			at(c, "inbound", "receipt")["msg"] = "exchange_id"
		}, want: "inbound.receipt.msg: the envelope's message is there"},
		{name: "ack key beside the envelope", change: func(c map[string]any) {
			delete(at(c, "envelope"), "data")
			at(c, "status_delivery", "ack")["code"] = at(c, "status_delivery", "ack")["tsid"]
			delete(at(c, "status_delivery", "ack"), "tsid")
		}, want: "status_delivery.ack.code: the envelope's code is there"},
		{name: "boolean table keys", change: set("found | table:zjlx", "license_lookup", "answer", "sfcz"),
			want: "license_lookup.answer.sfcz: found: table zjlx serves a boolean field"},
		{name: "unknown table", change: set("submission.applicant.holder_type | table:nope", "case_delivery", "request", "bj", "sqrzjlx"),
			want: "case_delivery.request.bj.sqrzjlx"},
		{name: "unknown contract field", change: set("submission.applicant.nmae", "case_delivery", "request", "bj", "sqrxm"),
			want: `case_delivery.request.bj.sqrxm: submission.applicant has no field "nmae"`},
		{name: "field of a scalar", change: set("submission.remark.x", "case_delivery", "request", "bj", "bz"),
			want: "case_delivery.request.bj.bz"},
		{name: "time filter on a string", change: set("submission.remark | time:datetime", "case_delivery", "request", "bj", "bz"),
			want: "case_delivery.request.bj.bz"},
		{name: "bad time layout", change: set("sent_at | time:15:04", "case_delivery", "request", "fssj"),
			want: "case_delivery.request.fssj"},
		{name: "date filter on a time", change: set("sent_at | date:compact", "case_delivery", "request", "fssj"),
			want: "case_delivery.request.fssj"},
		{name: "string filter on a string", change: set("submission.remark | string", "case_delivery", "request", "bj", "bz"),
			want: "case_delivery.request.bj.bz"},
		{name: "json filter on a string", change: set("submission.remark | json", "case_delivery", "request", "bj", "bz"),
			want: "case_delivery.request.bj.bz"},
		{name: "unknown filter", change: set("submission.remark | upper", "case_delivery", "request", "bj", "bz"),
			want: "case_delivery.request.bj.bz"},
		{name: "two filters", change: set("submission.applicant.holder_type | table:zjlx | string", "case_delivery", "request", "bj", "sqrzjlx"),
			want: "case_delivery.request.bj.sqrzjlx"},
		{name: "mapping value", change: set([]any{"x"}, "case_delivery", "request", "bj", "bz"), want: "case_delivery.request.bj.bz"},
		{name: "null mapping value", change: set(nil, "case_delivery", "request", "bj", "bz"), want: "case_delivery.request.bj.bz"},
		{name: "reserved key", change: set("x", "case_delivery", "request", "$x"), want: "case_delivery.request.$x"},
		{name: "same field twice", change: set("submission.applicant.name", "case_delivery", "request", "bj", "xm2"),
			want: "case_delivery.request.bj.sqrxm and case_delivery.request.bj.xm2"},
		{name: "overlapping fields", change: set("submission.applicant | json", "case_delivery", "request", "sqr"),
			want: "case_delivery.request"},
		{name: "$each on a scalar", change: set(map[string]any{"$each": "submission.remark", "$item": "."}, "case_delivery", "request", "bj", "bz"),
			want: "case_delivery.request.bj.bz.$each"},
		{name: "$each without $item", change: set(map[string]any{"$each": "submission.license_ids"}, "case_delivery", "request", "bj", "mtjzz"),
			want: "case_delivery.request.bj.mtjzz.$item"},
		{name: "$each with a stray key", change: set(map[string]any{"$each": "submission.license_ids", "$item": ".", "x": "y"}, "case_delivery", "request", "bj", "mtjzz"),
			want: "case_delivery.request.bj.mtjzz"},
		{name: "$item path", change: set("nmae", "case_delivery", "request", "bj", "clxx", "$item", "clmc"),
			want: "case_delivery.request.bj.clxx.$item.clmc"},
		{name: "template path", change: set("{{submission.nope}}", "case_delivery", "request", "bjbt"), want: "case_delivery.request.bjbt"},
		{name: "unclosed template", change: set("{{submission.remark", "case_delivery", "request", "bjbt"), want: "case_delivery.request.bjbt"},
		{name: "path without slash", change: set("api/x", "case_delivery", "path"), want: "case_delivery.path"},
		{name: "path with query", change: set("/api/x?y=1", "case_delivery", "path"), want: "case_delivery.path"},
		{name: "same path twice", change: set("/api/tongban/bjjs", "status_delivery", "path"), want: "status_delivery.path"},
		{name: "no request", change: del("case_delivery", "request"), want: "case_delivery.request is required"},
		{name: "request without exchange_id", change: del("usage_delivery", "request", "jhid"), want: "usage_delivery.request must map exchange_id"},
		{name: "case request without case_id", change: del("case_delivery", "request", "wgbjid"), want: "case_delivery.request must map case_id"},
		{name: "case request without delivery_id", change: del("case_delivery", "request", "tsid"), want: "case_delivery.request must map delivery_id"},
		{name: "status request without delivery_id", change: del("status_delivery", "request", "tsid"), want: "status_delivery.request must map delivery_id"},
		{name: "usage request without delivery_id", change: del("usage_delivery", "request", "tsid"), want: "usage_delivery.request must map delivery_id"},
		{name: "batch without usage_delivery", change: del("usage_delivery"), want: "usage_batch_delivery needs usage_delivery"},
		{name: "batch request without batch_id", change: del("usage_batch_delivery", "request", "pcid"),
			want: "usage_batch_delivery.request must map batch_id"},
		{name: "batch request without the records' delivery_id", change: del("usage_batch_delivery", "request", "yzjls", "$item", "tsid"),
			want: "usage_batch_delivery.request must map deliveries[].delivery_id"},
		{name: "batch path of another operation", change: set("/api/dzzz/yzjlhc", "usage_batch_delivery", "path"), want: "usage_batch_delivery.path"},
		{name: "batch ack maps key_id", change: set("key_id", "usage_batch_delivery", "ack", "zyid"), want: "usage_batch_delivery.ack maps key_id"},
		{name: "batch ack without delivery_ids", change: del("usage_batch_delivery", "ack", "tsids"),
			want: "usage_batch_delivery.ack must map delivery_ids"},
		{name: "batch ack without batch_id", change: del("usage_batch_delivery", "ack", "pcid"),
			want: "usage_batch_delivery.ack must map batch_id"},
		{name: "batch ack field of another type", change: set("delivery_ids", "usage_batch_delivery", "ack", "pcid"),
			want: "usage_batch_delivery.ack"},
		{name: "status request without case_id", change: func(c map[string]any) {
			delete(at(c, "status_delivery", "request"), "wgbjid")
			delete(at(c, "status_delivery", "request", "zt"), "wgbjid")
		}, want: "status_delivery.request must map case_id"},
		{name: "ack maps key_id", change: set("key_id", "case_delivery", "ack", "zyid"), want: "case_delivery.ack maps key_id"},
		{name: "case ack without case number", change: del("case_delivery", "ack", "bjbh"), want: "case_delivery.ack must map partner_case_no"},
		{name: "ack without time", change: del("status_delivery", "ack", "qssj"), want: "status_delivery.ack must map acknowledged_at"},
		{name: "answer without license", change: del("license_lookup", "answer", "zz"), want: "license_lookup.answer"},
		{name: "answer without a record field", change: del("license_lookup", "answer", "zz", "fzjgdm"),
			want: "license_lookup.answer must map license.issuer_code"},
		{name: "inbound without reported_at", change: del("inbound", "status_update", "request", "bgsj"),
			want: "inbound.status_update.request must map reported_at"},
		{name: "inbound material without sm3", change: del("inbound", "case_submission", "request", "clxx", "$item", "sm3"),
			want: "inbound.case_submission.request must map materials[].sm3"},
		{name: "inbound operation", change: set("a/b", "inbound", "status_update", "operation"), want: "inbound.status_update.operation"},
		{name: "inbound operations alike", change: set("bjtj", "inbound", "status_update", "operation"), want: "inbound.status_update.operation"},
		{name: "inbound without operations", change: func(c map[string]any) {
			for _, k := range []string{"case_submission", "status_update", "evaluation_submission", "evaluation_reply", "bundle_submission"} {
				delete(at(c, "inbound"), k)
			}
		}, want: "inbound needs"},
		{name: "receipt without case_id", change: del("inbound", "receipt", "wgbjid"), want: "inbound.receipt must map case_id"},
		{name: "notice request without its type", change: del("notice_delivery", "request", "tz", "tzlx"),
			want: "notice_delivery.request must map notice.type"},
		{name: "notice request without case_id", change: func(c map[string]any) {
			delete(at(c, "notice_delivery", "request"), "wgbjid")
			delete(at(c, "notice_delivery", "request", "tz"), "wgbjid")
		}, want: "notice_delivery.request must map case_id or notice.case_id"},
		{name: "notice request without delivery_id", change: del("notice_delivery", "request", "tsid"),
			want: "notice_delivery.request must map delivery_id"},
		{name: "notice ack without time", change: del("notice_delivery", "ack", "qssj"), want: "notice_delivery.ack must map acknowledged_at"},
		{name: "notice ack maps key_id", change: set("key_id", "notice_delivery", "ack", "zyid"), want: "notice_delivery.ack maps key_id"},
		{name: "notice path of another operation", change: set("/api/tongban/ztfk", "notice_delivery", "path"), want: "notice_delivery.path"},
		{name: "notice level through an unknown table", change: set("notice.evaluation.level | table:pjdjx", "notice_delivery", "request", "tz", "pj", "pjdj"),
			want: "notice_delivery.request.tz.pj.pjdj"},
		{name: "notice unknown field", change: set("notice.evaluation.grade", "notice_delivery", "request", "tz", "pj", "pjdj"),
			want: `notice_delivery.request.tz.pj.pjdj: notice.evaluation has no field "grade"`},
		{name: "evaluation without level", change: del("inbound", "evaluation_submission", "request", "pjdj"),
			want: "inbound.evaluation_submission.request must map level"},
		{name: "evaluation without the applicant's id", change: del("inbound", "evaluation_submission", "request", "pjr", "zjhm"),
			want: "inbound.evaluation_submission.request must map applicant.id_number"},
		{name: "reply without its contact flag", change: del("inbound", "evaluation_reply", "request", "sfhf"),
			want: "inbound.evaluation_reply.request must map contacted_applicant"},
		{name: "bundle part without its form", change: del("inbound", "bundle_submission", "request", "bjs", "$item", "sqb"),
			want: "inbound.bundle_submission.request must map parts[].form"},
		{name: "bundle without parts", change: del("inbound", "bundle_submission", "request", "bjs"),
			want: "inbound.bundle_submission.request must map parts"},
		{name: "inbound operations alike (reply)", change: set("pjtj", "inbound", "evaluation_reply", "operation"),
			want: "inbound.evaluation_reply.operation \"pjtj\" is also the operation of inbound.evaluation_submission"},
		{name: "inbound operations alike (bundle)", change: set("bjtj", "inbound", "bundle_submission", "operation"),
			want: "inbound.bundle_submission.operation"},
		{name: "receipt without parts", change: del("inbound", "receipt", "bjs"), want: "inbound.receipt must map parts[].part"},
		{name: "receipt part without its case", change: del("inbound", "receipt", "bjs", "$item", "wgbjid"),
			want: "inbound.receipt must map parts[].case_id"},
		{name: "no operations", change: func(c map[string]any) {
			for _, k := range []string{"case_delivery", "status_delivery", "notice_delivery", "usage_delivery", "usage_batch_delivery", "license_lookup", "inbound"} {
				delete(c, k)
			}
		}, want: "no operation"},
		{name: "nested too deeply", change: func(c map[string]any) {
			m := map[string]any{"x": "submission.remark"}
			for range 20 {
				m = map[string]any{"n": m}
			}
			at(c, "case_delivery", "request", "bj")["deep"] = m
		}, want: "case_delivery.request.bj.deep"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := json.RawMessage(tc.raw)
			if tc.raw == "" {
				raw = exampleWith(t, ep, tc.change)
			}
			_, err := mappedjson.ParseConfig(raw)
			if err == nil {
				t.Fatal("config accepted")
			}
			t.Log(err)
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not name %q", err, tc.want)
			}
			if _, err := mappedjson.NewPartnerSide(partnerID, raw); err == nil {
				t.Error("NewPartnerSide accepted the config")
			}
		})
	}
}

func TestDuplicatePartnerKey(t *testing.T) {
	raw := strings.Replace(string(mappedjson.ExampleConfig("https://jh.example")),
		`"sqrxm": "submission.applicant.name",`, `"sqrxm": "submission.applicant.name", "sqrxm": "submission.applicant.phone",`, 1)
	_, err := mappedjson.ParseConfig(json.RawMessage(raw))
	if err == nil || !strings.Contains(err.Error(), `case_delivery.request: key "sqrxm" appears twice`) {
		t.Errorf("got %v, want the duplicate key named", err)
	}
	raw = strings.Replace(string(mappedjson.ExampleConfig("https://jh.example")), `"111": "10",`, `"111": "10", "111": "11",`, 1)
	if _, err := mappedjson.ParseConfig(json.RawMessage(raw)); err == nil || !strings.Contains(err.Error(), `tables: key "111" appears twice`) {
		t.Errorf("got %v, want the duplicate table key named", err)
	}
}

func TestNewNeedsParams(t *testing.T) {
	gw, _ := newPair(t)
	if _, err := mappedjson.New(adapters.Params{Config: mappedjson.ExampleConfig("https://x.example"), Crypto: gw}); err == nil {
		t.Error("New accepted params without a partner id")
	}
	if _, err := adapters.New(mappedjson.Name, adapters.Params{PartnerID: partnerID, Config: json.RawMessage(`{}`), Crypto: gw}); err == nil ||
		!strings.Contains(err.Error(), "mapped-json adapter for partner 330702") {
		t.Errorf("got %v, want the registry's wrapped config error", err)
	}
}

// TestCapabilities: each capability is on exactly when its operation is
// configured.
func TestCapabilities(t *testing.T) {
	gw, _ := newPair(t)
	all := []adapters.Capability{adapters.CapCaseDelivery, adapters.CapStatusDelivery, adapters.CapInbound,
		adapters.CapLicenseLookup, adapters.CapUsageRecords}
	for _, tc := range []struct {
		name string
		drop []string
		want []adapters.Capability
	}{
		{"everything", nil, all},
		{"cases only", []string{"status_delivery", "notice_delivery", "usage_delivery", "usage_batch_delivery", "license_lookup", "inbound"}, []adapters.Capability{adapters.CapCaseDelivery}},
		{"library only", []string{"case_delivery", "status_delivery", "notice_delivery", "inbound"}, []adapters.Capability{adapters.CapLicenseLookup, adapters.CapUsageRecords}},
		{"library without batches", []string{"case_delivery", "status_delivery", "notice_delivery", "inbound", "usage_batch_delivery"}, []adapters.Capability{adapters.CapLicenseLookup, adapters.CapUsageRecords}},
		{"inbound only", []string{"case_delivery", "status_delivery", "notice_delivery", "usage_delivery", "usage_batch_delivery", "license_lookup", "endpoint"}, []adapters.Capability{adapters.CapInbound}},
		{"notices only", []string{"case_delivery", "status_delivery", "usage_delivery", "usage_batch_delivery", "license_lookup", "inbound"}, nil},
		{"no lookup", []string{"license_lookup"}, []adapters.Capability{adapters.CapCaseDelivery, adapters.CapStatusDelivery, adapters.CapInbound, adapters.CapUsageRecords}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := exampleWith(t, "https://jh.example", func(c map[string]any) {
				for _, k := range tc.drop {
					delete(c, k)
				}
			})
			a := newAdapter(t, gw, cfg)
			got := adapters.Capabilities(a)
			want := slices.Clone(tc.want)
			slices.SortFunc(want, func(x, y adapters.Capability) int {
				return slices.Index(adapters.AllCapabilities, x) - slices.Index(adapters.AllCapabilities, y)
			})
			if !slices.Equal(got, want) {
				t.Errorf("Capabilities = %v, want %v", got, want)
			}
			for _, c := range all {
				if a.Has(c) != slices.Contains(tc.want, c) {
					t.Errorf("Has(%s) = %v", c, a.Has(c))
				}
			}
			if a.Has(adapters.CapPull) {
				t.Error("Has(pull)")
			}
			_, batches := adapters.UsageBatchDelivererOf(a)
			if want := a.Has(adapters.CapUsageRecords) && !slices.Contains(tc.drop, "usage_batch_delivery"); batches != want {
				t.Errorf("UsageBatchDelivererOf: %v, want %v", batches, want)
			}
			_, ok := adapters.LicenseSourceOf(a)
			if ok != slices.Contains(tc.want, adapters.CapLicenseLookup) {
				t.Errorf("LicenseSourceOf = %v", ok)
			}
			if want := !slices.Contains(tc.drop, "notice_delivery"); a.DeliversNotices() != want {
				t.Errorf("DeliversNotices = %v, want %v", a.DeliversNotices(), want)
			}
		})
	}
}

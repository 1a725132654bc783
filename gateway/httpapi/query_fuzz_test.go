package httpapi

import (
	"context"
	"errors"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/evidence"
	"github.com/tongban/tongban/gateway/licenses"
	"github.com/tongban/tongban/gateway/outbox"
)

// queryContext is an echo context of GET /?rawQuery by an anonymous
// principal.
func queryContext(rawQuery string) echo.Context {
	r := httptest.NewRequest("GET", "/", nil)
	r.URL.RawQuery = rawQuery
	c := echo.New().NewContext(r, httptest.NewRecorder())
	c.Set(principalKey, gateway.Principal{})
	return c
}

// recording is the services behind the handlers that read a query
// themselves: it keeps what they were asked.
type recording struct {
	Audit
	Mailbox
	q        *outbox.Query
	from, to int64
	verified bool
}

func (r *recording) Poll(_ context.Context, _ gateway.Principal, q outbox.Query) (*contracts.MailboxBatch, error) {
	r.q = &q
	return &contracts.MailboxBatch{}, nil
}

func (r *recording) VerifyEvidence(_ context.Context, _ gateway.Principal, from, to int64) (*contracts.ChainVerifyResult, error) {
	r.from, r.to, r.verified = from, to, true
	return &contracts.ChainVerifyResult{}, nil
}

// codeOf is the code of a handler's refusal, failing t when it is not a
// *gateway.Error.
func codeOf(t *testing.T, err error) contracts.Code {
	t.Helper()
	var e *gateway.Error
	if !errors.As(err, &e) {
		t.Fatalf("refusal %v is not a *gateway.Error", err)
	}
	return e.Code
}

// FuzzMailboxQuery feeds arbitrary query strings to GET /v1/mailbox. A
// refusal is bad_request; an accepted query asks for a cursor of at most
// 200 bytes, a wait from 0 to MaxMailboxWait in whole seconds and a limit
// from 0 (the default) to MaxMailboxBatch, and written back as a query
// asks the same.
func FuzzMailboxQuery(f *testing.F) {
	for _, q := range []string{"", "after=17&wait=30&limit=100", "wait=31", "wait=-1", "limit=0", "limit=101",
		"after=x&after=y", "after=" + strings.Repeat("9", 201), "other=1", "wait=1e1", "after=%zz"} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, rawQuery string) {
		rec := &recording{}
		a := &api{Options: Options{Mailbox: rec}}
		if err := a.pollMailbox(queryContext(rawQuery)); err != nil {
			if code := codeOf(t, err); code != contracts.CodeBadRequest || rec.q != nil {
				t.Fatalf("refusal %v with code %s (polled: %v)", err, code, rec.q != nil)
			}
			return
		}
		q := rec.q
		if q == nil || len(q.After) > 200 || q.Wait < 0 || q.Wait > outbox.MaxMailboxWait || q.Wait%time.Second != 0 ||
			q.Limit < 0 || q.Limit > outbox.MaxMailboxBatch {
			t.Fatalf("%q polled with %+v", rawQuery, q)
		}
		v := url.Values{}
		if q.After != "" {
			v.Set("after", q.After)
		}
		if q.Wait != 0 {
			v.Set("wait", strconv.Itoa(int(q.Wait/time.Second)))
		}
		if q.Limit != 0 {
			v.Set("limit", strconv.Itoa(q.Limit))
		}
		first := *q
		rec.q = nil
		if err := a.pollMailbox(queryContext(v.Encode())); err != nil || rec.q == nil || *rec.q != first {
			t.Fatalf("%+v written as %q polls with %+v (%v)", first, v.Encode(), rec.q, err)
		}
	})
}

// putTime sets name to t in RFC 3339 when t is set.
func putTime(q url.Values, name string, t time.Time) {
	if !t.IsZero() {
		q.Set(name, t.Format(time.RFC3339Nano))
	}
}

// sameTimes reports whether two filters' from and to are the same instants.
func sameTimes(a1, a2, b1, b2 time.Time) bool { return a1.Equal(b1) && a2.Equal(b2) }

// FuzzQueryFilters feeds arbitrary query strings to the readers of the
// audit search (GET /v1/audit/exchanges), evidence check (GET
// /v1/audit/verify) and usage listing (GET /v1/licenses/usage) queries.
// The evidence check asks only for bounds of 1 or more (0: open), the
// same once written back. A refusal is a bad_request *gateway.Error
// (invalid_license_id for a bad license_id); an accepted query gives no more than the page limit, only
// well-formed identifiers where the reader checks them, and the filter
// written back as a query reads to the same filter.
func FuzzQueryFilters(f *testing.F) {
	for _, q := range []string{
		"",
		"case_id=c-1&limit=10",
		"exchange_id=01959245-f1f9-7a3c-8d2e-5b4f6a7c9e10&kind=case&state=acknowledged&from=2026-03-14T09:30:00%2B08:00&to=2026-03-15T00:00:00Z",
		"region=330702&partner=330702&cursor=17",
		"limit=0", "limit=501", "limit=1&limit=2", "unknown=1", "from=yesterday", "from=2026-02-30T00:00:00Z",
		"holder_id=11010519491231002X&caller=window-320404&cursor=01959245-f1f9-7a3c-8d2e-5b4f6a7c9e10",
		"holder_id=91350100M000100Y43", "license_id=x", "caller=a%20b", "a;b=1", "%zz",
		"from=1&to=9223372036854775807", "from=0", "to=-1", "from=%2B7",
	} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, rawQuery string) {
		refused := func(err error, codes ...contracts.Code) {
			t.Helper()
			var e *gateway.Error
			if !errors.As(err, &e) {
				t.Fatalf("refusal %v is not a *gateway.Error", err)
			}
			for _, c := range codes {
				if e.Code == c {
					return
				}
			}
			t.Fatalf("refusal %v has code %s", err, e.Code)
		}

		rec := &recording{}
		a := &api{Options: Options{Audit: rec}}
		if err := a.verifyEvidence(queryContext(rawQuery)); err != nil {
			if code := codeOf(t, err); code != contracts.CodeBadRequest || rec.verified {
				t.Fatalf("evidence check refusal %v with code %s (verified: %v)", err, code, rec.verified)
			}
		} else {
			if !rec.verified || rec.from < 0 || rec.to < 0 {
				t.Fatalf("%q verified %d..%d (%v)", rawQuery, rec.from, rec.to, rec.verified)
			}
			v := url.Values{}
			if rec.from != 0 {
				v.Set("from", strconv.FormatInt(rec.from, 10))
			}
			if rec.to != 0 {
				v.Set("to", strconv.FormatInt(rec.to, 10))
			}
			from, to := rec.from, rec.to
			if err := a.verifyEvidence(queryContext(v.Encode())); err != nil || rec.from != from || rec.to != to {
				t.Fatalf("bounds %d..%d written as %q verify %d..%d (%v)", from, to, v.Encode(), rec.from, rec.to, err)
			}
		}

		ef, err := exchangeFilter(queryContext(rawQuery))
		if err != nil {
			refused(err, contracts.CodeBadRequest)
		} else {
			if ef.Limit < 0 || ef.Limit > evidence.MaxAuditPage {
				t.Fatalf("exchange search limit %d accepted", ef.Limit)
			}
			q := url.Values{}
			for name, v := range map[string]string{"case_id": ef.CaseID, "exchange_id": ef.ExchangeID, "partner": ef.Partner,
				"region": ef.Region, "kind": string(ef.Kind), "state": string(ef.State), "cursor": ef.Cursor} {
				if v != "" {
					q.Set(name, v)
				}
			}
			if ef.Limit != 0 {
				q.Set("limit", strconv.Itoa(ef.Limit))
			}
			putTime(q, "from", ef.From)
			putTime(q, "to", ef.To)
			back, err := exchangeFilter(queryContext(q.Encode()))
			if err != nil {
				t.Fatalf("exchange filter %+v written as %q is refused: %v", ef, q.Encode(), err)
			}
			if !sameTimes(ef.From, ef.To, back.From, back.To) {
				t.Fatalf("exchange filter times %v %v came back as %v %v", ef.From, ef.To, back.From, back.To)
			}
			ef.From, ef.To, back.From, back.To = time.Time{}, time.Time{}, time.Time{}, time.Time{}
			if !reflect.DeepEqual(ef, back) {
				t.Fatalf("exchange filter %+v came back as %+v", ef, back)
			}
		}

		uf, err := usageFilter(queryContext(rawQuery))
		if err != nil {
			refused(err, contracts.CodeBadRequest, contracts.CodeInvalidLicenseID)
			return
		}
		if uf.Limit < 0 || uf.Limit > licenses.MaxUsagePage {
			t.Fatalf("usage limit %d accepted", uf.Limit)
		}
		if uf.HolderID != "" && contracts.ValidateCitizenID(uf.HolderID) != nil && contracts.ValidateCreditCode(uf.HolderID) != nil {
			t.Fatalf("usage holder %q accepted", uf.HolderID)
		}
		if uf.Cursor != "" && contracts.ValidateUUID(uf.Cursor) != nil {
			t.Fatalf("usage cursor %q accepted", uf.Cursor)
		}
		q := url.Values{}
		for name, v := range map[string]string{"holder_id": uf.HolderID, "license_id": uf.LicenseID, "caller": uf.Caller, "cursor": uf.Cursor} {
			if v != "" {
				q.Set(name, v)
			}
		}
		if uf.Limit != 0 {
			q.Set("limit", strconv.Itoa(uf.Limit))
		}
		putTime(q, "from", uf.From)
		putTime(q, "to", uf.To)
		back, err := usageFilter(queryContext(q.Encode()))
		if err != nil {
			t.Fatalf("usage filter %+v written as %q is refused: %v", uf, q.Encode(), err)
		}
		if !sameTimes(uf.From, uf.To, back.From, back.To) {
			t.Fatalf("usage filter times %v %v came back as %v %v", uf.From, uf.To, back.From, back.To)
		}
		uf.From, uf.To, back.From, back.To = time.Time{}, time.Time{}, time.Time{}, time.Time{}
		if !reflect.DeepEqual(uf, back) {
			t.Fatalf("usage filter %+v came back as %+v", uf, back)
		}
	})
}

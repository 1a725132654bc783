package httpapi

import (
	"errors"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/evidence"
	"github.com/tongban/tongban/gateway/licenses"
)

// queryContext is an echo context of GET /?rawQuery.
func queryContext(rawQuery string) echo.Context {
	r := httptest.NewRequest("GET", "/", nil)
	r.URL.RawQuery = rawQuery
	return echo.New().NewContext(r, httptest.NewRecorder())
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
// audit search (GET /v1/audit/exchanges) and usage listing (GET
// /v1/licenses/usage) queries. A refusal is a bad_request *gateway.Error
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

package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/evidence"
)

// onlyParams refuses a query with a parameter not in names, or one given
// twice.
func onlyParams(c echo.Context, names ...string) error {
	q := c.QueryParams()
	for name, vs := range q {
		known := false
		for _, n := range names {
			known = known || n == name
		}
		switch {
		case !known:
			return badQuery(name, "is not a parameter of this endpoint")
		case len(vs) > 1:
			return badQuery(name, "must be given once")
		}
	}
	return nil
}

// exchangeFilter reads the query of GET /v1/audit/exchanges; the core
// validates the values.
func exchangeFilter(c echo.Context) (evidence.ExchangeFilter, error) {
	var f evidence.ExchangeFilter
	if err := onlyParams(c, "case_id", "exchange_id", "partner", "region", "kind", "state", "event", "from", "to", "cursor", "limit", "overdue", "due_before"); err != nil {
		return f, err
	}
	q := c.QueryParams()
	f.CaseID, f.ExchangeID, f.Partner, f.Region = q.Get("case_id"), q.Get("exchange_id"), q.Get("partner"), q.Get("region")
	f.Kind, f.State, f.Cursor = contracts.ExchangeKind(q.Get("kind")), contracts.TransportState(q.Get("state")), q.Get("cursor")
	f.Event = q.Get("event")
	if err := queryTimes(q, &f.From, &f.To); err != nil {
		return f, err
	}
	switch v := q.Get("overdue"); v {
	case "", "false":
	case "true":
		f.Overdue = true
	default:
		return f, badQuery("overdue", "must be true or false")
	}
	if v := q.Get("due_before"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return f, badQuery("due_before", "must be an RFC 3339 time")
		}
		f.DueBefore = t
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > evidence.MaxAuditPage {
			return f, badQuery("limit", "must be an integer from 1 to "+strconv.Itoa(evidence.MaxAuditPage))
		}
		f.Limit = n
	}
	return f, nil
}

func (a *api) searchExchanges(c echo.Context) error {
	f, err := exchangeFilter(c)
	if err != nil {
		return err
	}
	page, err := a.Audit.SearchExchanges(c.Request().Context(), principal(c), f)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, page)
}

func (a *api) traceCase(c echo.Context) error {
	if err := onlyParams(c); err != nil {
		return err
	}
	tr, err := a.Audit.TraceCase(c.Request().Context(), principal(c), c.Param("case_id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, tr)
}

// verifyEvidence serves GET /v1/audit/verify?from=&to=.
func (a *api) verifyEvidence(c echo.Context) error {
	if err := onlyParams(c, "from", "to"); err != nil {
		return err
	}
	var bounds [2]int64
	for i, name := range []string{"from", "to"} {
		if v := c.QueryParam(name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 1 {
				return badQuery(name, "must be a sequence number, 1 or more")
			}
			bounds[i] = n
		}
	}
	res, err := a.Audit.VerifyEvidence(c.Request().Context(), principal(c), bounds[0], bounds[1])
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, res)
}

func (a *api) exportCase(c echo.Context) error {
	if err := onlyParams(c); err != nil {
		return err
	}
	id := c.Param("case_id")
	zipped, err := a.Audit.ExportCase(c.Request().Context(), principal(c), id)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderContentDisposition, `attachment; filename="tongban-case-`+id+`.zip"`)
	return c.Blob(http.StatusOK, "application/zip", zipped)
}

// denied reports whether code refuses a caller (authentication, signature
// or authorization), which the evidence log records.
func denied(code contracts.Code) bool {
	switch code {
	case contracts.CodeUnauthenticated, contracts.CodeTokenExpired, contracts.CodeUnknownKey,
		contracts.CodeBadSignature, contracts.CodeForbidden, contracts.CodeCertificateMismatch:
		return true
	}
	return false
}

// recordDenial writes an access.denied record for a request refused
// with code because of err, when that refusal is one the evidence log
// records: authentication, signature or authorization (see denied), and
// the not_found answering a caller that named a case that is not its
// business (gateway.ForeignCase: the record names the probed case as
// case_ref, the caller still learns nothing).
func (a *api) recordDenial(c echo.Context, code contracts.Code, err error) {
	d := evidence.Denial{Code: code, Method: c.Request().Method, Route: c.Path(), TraceID: traceID(c.Request())}
	switch {
	case denied(code):
	case code == contracts.CodeNotFound:
		if d.CaseRef = gateway.ForeignCaseOf(err); d.CaseRef == "" {
			return
		}
	default:
		return
	}
	if p, ok := c.Get(principalKey).(gateway.Principal); ok {
		d.Caller, d.KeyID, d.JTI = p.ID(), p.KeyID, p.TokenID
	}
	a.Audit.RecordDenial(c.Request().Context(), d)
}

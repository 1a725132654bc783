package httpapi

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// StatsSource gives the history of the gateway's own numbers that GET
// /v1/admin/stats answers (implemented by *telemetry.History, which the
// gateway's Telemetry keeps: Telemetry.History()).
type StatsSource interface {
	// Stats returns the history, oldest point first, as a copy the
	// caller may keep.
	Stats() contracts.Stats
}

// stats serves GET /v1/admin/stats to operators and auditors: the
// history of the gateway's own metrics. A gateway that keeps none
// (Options.Stats nil) answers unavailable.
func (a *api) stats(c echo.Context) error {
	if err := gateway.Authorize(principal(c), gateway.ActReadStats, nil, ""); err != nil {
		return err
	}
	if err := onlyParams(c); err != nil {
		return err
	}
	if a.Stats == nil {
		return &gateway.Error{Code: contracts.CodeUnavailable, Message: "this gateway keeps no statistics"}
	}
	return c.JSON(http.StatusOK, a.Stats.Stats())
}

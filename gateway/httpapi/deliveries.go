package httpapi

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/outbox"
)

// deliveryFilter reads and validates the query of GET
// /v1/admin/deliveries: state, partner, cursor and limit.
func deliveryFilter(c echo.Context) (outbox.DeliveryFilter, error) {
	var f outbox.DeliveryFilter
	if err := onlyParams(c, "state", "partner", "cursor", "limit"); err != nil {
		return f, err
	}
	q := c.QueryParams()
	if v := q.Get("state"); v != "" {
		if !gateway.Unfinished(contracts.TransportState(v)) {
			return f, badQuery("state", "must be dead, retry_wait, pending or in_flight")
		}
		f.State = contracts.TransportState(v)
	}
	if v := q.Get("partner"); v != "" {
		if contracts.ValidateOpaqueID("partner", v) != nil {
			return f, badQuery("partner", "is not a partner id")
		}
		f.Partner = v
	}
	if v := q.Get("cursor"); v != "" {
		if _, err := outbox.ParseDeliveryCursor(v); err != nil {
			return f, badQuery("cursor", "is not a cursor this endpoint returned")
		}
		f.Cursor = v
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > outbox.MaxDeliveryPage {
			return f, badQuery("limit", "must be an integer from 1 to "+strconv.Itoa(outbox.MaxDeliveryPage))
		}
		f.Limit = n
	}
	return f, nil
}

// listDeliveries serves GET /v1/admin/deliveries.
func (a *api) listDeliveries(c echo.Context) error {
	f, err := deliveryFilter(c)
	if err != nil {
		return err
	}
	page, err := a.Redelivery.ListDeliveries(c.Request().Context(), principal(c), f)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, page)
}

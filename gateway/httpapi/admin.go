package httpapi

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/keyring"
	"github.com/tongban/tongban/gateway/outbox"
)

// The operator views: every partner's state, the keys in force (listed,
// added, revoked) and the reload of the configuration. The core decides
// who may (gateway.Authorize: read_partners, read_keys, manage_keys,
// reload); a view the gateway was not given answers not_found.

// noRoute is the answer of a view the gateway was not wired with.
var noRoute = &gateway.Error{Code: contracts.CodeNotFound, Message: "no such route"}

// listPartners serves GET /v1/admin/partners.
func (a *api) listPartners(c echo.Context) error {
	if a.Partners == nil {
		return noRoute
	}
	if err := onlyParams(c); err != nil {
		return err
	}
	l, err := a.Partners.ListPartners(c.Request().Context(), principal(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, l)
}

// listKeys serves GET /v1/admin/keys.
func (a *api) listKeys(c echo.Context) error {
	if a.Keys == nil {
		return noRoute
	}
	if err := onlyParams(c); err != nil {
		return err
	}
	l, err := a.Keys.ListKeys(c.Request().Context(), principal(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, l)
}

// addKey serves POST /v1/admin/keys: a signed KeyAddRequest; 201 with the
// key in force.
func (a *api) addKey(c echo.Context) error {
	if a.Keys == nil {
		return noRoute
	}
	in, err := a.inbound(c)
	if err != nil {
		return err
	}
	k, err := a.Keys.AddKey(c.Request().Context(), in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, k)
}

// revokeKey serves DELETE /v1/admin/keys/{caller}/{key_id}: 200 with the
// key revoked.
func (a *api) revokeKey(c echo.Context) error {
	if a.Keys == nil {
		return noRoute
	}
	k, err := a.Keys.RevokeKey(c.Request().Context(), principal(c), c.Param("caller"), c.Param("key_id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, k)
}

// reload serves POST /v1/admin/reload. The reloader lives outside the
// core (it reads the configuration file), so the route checks the
// operator itself too.
func (a *api) reload(c echo.Context) error {
	if a.Reloader == nil {
		return noRoute
	}
	if err := onlyParams(c); err != nil {
		return err
	}
	p := principal(c)
	if err := gateway.Authorize(p, gateway.ActReload, nil, ""); err != nil {
		return err
	}
	r, err := a.Reloader.Reload(c.Request().Context(), p)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, r)
}

var (
	_ Partners = (*outbox.Outbox)(nil)
	_ Keys     = (*keyring.Admin)(nil)
)

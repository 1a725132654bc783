package partnersim

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/adapters/mailbox"
	"github.com/tongban/tongban/adapters/mappedjson"
	"github.com/tongban/tongban/adapters/soap"
	"github.com/tongban/tongban/adapters/standard"
)

// Styles lists the styles a simulator speaks.
var Styles = []string{standard.Name, mappedjson.Name, soap.Name, mailbox.Name}

// StyleSide returns the partner side of style for partner partnerID, built
// from raw, the style's config block (the one the gateway's partner entry
// carries). A mailbox partner calls the gateway in the standard contract.
func StyleSide(style, partnerID string, raw json.RawMessage) (adapters.PartnerSide, error) {
	switch style {
	case standard.Name, mailbox.Name:
		return standard.PartnerSide{}, nil
	case mappedjson.Name:
		return mappedjson.NewPartnerSide(partnerID, raw)
	case soap.Name:
		return soap.NewPartnerSide(partnerID, raw)
	}
	return nil, fmt.Errorf("partnersim: unknown style %q (known: %s)", style, strings.Join(Styles, ", "))
}

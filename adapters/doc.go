// Package adapters holds the registry of partner adapters: the
// implementations of the gateway's Adapter port that deliver cases and status
// updates to one partner system in that partner's protocol.
//
// # Registry
//
// Adapter styles register a Factory under a name from their package's init
// function, in the style of database/sql drivers:
//
//	import _ "github.com/tongban/tongban/adapters/standard"
//
//	a, err := adapters.New("standard", adapters.Params{
//		PartnerID: "330702",
//		Config:    json.RawMessage(`{"endpoint": "https://jh.example/tongban"}`),
//		Crypto:    crypto,
//	})
//
// Register panics when a name is registered twice or with a nil factory;
// New fails with an error that lists the known names when the name is
// unknown. The gateway core never sees an adapter's configuration: a partner
// entry names its adapter and carries a raw JSON block that only that
// adapter's factory decodes (strictly, see DecodeConfig) and validates.
//
// # Optional capabilities
//
// Capabilities beyond Adapter are small interfaces that a caller discovers by
// type assertion, so that adding one never breaks an existing adapter:
//
//   - io.Closer on an Adapter: the adapter holds resources (idle
//     connections); call Close when the partner is removed or on shutdown.
//   - TokenIssuer on a Crypto: the gateway can mint bearer tokens for calls
//     to a partner; HTTP adapters then send Authorization: Bearer.
//   - LicenseSource on an Adapter: the partner's license library (证照库)
//     answers lookups; a partner entry with a license_library needs it.
//   - UsageReceiver on an Adapter: the partner takes usage records
//     (用证记录回传) of the licenses it issued, through the outbox.
//
// Later capabilities (health checks, mailbox pulls) follow the same
// pattern.
//
// # Errors
//
// Every error an adapter returns from a delivery is an *Error, which carries
// the classification the gateway's Adapter port expects: Permanent() true
// means retrying cannot help (the delivery goes to dead letter at once), and
// RetryAfter() is the pause the partner asked for. Classify maps an HTTP
// response or transport error to an *Error with the rules every adapter
// shares.
//
// # Imports
//
// Non-test code under adapters/ imports only the standard library,
// package contracts and third-party HTTP helpers. SM2 and SM3 reach adapters
// through the Crypto interface, implemented by the gateway with package
// signing.
package adapters

// Package adapters holds the registry of partner adapter styles and what
// they share: the capability interfaces an adapter may implement, error
// classification, strict config decoding, and the partner side of a style
// (PartnerSide) that simulators and contract tests speak.
//
// # Registry
//
// Adapter styles register a Style from their package's init function, in
// the manner of database/sql drivers:
//
//	import _ "github.com/tongban/tongban/adapters/standard"
//
//	a, err := adapters.New("standard", adapters.Params{
//		PartnerID: "330702",
//		Config:    json.RawMessage(`{"endpoint": "https://jh.example/tongban"}`),
//		Crypto:    crypto,
//	})
//
// Register panics when a name is registered twice, with a nil factory or
// with an unknown capability; New fails with an error that lists the known
// names when the name is unknown. The gateway core never sees an adapter's
// configuration: a partner entry names its adapter and carries a raw JSON
// block that only that adapter's factory decodes (strictly, see
// DecodeConfig) and validates.
//
// # Capabilities
//
// An Adapter by itself only names its style. Everything it can do is a
// small interface found by type assertion, so that adding a capability
// never breaks an existing adapter:
//
//   - CaseDeliverer: pushes cases to the partner that owns them;
//   - StatusDeliverer: pushes status updates back to the partner that
//     submitted the case (status callbacks);
//   - Translator: the partner calls the gateway in its own format, which
//     the adapter reads and answers in;
//   - LicenseSource: the partner's license library (证照库) answers
//     lookups;
//   - UsageDeliverer: the partner takes usage records (用证记录回传) of the
//     licenses it issued;
//   - Puller: the partner cannot take inbound calls and pulls its
//     deliveries from its mailbox at the gateway;
//   - io.Closer: the adapter holds resources (idle connections); call
//     Close on shutdown.
//
// Two optional deliveries are not capabilities of their own, so that a
// style adds them without declaring anything: UsageBatchDeliverer (usage
// records in batches, an option of UsageDeliverer) and NoticeDeliverer
// (notices about a case pushed to the partner: deadline warnings and
// overdue notices, evaluations, follow-up replies, cancelled parts of a
// bundle). Find them with UsageBatchDelivererOf and NoticeDelivererOf,
// which honour UsageBatchSwitch and NoticeSwitch, the switches of an
// adapter whose configuration may leave them off. A pulling partner
// finds its notices in its mailbox.
//
// A style declares its capabilities when it registers (`tongban adapters`
// lists them); an adapter whose configuration leaves one off implements
// CapabilitySet. Use Capabilities or the ...Of functions rather than bare
// type assertions so that CapabilitySet is honoured. TokenIssuer is a
// capability of a Crypto: HTTP adapters that find it send Authorization:
// Bearer with every call.
//
// # Errors
//
// Every error an adapter returns from a delivery is an *Error, which
// implements port.DeliveryError, the classification the gateway's outbox
// reads: Permanent() true
// means retrying cannot help (the delivery goes to dead letter at once), and
// RetryAfter() is the pause the partner asked for. Classify maps an HTTP
// response or transport error to an *Error with the rules every style
// shares: timeouts, connection errors, 5xx, 408 and 429 (with Retry-After)
// are retryable; other 4xx, redirects, malformed answers and bad
// signatures are permanent.
//
// # Imports
//
// Non-test code under adapters/ imports only the standard library,
// package contracts, the port definitions (gateway/port) and third-party
// HTTP helpers. SM2 and SM3 reach adapters
// through the Crypto interface, implemented by the gateway with package
// signing.
package adapters

package httpapi

import (
	"context"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/evidence"
	"github.com/tongban/tongban/gateway/licenses"
	"github.com/tongban/tongban/gateway/outbox"
)

// The HTTP layer depends on one small interface per sub-domain, so a
// handler test can stand a hand-written fake in for the core where a real
// store is not the point. The sub-domain services implement them
// (gateway/node assembles them).

// Cases takes case submissions and status updates and shows cases
// (implemented by *cases.Service).
type Cases interface {
	SubmitCase(ctx context.Context, in gateway.Inbound) (*gateway.Signed, error)
	ReportStatus(ctx context.Context, caseID string, in gateway.Inbound) (*gateway.Signed, error)
	ReceiveNative(ctx context.Context, in gateway.Inbound, call contracts.NativeCall) (*gateway.Signed, *contracts.InboundCall, error)
	GetCase(ctx context.Context, p gateway.Principal, id string) (*contracts.CaseView, error)
	SubmitBundle(ctx context.Context, in gateway.Inbound) (*gateway.Signed, error)
	Evaluate(ctx context.Context, caseID string, in gateway.Inbound) (*gateway.Signed, error)
	ReplyFollowUp(ctx context.Context, caseID string, in gateway.Inbound) (*gateway.Signed, error)
	Catalogue(ctx context.Context, p gateway.Principal) (*contracts.Catalogue, error)
}

// Licenses verifies licenses and lists usage records (implemented by
// *licenses.Service).
type Licenses interface {
	VerifyLicense(ctx context.Context, in gateway.Inbound) (*gateway.Signed, error)
	VerifyLicenseBatch(ctx context.Context, in gateway.Inbound) (*gateway.Signed, error)
	ListUsage(ctx context.Context, p gateway.Principal, f licenses.UsageFilter) (*contracts.UsageRecordPage, error)
}

// Mailbox hands pulling partners their messages and takes their
// acknowledgements (implemented by *outbox.Mailbox).
type Mailbox interface {
	Poll(ctx context.Context, p gateway.Principal, q outbox.Query) (*contracts.MailboxBatch, error)
	Ack(ctx context.Context, in gateway.Inbound) (*contracts.MailboxAckResult, error)
}

// Redelivery lists what waits for operators and puts dead letters back in
// the outbox (implemented by *outbox.Redelivery).
type Redelivery interface {
	ListDeliveries(ctx context.Context, p gateway.Principal, f outbox.DeliveryFilter) (*contracts.DeliveryPage, error)
	Redeliver(ctx context.Context, p gateway.Principal, deliveryID string) (*contracts.RedeliverResult, error)
	RedeliverPartner(ctx context.Context, p gateway.Principal, partnerID string) (*contracts.RedeliverResult, error)
}

// Audit answers auditors and records refused requests (implemented by
// *evidence.Auditor).
type Audit interface {
	SearchExchanges(ctx context.Context, p gateway.Principal, f evidence.ExchangeFilter) (*contracts.ExchangePage, error)
	TraceCase(ctx context.Context, p gateway.Principal, caseID string) (*contracts.CaseTrace, error)
	VerifyEvidence(ctx context.Context, p gateway.Principal, from, to int64) (*contracts.ChainVerifyResult, error)
	ExportCase(ctx context.Context, p gateway.Principal, caseID string) ([]byte, error)
	RecordDenial(ctx context.Context, d evidence.Denial)
}

// Partners shows operators every partner's state: delivery health,
// circuit, queue depth (implemented by *outbox.Outbox).
type Partners interface {
	ListPartners(ctx context.Context, p gateway.Principal) (*contracts.PartnerList, error)
}

// Keys shows the keys in force and changes a caller's keys at runtime
// (implemented by *keyring.Admin, which also offers Add for a console
// that authenticates its operators itself).
type Keys interface {
	ListKeys(ctx context.Context, p gateway.Principal) (*contracts.KeyList, error)
	AddKey(ctx context.Context, in gateway.Inbound) (*contracts.KeyInfo, error)
	RevokeKey(ctx context.Context, p gateway.Principal, caller, keyID string) (*contracts.KeyInfo, error)
}

// Reloader reads the configuration file again and puts its partners and
// keys in force (implemented by the application, app.Gateway, which
// opened the gateway from the file). It authorizes p itself; the HTTP
// layer also checks gateway.ActReload before calling it.
type Reloader interface {
	Reload(ctx context.Context, p gateway.Principal) (*contracts.ReloadResult, error)
}

// Package gateway is Tongban's domain kernel: the model (cases, exchanges,
// deliveries, history, usage entries), the case lifecycle (CanReport),
// authorization (Authorize), the directory of partners and its routing,
// the caller-facing errors, the domain's defaults, and the ports the
// sub-domains need.
//
// The ports are small role interfaces: the store by role (CaseStore,
// OutboxStore, MailboxStore, UsageStore, EvidenceLog, AuditReader; Store
// embeds them all), ChainLinker (how a store links evidence records),
// Recorder (the evidence records of each step), Crypto and KeyDirectory
// (SM2/SM3 and the caller tokens, implemented by gateway/keyring over
// package signing), Clock, Telemetry (injected tracer and meter
// providers), and the AckEffect hook through which an acknowledged
// delivery changes its case. What a partner's adapter offers is defined
// once in gateway/port.
//
// Around the kernel, one package per sub-domain: gateway/cases,
// gateway/licenses, gateway/outbox and gateway/evidence. They import the
// kernel and never each other; gateway/node assembles them. The kernel
// imports no sub-domain, adapter, store implementation, echo or SM
// library (cmd/tongban's layout test keeps it so).
package gateway

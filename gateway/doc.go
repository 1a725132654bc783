// Package gateway is Tongban's domain core: the case lifecycle and delivery
// state machines, idempotent acceptance of exchanges, authorization, and the
// outbox dispatcher that delivers every case and status update until the
// partner acknowledges it.
//
// The core speaks in domain terms and defines the ports it needs: Store
// (durable state), Adapter (one partner's protocol), Signer and Keys (SM2
// signatures and caller tokens) and Clock. Implementations live at the edges
// (gateway/store/..., adapters/..., signing) and are wired together by
// cmd/tongban; the core never imports them.
package gateway

// Package evidence keeps the gateway's tamper-evident evidence log: it
// builds the record of every step (Recorder), links records into one hash
// chain (Linker, which every store calls inside the write that appends
// them, so no store computes a hash of its own), signs the head from time
// to time (Checkpointer), walks the chain and names the first bad record
// (ChainVerifier), and answers auditors (Auditor: search, case trace,
// chain verification, evidence bundles) and records access denials and
// the gateway's start.
//
// The bundle's file layout is a contract (contracts.Bundle*): this
// package writes bundles, gateway/bundle reads and checks them offline.
package evidence

// Package devrig is the loopback rig of the development tools: it writes
// SM2 dev keys, builds the configuration of a gateway on loopback with
// simulated partner districts (config.Config values, written to
// config.yaml by marshalling the struct), runs the simulated districts
// (partnersim) and the gateway (app), and signs the sample cases and
// tokens their callers send. The demo, the benches and the end-to-end
// tests all build their gateways here. Nothing in it is for a gateway in
// service: its keys are dev keys, and it talks to loopback only.
package devrig

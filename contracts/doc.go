// Package contracts holds Tongban's v1 wire contract: the Go types of every
// JSON body that crosses the gateway's edge, the OpenAPI 3.1 description of
// the surface (embedded, served at GET /v1/openapi.yaml), the stable list of
// error codes, and validators for the identifiers the standards fix
// (GB/T 2260 region codes, GB 11643 citizen ids, GB 32100 unified social
// credit codes, GB/T 36904 e-license identifiers, GB/T 36903 holder id types).
//
// The package imports only the standard library, so that partner SDKs,
// adapters and tools can depend on it without pulling the gateway's
// dependencies; a test in the module root keeps it so.
package contracts

package contracts

import _ "embed"

// OpenAPI is the OpenAPI 3.1 description of the gateway's v1 surface, the
// YAML text of contracts/openapi.yaml. The gateway serves it unchanged at
// GET /v1/openapi.yaml. Tests keep every schema in it in step with the Go
// types of this package. Callers must not modify the slice.
//
//go:embed openapi.yaml
var OpenAPI []byte

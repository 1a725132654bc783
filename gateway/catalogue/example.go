package catalogue

import _ "embed"

// Example is the example catalogue of the demo districts (example.yaml,
// also at deploy/catalogue.example.yaml): real-shaped items, not an
// official list. The demo writes it to its directory and loads it.
//
//go:embed example.yaml
var Example []byte

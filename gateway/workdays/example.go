package workdays

import _ "embed"

// Example2026 is the example calendar of 2026 (cn-2026.example.yaml, also
// at deploy/calendar/cn-2026.example.yaml), labelled as an example: a
// deployment takes its calendar from the State Council's notice of the
// year. The demo writes it to its directory and loads it.
//
//go:embed cn-2026.example.yaml
var Example2026 []byte

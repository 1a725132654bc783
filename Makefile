# Build files for Tongban. `make build` stamps the version (git describe)
# into the binary, as the container image does; `go build` alone reports
# the module's build information instead.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: build test vet

build:
	CGO_ENABLED=0 go build -trimpath -ldflags "$(LDFLAGS)" -o bin/tongban ./cmd/tongban

vet:
	go vet ./...

test: vet
	go test ./...

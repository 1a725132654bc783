package httpapi

import (
	"bytes"
	"io"
	"runtime"
	"strings"
	"testing"
)

func TestReadBody(t *testing.T) {
	body := []byte(`{"exchange_id":"0193a5b0-0000-7000-8000-000000000001"}`)
	tests := []struct {
		name    string
		r       io.Reader
		n       int64
		want    []byte
		wantErr string
	}{
		{"known length", bytes.NewReader(body), int64(len(body)), body, ""},
		{"unknown length (chunked)", bytes.NewReader(body), -1, body, ""},
		{"empty", bytes.NewReader(nil), 0, []byte{}, ""},
		{"shorter than declared", bytes.NewReader(body[:10]), int64(len(body)), nil, "unexpected EOF"},
		{"longer than declared", bytes.NewReader(body), 10, nil, "longer than its Content-Length"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readBody(tt.r, tt.n)
			switch {
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %q, %v; want an error saying %q", got, err, tt.wantErr)
				}
			case err != nil || !bytes.Equal(got, tt.want):
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// TestReadBodyHoldsALargeBodyOnce: a body of known length is read into one
// buffer of its size, not grown by copying as io.ReadAll grows its own
// (which allocates more than twice the body on the way).
func TestReadBodyHoldsALargeBodyOnce(t *testing.T) {
	const size = 8 << 20
	body := bytes.Repeat([]byte("a"), size)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	got, err := readBody(io.NopCloser(bytes.NewReader(body)), size)
	runtime.ReadMemStats(&after)
	if err != nil || len(got) != size {
		t.Fatalf("read %d bytes, %v", len(got), err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > size+size/8 {
		t.Errorf("reading a body of %d bytes allocated %d bytes, want at most %d (one buffer of its size)", size, alloc, size+size/8)
	}
}

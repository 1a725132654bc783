package contracts

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"
)

// content returns n pseudo-random bytes.
func content(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	r.Read(b)
	return b
}

func delivery(ms ...Material) *CaseDelivery {
	return &CaseDelivery{
		DeliveryID: "0193a5b0-0000-7000-8000-0000000000d1", CaseID: "0193a5b0-0000-7000-8000-0000000000c1",
		ExchangeID: "0193a5b0-0000-7000-8000-000000000001", SenderRegion: "320404",
		SentAt: time.Date(2026, 11, 3, 9, 0, 0, 123, time.UTC),
		Submission: CaseSubmission{ExchangeID: "0193a5b0-0000-7000-8000-000000000001", FromRegion: "320404", ToRegion: "330702",
			Applicant: Party{Name: "王秀英 <&> \u2028"}, Form: json.RawMessage(`{"a": [1, 2]}`), Materials: ms},
	}
}

// TestMarshalCaseDeliveryIsJSONMarshal: the bytes are json.Marshal's,
// whatever the materials hold.
func TestMarshalCaseDeliveryIsJSONMarshal(t *testing.T) {
	big := content(300<<10, 1)
	tests := []struct {
		name string
		d    *CaseDelivery
	}{
		{"no materials", delivery()},
		{"small inline material", delivery(Material{MaterialID: "M01", Content: content(100, 2)})},
		{"one large material", delivery(Material{MaterialID: "M01", Name: "扫描件", MediaType: "application/pdf", Size: int64(len(big)), SM3: "ab", Content: big})},
		{"large, by URL, empty and small, in that order", delivery(
			Material{MaterialID: "M01", Content: big},
			Material{MaterialID: "M02", URL: "https://example.gov.cn/m/2"},
			Material{MaterialID: "M03", Content: []byte{}},
			Material{MaterialID: "M04", Content: content(1, 3)},
			Material{MaterialID: "M05", Content: content(70<<10, 4)})},
		{"sizes around base64's padding", delivery(
			Material{MaterialID: "M01", Content: content(64<<10, 5)},
			Material{MaterialID: "M02", Content: content(64<<10+1, 6)},
			Material{MaterialID: "M03", Content: content(64<<10+2, 7)})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := json.Marshal(tt.d)
			if err != nil {
				t.Fatal(err)
			}
			before := bytes.Clone(want)
			got, err := MarshalCaseDelivery(tt.d)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("got %d bytes, want json.Marshal's %d bytes:\n%.300s\n%.300s", len(got), len(want), got, want)
			}
			if again, _ := json.Marshal(tt.d); !bytes.Equal(again, before) {
				t.Fatal("MarshalCaseDelivery changed the delivery it was given")
			}
		})
	}
}

// TestMarshalCaseDeliveryBuildsOneBuffer: a large case is built in one
// buffer of its final size, not in a buffer grown by doubling and copied.
func TestMarshalCaseDeliveryBuildsOneBuffer(t *testing.T) {
	const size = 8 << 20
	d := delivery(Material{MaterialID: "M01", Content: content(size, 9)})
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	got, err := MarshalCaseDelivery(d)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > uint64(len(got))+64<<10 {
		t.Errorf("a case delivery of %d bytes allocated %d bytes to build, want at most %d (its own buffer)", len(got), alloc, len(got)+64<<10)
	}
}

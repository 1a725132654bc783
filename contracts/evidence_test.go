package contracts

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestEvidenceCanonicalAndLine(t *testing.T) {
	r := EvidenceRecord{
		Seq: 7, At: time.Date(2026, 3, 14, 9, 30, 0, 123, time.UTC), Actor: "320404", Event: EventCaseReceived,
		ExchangeID: "0195f3a0-0001-7001-8001-000000000001", CaseID: "c1", Kind: ExchangeKindCase,
		Detail: json.RawMessage(`{"state":"received","note":"<&>"}`), PrevHash: ZeroHash, Hash: strings.Repeat("f", 64),
	}
	canon, err := r.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(canon, []byte(`"prev_hash":"`+ZeroHash+`","hash":""}`)) {
		t.Fatalf("canonical form %s does not end with the prev_hash and an empty hash", canon)
	}
	hash := strings.Repeat("ab", 32)
	line, err := EvidenceLine(canon, hash)
	if err != nil {
		t.Fatal(err)
	}
	var back EvidenceRecord
	if err := json.Unmarshal(line, &back); err != nil || back.Hash != hash || back.Seq != 7 {
		t.Fatalf("line %s reads back as %+v, %v", line, back, err)
	}
	c2, h2, err := SplitEvidenceLine(append(line, '\n'))
	if err != nil || !bytes.Equal(c2, canon) || h2 != hash {
		t.Fatalf("SplitEvidenceLine = %s, %s, %v", c2, h2, err)
	}
	for _, bad := range []string{``, `{}`, `{"hash":""}`, `{"hash":"` + strings.Repeat("A", 64) + `"}`, string(canon)} {
		if _, _, err := SplitEvidenceLine([]byte(bad)); err == nil {
			t.Errorf("SplitEvidenceLine(%q) succeeded", bad)
		}
	}
	if _, err := EvidenceLine([]byte(`{"seq":1}`), hash); err == nil {
		t.Error("EvidenceLine accepted a form that is not canonical")
	}
}

func TestCheckpointCanonical(t *testing.T) {
	c := Checkpoint{Seq: 42, HeadHash: strings.Repeat("0a", 32), At: time.Date(2026, 3, 14, 17, 30, 0, 5, time.FixedZone("CST", 8*3600)), KeyID: "gateway"}
	want := "tongban-evidence-checkpoint/v1\nseq=42\nhead_hash=" + strings.Repeat("0a", 32) + "\nat=2026-03-14T09:30:00.000000005Z\nkey_id=gateway\n"
	if got := string(c.Canonical()); got != want {
		t.Errorf("Canonical() =\n%s\nwant\n%s", got, want)
	}
	c.Signature = []byte{1, 2, 3}
	if got := string(c.Canonical()); got != want {
		t.Error("the signature changes the canonical form")
	}
}

func FuzzSplitEvidenceLine(f *testing.F) {
	f.Add([]byte(`{"seq":1,"prev_hash":"","hash":"` + strings.Repeat("0", 64) + `"}`))
	f.Add([]byte(`"hash":"`))
	f.Fuzz(func(t *testing.T, line []byte) {
		canon, hash, err := SplitEvidenceLine(line)
		if err != nil {
			return
		}
		back, err := EvidenceLine(canon, hash)
		if err != nil || !bytes.Equal(back, bytes.TrimRight(line, "\r\n")) {
			t.Fatalf("EvidenceLine(SplitEvidenceLine(%q)) = %q, %v", line, back, err)
		}
	})
}

func TestChainFields(t *testing.T) {
	prev := strings.Repeat("0a", 32)
	for _, seq := range []int64{1, 9, 10, 123456789012345678} {
		r := EvidenceRecord{Seq: seq, At: time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC), Actor: "a", Event: "e",
			Detail: json.RawMessage(`{"prev_hash":"` + strings.Repeat("f", 64) + `"}`), CasePrevHash: strings.Repeat("c", 64), PrevHash: prev}
		canon, err := r.Canonical()
		if err != nil {
			t.Fatal(err)
		}
		gotSeq, gotPrev, ok := ChainFields(canon)
		if !ok || gotSeq != seq || gotPrev != prev {
			t.Errorf("seq %d: got %d, %q, %v; want %d, %q", seq, gotSeq, gotPrev, ok, seq, prev)
		}
	}
	good := `{"seq":7,"prev_hash":"` + prev + `","hash":""}`
	for _, bad := range []string{
		"", "{}", `{"seq":,` + good[8:], `{"seq":07,"prev_hash":"` + prev + `","hash":""}`,
		`{"seq":-7,"prev_hash":"` + prev + `","hash":""}`,
		`{"seq":7,"prev_hash":"` + strings.ToUpper(prev) + `","hash":""}`,
		`{"seq":7,"prev_hash":"` + prev + `","hash":"x"}`,
		`{"seq":7,"prev":"` + prev + `","hash":""}`,
		`{"seq":1234567890123456789,"prev_hash":"` + prev + `","hash":""}`,
		`{"seq":7 ,"prev_hash":"` + prev + `","hash":""}`,
	} {
		if _, _, ok := ChainFields([]byte(bad)); ok {
			t.Errorf("ChainFields(%q): ok, want refused", bad)
		}
	}
	if seq, p, ok := ChainFields([]byte(good)); !ok || seq != 7 || p != prev {
		t.Errorf("ChainFields(%q) = %d, %q, %v", good, seq, p, ok)
	}
}

func FuzzChainFields(f *testing.F) {
	f.Add([]byte(`{"seq":7,"prev_hash":"` + ZeroHash + `","hash":""}`))
	f.Add([]byte(`{"seq":1,"at":"2026-03-14T09:30:00Z","actor":"a","event":"e","prev_hash":"` + ZeroHash + `","hash":""}`))
	f.Add([]byte(`{"seq":`))
	f.Fuzz(func(t *testing.T, b []byte) {
		seq, prev, ok := ChainFields(b)
		if !ok {
			return
		}
		if seq < 0 || ValidateSM3Hex("prev_hash", prev) != nil || !bytes.HasSuffix(b, []byte(`"prev_hash":"`+prev+`","hash":""}`)) {
			t.Fatalf("ChainFields(%q) = %d, %q: not what the bytes hold", b, seq, prev)
		}
	})
}

package contracts

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
)

// inlineMarshalFloor is the total size of inline material contents from
// which MarshalCaseDelivery encodes them itself; below it json.Marshal's
// own buffer costs nothing worth sparing.
const inlineMarshalFloor = 64 << 10

// MarshalCaseDelivery returns exactly json.Marshal(d)'s bytes, built in one
// buffer of their final size. The materials' inline contents, most of a
// large case (base64 in JSON, 4/3 of their size), are encoded straight into
// that buffer: json.Marshal instead encodes the whole value into a buffer
// it grows by doubling, returns a copy of it and keeps the buffer pooled,
// holding a large case two to three times over on the way and after.
func MarshalCaseDelivery(d *CaseDelivery) ([]byte, error) {
	ms := d.Submission.Materials
	inline := 0
	for _, m := range ms {
		inline += len(m.Content)
	}
	if inline < inlineMarshalFloor {
		return json.Marshal(d)
	}
	// Marshal a copy whose contents are placeholders, each a random value
	// of its own whose base64 cannot occur anywhere else in the JSON by
	// chance (and is checked not to), then put each content's base64 in
	// its placeholder's place.
	var seed [8]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return nil, err
	}
	c := *d
	c.Submission.Materials = make([]Material, len(ms))
	tokens := make([][]byte, len(ms))
	for i, m := range ms {
		c.Submission.Materials[i] = m
		if len(m.Content) == 0 {
			continue
		}
		var ph [12]byte // 16 base64 characters, no padding
		copy(ph[:], seed[:])
		binary.BigEndian.PutUint32(ph[8:], uint32(i))
		c.Submission.Materials[i].Content = ph[:]
		tokens[i] = base64.StdEncoding.AppendEncode(nil, ph[:])
	}
	small, err := json.Marshal(&c)
	if err != nil {
		return nil, err
	}
	size := len(small)
	for i, tok := range tokens {
		if tok == nil {
			continue
		}
		if bytes.Count(small, tok) != 1 {
			return json.Marshal(d)
		}
		size += base64.StdEncoding.EncodedLen(len(ms[i].Content)) - len(tok)
	}
	out := make([]byte, 0, size)
	rest := small
	for i, tok := range tokens {
		if tok == nil {
			continue
		}
		before, after, found := bytes.Cut(rest, tok)
		if !found { // not in the materials' order: cannot happen
			return json.Marshal(d)
		}
		out = append(out, before...)
		out = base64.StdEncoding.AppendEncode(out, ms[i].Content)
		rest = after
	}
	return append(out, rest...), nil
}

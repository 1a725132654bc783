// Package bundle verifies evidence bundles offline: the zip archives
// the gateway's evidence.Auditor.ExportCase makes (GET /v1/audit/cases/{case_id}/export).
// It needs no gateway and no database, only the archive and, ideally, the
// gateway's public key from a source the auditor trusts.
//
// Verify checks, and names precisely what fails:
//
//   - the archive reads (every file's CRC), and nothing in it is missing
//     from the manifest or extra;
//   - manifest.sig is the gateway's signature over manifest.json, and every
//     file has the size and SM3 the manifest lists;
//   - every case record hashes to its chain hash (contracts.ChainHeader)
//     and links to the case's record before it (case_prev_hash);
//   - chain.jsonl runs from the case's last record, link after link
//     (seq, prev_hash, each link's hash; contracts.ChainLink, no content),
//     to the checkpoint, whose signature verifies and whose head hash is
//     the segment's last hash;
//   - every submission and status update body has the SM3 its record holds
//     and a valid signature by the key the record names; every receipt has
//     the recorded SM3 and the gateway's valid signature; every delivered
//     payload has the recorded SM3; every acknowledgement has the recorded
//     SM3 and a valid signature by the partner's key.
//
// A bundle proves that the records it holds are in the log the gateway
// signed, unchanged. It cannot prove that the case has no later records:
// the chain links carry no content, so the case's steps after the
// bundle's last record show only in a newer export or in the log.
package bundle

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/signing"
)

// Limits on what Verify reads, against hostile archives.
const (
	MaxFileSize  = 64 << 20  // one file, uncompressed
	MaxTotalSize = 512 << 20 // all files, uncompressed
	MaxFiles     = 100_000
)

// Options tune Verify.
type Options struct {
	// GatewayKey is the gateway's public key as the auditor knows it. nil:
	// the key in the bundle is used, and the report says that the bundle
	// vouches for itself.
	GatewayKey *signing.PublicKey
	// Engine hashes and verifies; nil means signing.Default.
	Engine *signing.Engine
}

// Problem is one thing that failed.
type Problem struct {
	File   string // the file in the archive, if one is concerned
	Seq    int64  // the evidence record concerned, if any
	Reason string
}

// String says where and what.
func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(strings.Trim(strconv.Quote(p.File), `"`)) // a crafted name cannot fake output lines
	}
	if p.Seq > 0 {
		if b.Len() > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "record %d", p.Seq)
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	b.WriteString(p.Reason)
	return b.String()
}

// Report is what Verify found.
type Report struct {
	Manifest contracts.ExportManifest
	// TrustedKey says whether the gateway key came from Options (true) or
	// only from the bundle itself (false).
	TrustedKey bool
	// Records and ChainRecords count the case's records and the chain
	// segment's; Checkpoint is the checkpoint that covers them.
	Records, ChainRecords int
	Checkpoint            *contracts.Checkpoint
	// Signatures counts the signatures that verified; Files the files
	// whose digest matched the manifest.
	Signatures, Files int
	Problems          []Problem
}

// OK reports whether nothing failed.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// verifier is one run of Verify.
type verifier struct {
	eng   *signing.Engine
	files map[string][]byte
	keys  map[string]*signing.PublicKey
	rep   *Report
	gwKey *signing.PublicKey
}

func (v *verifier) fail(file string, seq int64, format string, args ...any) {
	v.rep.Problems = append(v.rep.Problems, Problem{File: file, Seq: seq, Reason: fmt.Sprintf(format, args...)})
}

func (v *verifier) sm3(b []byte) string { return hex.EncodeToString(v.eng.SM3(b)) }

// Verify checks the bundle in r (size bytes). Everything that fails, an
// archive that cannot be read included, is a Problem of the report.
func Verify(r io.ReaderAt, size int64, o Options) *Report {
	if o.Engine == nil {
		o.Engine = signing.Default
	}
	v := &verifier{eng: o.Engine, files: map[string][]byte{}, keys: map[string]*signing.PublicKey{},
		rep: &Report{}}
	zr, err := zip.NewReader(r, size)
	if err != nil {
		v.fail("", 0, "not a readable zip archive: %v", err)
		return v.rep
	}
	if len(zr.File) > MaxFiles {
		v.fail("", 0, "the archive holds %d files, more than %d", len(zr.File), MaxFiles)
		return v.rep
	}
	if !v.read(zr) {
		return v.rep
	}
	if !v.manifest(o.GatewayKey) {
		return v.rep
	}
	v.loadKeys()
	records := v.caseRecords()
	v.chain(records)
	for _, rec := range records {
		v.recordFiles(rec)
	}
	return v.rep
}

// read loads every file, reporting damaged and duplicate ones.
func (v *verifier) read(zr *zip.Reader) bool {
	var total int64
	for _, f := range zr.File {
		if _, dup := v.files[f.Name]; dup {
			v.fail(f.Name, 0, "the archive holds two files of this name")
			continue
		}
		rc, err := f.Open()
		if err != nil {
			v.fail(f.Name, 0, "cannot be read (the archive is damaged): %v", err)
			continue
		}
		data, err := io.ReadAll(io.LimitReader(rc, MaxFileSize+1))
		rc.Close()
		switch {
		case err != nil:
			v.fail(f.Name, 0, "cannot be read (the archive is damaged): %v", err)
			continue
		case len(data) > MaxFileSize:
			v.fail(f.Name, 0, "larger than %d bytes", MaxFileSize)
			continue
		}
		if total += int64(len(data)); total > MaxTotalSize {
			v.fail("", 0, "the archive holds more than %d bytes", MaxTotalSize)
			return false
		}
		v.files[f.Name] = data
	}
	return true
}

// manifest checks manifest.json, its signature and the files it lists.
func (v *verifier) manifest(trusted *signing.PublicKey) bool {
	const mName, sName = contracts.BundleManifest, contracts.BundleManifestSig
	raw, ok := v.files[mName]
	if !ok {
		v.fail(mName, 0, "missing")
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	m := &v.rep.Manifest
	if err := dec.Decode(m); err != nil {
		v.fail(mName, 0, "not a manifest: %v", err)
		return false
	}
	if m.KeyID == "" {
		v.fail(mName, 0, "names no key_id")
		return false
	}
	keyFile := contracts.BundleKeys + m.KeyID + contracts.BundleKeyExt
	var bundled *signing.PublicKey
	if pemData, ok := v.files[keyFile]; ok {
		k, err := signing.ParsePublicKeyPEM(pemData)
		if err != nil {
			v.fail(keyFile, 0, "not an SM2 public key: %v", err)
			if trusted == nil {
				return false // nothing to check the manifest with
			}
		}
		bundled = k
	}
	switch {
	case trusted != nil:
		v.gwKey, v.rep.TrustedKey = trusted, true
		if bundled != nil && !bundled.Equal(trusted) {
			v.fail(keyFile, 0, "the gateway key in the bundle is not the gateway key given to check against")
		}
	case bundled != nil:
		v.gwKey = bundled
	default:
		v.fail(keyFile, 0, "missing: the gateway's key %q is needed to check the manifest", m.KeyID)
		return false
	}
	v.keys[m.KeyID] = v.gwKey
	sig, ok := v.files[sName]
	switch {
	case !ok:
		v.fail(sName, 0, "missing")
		return false
	case v.eng.Verify(v.gwKey, raw, sig) != nil:
		v.fail(sName, 0, "is not the gateway's valid signature (key %s) over manifest.json: the manifest was changed, or signed by another key", m.KeyID)
		return false
	}
	v.rep.Signatures++
	listed := map[string]bool{mName: true, sName: true}
	for _, f := range m.Files {
		listed[f.Name] = true
		data, ok := v.files[f.Name]
		switch {
		case !ok:
			v.fail(f.Name, 0, "listed in the manifest but missing from the archive")
		case int64(len(data)) != f.Size:
			v.fail(f.Name, 0, "is %d bytes; the manifest says %d (the file was changed)", len(data), f.Size)
		case v.sm3(data) != f.SM3:
			v.fail(f.Name, 0, "SM3 %s does not match the manifest's %s (the file was changed)", v.sm3(data), f.SM3)
		default:
			v.rep.Files++
		}
	}
	names := make([]string, 0, len(v.files))
	for name := range v.files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if !listed[name] {
			v.fail(name, 0, "not listed in the manifest (added to the archive)")
		}
	}
	return true
}

// loadKeys parses keys/*.pub.
func (v *verifier) loadKeys() {
	names := make([]string, 0, len(v.files))
	for name := range v.files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		data := v.files[name]
		id, ok := strings.CutPrefix(name, contracts.BundleKeys)
		if !ok || !strings.HasSuffix(id, contracts.BundleKeyExt) {
			continue
		}
		id = strings.TrimSuffix(id, contracts.BundleKeyExt)
		if _, done := v.keys[id]; done {
			continue
		}
		k, err := signing.ParsePublicKeyPEM(data)
		if err != nil {
			v.fail(name, 0, "not an SM2 public key: %v", err)
			continue
		}
		v.keys[id] = k
	}
}

// line is one parsed evidence line.
type line struct {
	rec       contracts.EvidenceRecord
	canonical []byte
	detail    contracts.EvidenceDetail
}

// lines parses a JSON-lines file of evidence records, checking each
// record's hash; a record that fails is reported and left out.
func (v *verifier) lines(name string) ([]line, bool) {
	data, ok := v.files[name]
	if !ok {
		v.fail(name, 0, "missing")
		return nil, false
	}
	var out []line
	for i, raw := range bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n")) {
		if len(raw) == 0 {
			v.fail(name, 0, "line %d is empty", i+1)
			return out, false
		}
		canonical, hash, err := contracts.SplitEvidenceLine(raw)
		if err != nil {
			v.fail(name, 0, "line %d: %v", i+1, err)
			return out, false
		}
		var l line
		if err := json.Unmarshal(raw, &l.rec); err != nil {
			v.fail(name, 0, "line %d: not an evidence record: %v", i+1, err)
			return out, false
		}
		seq, prev, ok := contracts.ChainFields(canonical)
		if !ok || seq != l.rec.Seq || prev != l.rec.PrevHash {
			v.fail(name, l.rec.Seq, "not an evidence record in canonical form")
			return out, false
		}
		if got := v.sm3(contracts.ChainHeader(seq, prev, v.sm3(canonical))); got != hash {
			v.fail(name, l.rec.Seq, "hash mismatch: the record hashes to %s, not to its hash %s (the record was changed)", got, hash)
			return out, false
		}
		if len(l.rec.Detail) > 0 {
			if err := json.Unmarshal(l.rec.Detail, &l.detail); err != nil {
				v.fail(name, l.rec.Seq, "detail is not a JSON object: %v", err)
			}
		}
		l.canonical = canonical
		out = append(out, l)
	}
	return out, true
}

// caseRecords checks evidence.jsonl: the case's records, each linking to
// the one before.
func (v *verifier) caseRecords() []line {
	const name = contracts.BundleEvidence
	recs, _ := v.lines(name)
	m := v.rep.Manifest
	var prev *line
	for i := range recs {
		r := &recs[i]
		switch {
		case r.rec.CaseID != m.CaseID:
			v.fail(name, r.rec.Seq, "belongs to case %q, not to case %q", r.rec.CaseID, m.CaseID)
		case prev == nil && r.rec.Seq != m.FromSeq:
			v.fail(name, r.rec.Seq, "the first record is %d; the manifest says %d", r.rec.Seq, m.FromSeq)
		case prev == nil && r.rec.CasePrevHash != "":
			v.fail(name, r.rec.Seq, "links to an earlier record of the case (case_prev_hash %s) that the bundle lacks", r.rec.CasePrevHash)
		case prev != nil && r.rec.Seq <= prev.rec.Seq:
			v.fail(name, r.rec.Seq, "comes after record %d (records were reordered)", prev.rec.Seq)
		case prev != nil && r.rec.CasePrevHash != prev.rec.Hash:
			v.fail(name, r.rec.Seq, "does not link to the case's record %d before it (a record was changed, removed, inserted or reordered)", prev.rec.Seq)
		}
		prev = r
	}
	v.rep.Records = len(recs)
	if len(recs) == 0 {
		v.fail(name, 0, "holds no record")
	}
	return recs
}

// links parses chain.jsonl: contracts.ChainLink lines, each with a
// valid hash; a link that fails is reported and ends the list.
func (v *verifier) links(name string) ([]contracts.ChainLink, bool) {
	data, ok := v.files[name]
	if !ok {
		v.fail(name, 0, "missing")
		return nil, false
	}
	var out []contracts.ChainLink
	for i, raw := range bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n")) {
		raw = bytes.TrimRight(raw, "\r")
		if len(raw) == 0 {
			v.fail(name, 0, "line %d is empty", i+1)
			return out, false
		}
		var l contracts.ChainLink
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l); err != nil || dec.More() {
			v.fail(name, 0, "line %d: not a chain link (seq, prev_hash, content_sm3, hash)", i+1)
			return out, false
		}
		for _, h := range []string{l.PrevHash, l.ContentSM3, l.Hash} {
			if contracts.ValidateSM3Hex("hash", h) != nil {
				v.fail(name, l.Seq, "a hash that is not 64 lowercase hex digits")
				return out, false
			}
		}
		if got := v.sm3(contracts.ChainHeader(l.Seq, l.PrevHash, l.ContentSM3)); got != l.Hash {
			v.fail(name, l.Seq, "hash mismatch: the link hashes to %s, not to its hash %s (the record was changed)", got, l.Hash)
			return out, false
		}
		out = append(out, l)
	}
	return out, true
}

// chain checks chain.jsonl and the checkpoint it ends at. It proves that
// the case's records are in the log the checkpoint signed; it cannot
// prove that the case has no records after the last one in the bundle
// (the links carry no content).
func (v *verifier) chain(records []line) {
	const name, cpName = contracts.BundleChain, contracts.BundleCheckpoints
	seg, ok := v.links(name)
	v.rep.ChainRecords = len(seg)
	if !ok || len(seg) == 0 {
		if ok {
			v.fail(name, 0, "holds no record")
		}
		return
	}
	if len(records) > 0 {
		last := records[len(records)-1]
		if first := seg[0]; first.Seq != last.rec.Seq || first.Hash != last.rec.Hash ||
			first.PrevHash != last.rec.PrevHash || first.ContentSM3 != v.sm3(last.canonical) {
			v.fail(name, first.Seq, "the segment does not start at the case's last record %d", last.rec.Seq)
		}
	}
	for i := 1; i < len(seg); i++ {
		r, p := seg[i], seg[i-1]
		switch {
		case r.Seq != p.Seq+1:
			v.fail(name, r.Seq, "follows record %d (records are missing or reordered)", p.Seq)
			return
		case r.PrevHash != p.Hash:
			v.fail(name, r.Seq, "does not link to record %d (prev_hash differs: a record was changed, removed or inserted)", p.Seq)
			return
		}
	}
	m := v.rep.Manifest
	end := seg[len(seg)-1]
	var cps []contracts.Checkpoint
	if err := json.Unmarshal(v.files[cpName], &cps); err != nil {
		v.fail(cpName, 0, "not a list of checkpoints: %v", err)
		return
	}
	var cp *contracts.Checkpoint
	for i := range cps {
		if cps[i].Seq == m.ToSeq {
			cp = &cps[i]
		}
	}
	switch {
	case cp == nil:
		v.fail(cpName, 0, "holds no checkpoint of record %d, where the manifest says the bundle ends", m.ToSeq)
		return
	case end.Seq != cp.Seq:
		v.fail(name, end.Seq, "the segment ends at record %d; the checkpoint is of record %d", end.Seq, cp.Seq)
		return
	case end.Hash != cp.HeadHash:
		v.fail(cpName, cp.Seq, "the checkpoint signed head hash %s; record %d hashes to %s (the log was rewritten)", cp.HeadHash, cp.Seq, end.Hash)
		return
	case m.HeadHash != cp.HeadHash:
		v.fail(contracts.BundleManifest, cp.Seq, "head_hash differs from the checkpoint's")
	}
	v.rep.Checkpoint = cp
	key := v.keys[cp.KeyID]
	switch {
	case cp.KeyID != m.KeyID && !slices.Contains(m.GatewayKeys, cp.KeyID):
		v.fail(cpName, cp.Seq, "the checkpoint is signed with key %q, which the manifest does not list as the gateway's", cp.KeyID)
	case key == nil:
		v.fail(cpName, cp.Seq, "the checkpoint's key %q is not in the bundle", cp.KeyID)
	case v.eng.Verify(key, cp.Canonical(), cp.Signature) != nil:
		v.fail(cpName, cp.Seq, "the checkpoint's signature does not verify with key %s", cp.KeyID)
	default:
		v.rep.Signatures++
	}
}

// find returns the name and bytes of the file prefix+".json" or
// prefix+".xml".
func (v *verifier) find(prefix string) (string, []byte, bool) {
	for _, ext := range []string{".json", ".xml"} {
		if b, ok := v.files[prefix+ext]; ok {
			return prefix + ext, b, true
		}
	}
	return prefix + ".json", nil, false
}

// signed checks that file name holds bytes with digest wantSM3 (when
// set) and that sigFile holds a valid signature of them by keyID. wantSig,
// when set, is the signature the evidence record holds (base64).
func (v *verifier) signed(seq int64, name string, data []byte, wantSM3, sigFile, keyID, wantSig string) {
	if wantSM3 != "" && v.sm3(data) != wantSM3 {
		v.fail(name, seq, "SM3 %s differs from %s that the evidence record holds (the body is not the one exchanged)", v.sm3(data), wantSM3)
		return
	}
	sig, ok := v.files[sigFile]
	if !ok {
		v.fail(sigFile, seq, "missing")
		return
	}
	if wantSig != "" {
		if rec, err := base64.StdEncoding.DecodeString(wantSig); err != nil || !bytes.Equal(rec, sig) {
			v.fail(sigFile, seq, "is not the signature the evidence record holds")
			return
		}
	}
	key := v.keys[keyID]
	if key == nil {
		v.fail(sigFile, seq, "cannot be checked: key %q is not in the bundle", keyID)
		return
	}
	if err := v.eng.Verify(key, data, sig); err != nil {
		v.fail(sigFile, seq, "does not verify over %s with key %s: %v", name, keyID, err)
		return
	}
	v.rep.Signatures++
}

// recordFiles checks the files one case record refers to.
func (v *verifier) recordFiles(l line) {
	r, d := l.rec, l.detail
	switch r.Event {
	case contracts.EventCaseReceived, contracts.EventStatusApplied, contracts.EventBundleReceived,
		contracts.EventEvaluationReceived, contracts.EventReplyReceived:
		name, body, ok := v.find(contracts.BundleBodies + r.ExchangeID)
		if !ok {
			v.fail(name, r.Seq, "missing: the body of exchange %s", r.ExchangeID)
		} else {
			v.signed(r.Seq, name, body, r.BodySM3, contracts.BundleBodies+r.ExchangeID+contracts.BundleSigExt, r.KeyID, d.Signature)
		}
		if name, receipt, ok := v.find(contracts.BundleReceipts + r.ExchangeID); !ok {
			v.fail(name, r.Seq, "missing: the receipt of exchange %s", r.ExchangeID)
		} else {
			v.signed(r.Seq, name, receipt, d.ReceiptSM3, contracts.BundleReceipts+r.ExchangeID+contracts.BundleSigExt, d.ReceiptKeyID, d.ReceiptSignature)
		}
		v.payload(r, d)
	case contracts.EventUsageRecorded, contracts.EventNoticeQueued, contracts.EventPartReleased, contracts.EventBundleConcluded:
		v.payload(r, d)
	case contracts.EventDeliveryAttempt:
		if d.AckSignature == "" {
			return
		}
		name, ack, ok := v.find(contracts.BundleAcks + r.DeliveryID)
		if !ok {
			v.fail(name, r.Seq, "missing: the acknowledgement of delivery %s", r.DeliveryID)
			return
		}
		v.signed(r.Seq, name, ack, d.AckSM3, contracts.BundleAcks+r.DeliveryID+contracts.BundleSigExt, d.AckKeyID, d.AckSignature)
	}
}

// payload checks the delivered payload of r's delivery.
func (v *verifier) payload(r contracts.EvidenceRecord, d contracts.EvidenceDetail) {
	if r.DeliveryID == "" || d.PayloadSM3 == "" {
		return
	}
	name := contracts.BundleDeliveries + r.DeliveryID + ".json"
	data, ok := v.files[name]
	switch {
	case !ok:
		v.fail(name, r.Seq, "missing: the payload of delivery %s", r.DeliveryID)
	case v.sm3(data) != d.PayloadSM3:
		v.fail(name, r.Seq, "SM3 %s differs from %s that the evidence record holds", v.sm3(data), d.PayloadSM3)
	}
}

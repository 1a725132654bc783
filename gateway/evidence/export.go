package evidence

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// MaxBundleChain bounds the records of a bundle's chain segment. With
// checkpoints every CheckpointOptions.Every records (1000 by default) a
// segment is that long at most; a longer one means the log went long
// without checkpoints, and the export refuses rather than build a huge
// archive.
const MaxBundleChain = 100_000

// bundleWriter collects the files of a bundle with their digests.
type bundleWriter struct {
	zw    *zip.Writer
	at    time.Time // every file's modification time: when the bundle was made
	sm3   func([]byte) string
	files []contracts.ExportFile
	names map[string]bool
}

// add writes one file unless a file of that name is already in.
func (b *bundleWriter) add(name string, data []byte) error {
	if b.names[name] {
		return nil
	}
	b.names[name] = true
	w, err := b.zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: b.at})
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		return err
	}
	b.files = append(b.files, contracts.ExportFile{Name: name, Size: int64(len(data)), SM3: b.sm3(data)})
	return nil
}

// ExportCase returns the evidence bundle of a case (auditors only): a zip
// archive that proves the case's history offline to anyone who holds the
// gateway's public key.
//
//   - evidence.jsonl: the case's evidence records (contracts.EvidenceLine),
//     oldest first. Each links to the case's record before it
//     (case_prev_hash), so they prove each other without the records of
//     other cases between them.
//   - chain.jsonl: the log from the case's last record to the first
//     signed checkpoint at or after it (a fresh one when there is none
//     yet), as contracts.ChainLink lines (seq, prev_hash, content SM3,
//     hash; no content): it ties the case's records to the checkpoint
//     without showing other cases' records.
//   - checkpoints.json: that checkpoint.
//   - bodies/<exchange_id>.json|.xml and .sig: every signed submission
//     and status update, byte for byte, with its signature;
//     receipts/<exchange_id>.json|.xml and .sig: the gateway's receipts;
//     deliveries/<delivery_id>.json: what the gateway delivered;
//     acks/<delivery_id>.json|.xml and .sig: the partners'
//     acknowledgements.
//   - keys/<key_id>.pub: every public key needed (PEM, SPKI).
//   - manifest.json (contracts.ExportManifest) lists every other file
//     with its SM3, and manifest.sig is the gateway's signature over it.
//
// A case with no evidence record is not_found.
func (s *Auditor) ExportCase(ctx context.Context, p gateway.Principal, caseID string) ([]byte, error) {
	if err := gateway.Authorize(p, gateway.ActAudit, nil, ""); err != nil {
		return nil, err
	}
	if err := contracts.ValidateOpaqueID("case_id", caseID); err != nil {
		return nil, gateway.FromField(err)
	}
	kd, ok := s.crypto.(gateway.KeyDirectory)
	if !ok {
		return nil, gateway.Internal(errors.New("export: the crypto port has no key directory"))
	}
	rows, err := s.store.CaseEvidence(ctx, caseID)
	if err != nil {
		return nil, gateway.Internal(err)
	}
	if len(rows) == 0 {
		return nil, gateway.Failf(contracts.CodeNotFound, "no evidence of case %s", caseID)
	}
	cp, err := s.coveringCheckpoint(ctx, kd, rows[len(rows)-1].Seq)
	if err != nil {
		return nil, gateway.Internal(err)
	}
	// Records of the case appended while the checkpoint was found belong
	// in the bundle too, up to the checkpoint: read them again.
	if rows, err = s.store.CaseEvidence(ctx, caseID); err != nil {
		return nil, gateway.Internal(err)
	}
	for len(rows) > 0 && rows[len(rows)-1].Seq > cp.Seq {
		rows = rows[:len(rows)-1]
	}
	last := rows[len(rows)-1]
	if cp.Seq-last.Seq >= MaxBundleChain {
		return nil, gateway.Internal(fmt.Errorf("export: %d records between the case's last record %d and the next checkpoint", cp.Seq-last.Seq, last.Seq))
	}

	var buf bytes.Buffer
	now := s.clock.Now().UTC()
	b := &bundleWriter{zw: zip.NewWriter(&buf), at: now, sm3: s.crypto.SM3Hex, names: map[string]bool{}}
	keys := map[string]bool{cp.KeyID: true, s.crypto.KeyID(): true}
	var lines bytes.Buffer
	for _, row := range rows {
		line, err := contracts.EvidenceLine(row.Record, row.Hash)
		if err != nil {
			return nil, gateway.Internal(fmt.Errorf("export: record %d: %w", row.Seq, err))
		}
		lines.Write(line)
		lines.WriteByte('\n')
		if err := s.exportRecordFiles(ctx, b, row, keys); err != nil {
			if gateway.CodeOf(err) == contracts.CodeDataShredded {
				return nil, err
			}
			return nil, gateway.Internal(err)
		}
	}
	if err := b.add(contracts.BundleEvidence, lines.Bytes()); err != nil {
		return nil, gateway.Internal(err)
	}
	lines.Reset()
	err = s.store.ScanEvidence(ctx, last.Seq, cp.Seq, func(r gateway.EvidenceRow) error {
		_, prev, ok := contracts.ChainFields(r.Record)
		if !ok {
			return fmt.Errorf("record %d is not in canonical form", r.Seq)
		}
		line, err := json.Marshal(contracts.ChainLink{Seq: r.Seq, PrevHash: prev, ContentSM3: s.crypto.SM3Hex(r.Record), Hash: r.Hash})
		if err != nil {
			return err
		}
		lines.Write(line)
		lines.WriteByte('\n')
		return nil
	})
	if err != nil {
		return nil, gateway.Internal(fmt.Errorf("export: chain: %w", err))
	}
	if err := b.add(contracts.BundleChain, lines.Bytes()); err != nil {
		return nil, gateway.Internal(err)
	}
	cpJSON, err := json.MarshalIndent([]contracts.Checkpoint{*cp}, "", "  ")
	if err != nil {
		return nil, gateway.Internal(err)
	}
	if err := b.add(contracts.BundleCheckpoints, cpJSON); err != nil {
		return nil, gateway.Internal(err)
	}
	ids := make([]string, 0, len(keys))
	for id := range keys {
		if id != "" {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	var gatewayKeys []string
	for _, id := range ids {
		_, pem, err := kd.PublicKeyPEM(id)
		if err != nil {
			continue // a key no longer registered: the verifier names what it cannot check
		}
		if err := b.add(contracts.BundleKeys+id+contracts.BundleKeyExt, pem); err != nil {
			return nil, gateway.Internal(err)
		}
		if kd.IsGatewayKey(id) {
			gatewayKeys = append(gatewayKeys, id)
		}
	}

	sort.Slice(b.files, func(i, j int) bool { return b.files[i].Name < b.files[j].Name })
	m := contracts.ExportManifest{
		CaseID: caseID, GatewayID: s.gatewayID, GeneratedAt: now, KeyID: s.crypto.KeyID(), GatewayKeys: gatewayKeys,
		FromSeq: rows[0].Seq, ToSeq: cp.Seq, HeadHash: cp.HeadHash, Files: b.files,
	}
	manifest, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, gateway.Internal(err)
	}
	sig, err := s.crypto.Sign(manifest)
	if err != nil {
		return nil, gateway.Internal(fmt.Errorf("export: sign manifest: %w", err))
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{contracts.BundleManifest, manifest}, {contracts.BundleManifestSig, sig}} {
		w, err := b.zw.CreateHeader(&zip.FileHeader{Name: f.name, Method: zip.Deflate, Modified: now})
		if err == nil {
			_, err = w.Write(f.data)
		}
		if err != nil {
			return nil, gateway.Internal(err)
		}
	}
	if err := b.zw.Close(); err != nil {
		return nil, gateway.Internal(err)
	}
	return buf.Bytes(), nil
}

// coveringCheckpoint returns the first checkpoint at or after seq signed
// with one of the gateway's keys (current or previous), making one of the
// head when there is none.
func (s *Auditor) coveringCheckpoint(ctx context.Context, kd gateway.KeyDirectory, seq int64) (*contracts.Checkpoint, error) {
	cps, err := s.store.Checkpoints(ctx, seq, seq+MaxBundleChain)
	if err != nil {
		return nil, err
	}
	for i := range cps {
		if kd.IsGatewayKey(cps[i].KeyID) {
			return &cps[i], nil
		}
	}
	cp, err := s.checkpoints.Checkpoint(ctx)
	if err != nil {
		return nil, err
	}
	if cp == nil || cp.Seq < seq {
		return nil, fmt.Errorf("no checkpoint covers record %d", seq)
	}
	return cp, nil
}

// exportRecordFiles adds the files one case record refers to: the signed
// body and receipt of an exchange, the delivered payload, the
// acknowledgement; and notes the keys they need.
func (s *Auditor) exportRecordFiles(ctx context.Context, b *bundleWriter, row gateway.EvidenceRow, keys map[string]bool) error {
	r, d, err := parseEvidence(row)
	if err != nil {
		return err
	}
	switch r.Event {
	case contracts.EventCaseReceived, contracts.EventStatusApplied, contracts.EventBundleReceived,
		contracts.EventEvaluationReceived, contracts.EventReplyReceived:
		ex, err := s.store.GetExchange(ctx, r.Actor, r.ExchangeID)
		if errors.Is(err, gateway.ErrNotFound) {
			return nil // the verifier reports the missing body
		}
		if err != nil {
			return err
		}
		if ex.Shredded {
			return shreddedErr(r.CaseID)
		}
		keys[r.KeyID], keys[d.ReceiptKeyID] = true, true
		base := r.ExchangeID
		for _, f := range []struct {
			name string
			data []byte
		}{
			{contracts.BundleBodies + base + mediaExt(ex.Body), ex.Body}, {contracts.BundleBodies + base + contracts.BundleSigExt, ex.Signature},
			{contracts.BundleReceipts + base + mediaExt(ex.Receipt), ex.Receipt}, {contracts.BundleReceipts + base + contracts.BundleSigExt, ex.ReceiptSig},
		} {
			if err := b.add(f.name, f.data); err != nil {
				return err
			}
		}
		return s.exportDelivery(ctx, b, r.DeliveryID)
	case contracts.EventUsageRecorded, contracts.EventNoticeQueued, contracts.EventPartReleased, contracts.EventBundleConcluded:
		return s.exportDelivery(ctx, b, r.DeliveryID)
	case contracts.EventDeliveryAttempt:
		if d.AckSignature == "" || r.DeliveryID == "" {
			return nil
		}
		keys[d.AckKeyID] = true
		del, err := s.store.GetDelivery(ctx, r.DeliveryID)
		if errors.Is(err, gateway.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := b.add(contracts.BundleAcks+del.ID+mediaExt(del.AckBody), del.AckBody); err != nil {
			return err
		}
		return b.add(contracts.BundleAcks+del.ID+contracts.BundleSigExt, del.AckSig)
	}
	return nil
}

// exportDelivery adds the payload of delivery id.
func (s *Auditor) exportDelivery(ctx context.Context, b *bundleWriter, id string) error {
	if id == "" {
		return nil
	}
	del, err := s.store.GetDelivery(ctx, id)
	if errors.Is(err, gateway.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if del.Shredded {
		return shreddedErr(del.CaseID)
	}
	return b.add(contracts.BundleDeliveries+del.ID+".json", del.Payload)
}

// shreddedErr is the answer to an export that needs a body or payload
// deleted under the retention policy.
func shreddedErr(caseID string) error {
	return gateway.Failf(contracts.CodeDataShredded,
		"case %s: its bodies were deleted under the retention policy; its evidence records and their hashes remain and verify", caseID)
}

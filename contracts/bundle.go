package contracts

// The file layout of an evidence bundle (GET /v1/audit/cases/{case_id}/export),
// defined once: the gateway writes it (gateway/evidence), the offline
// checker reads it (gateway/bundle and `tongban audit verify-bundle`).
const (
	// BundleManifest lists every other file with its size and SM3
	// (ExportManifest); BundleManifestSig is the gateway's DER signature
	// over it.
	BundleManifest    = "manifest.json"
	BundleManifestSig = "manifest.sig"
	// BundleEvidence holds the case's evidence records, one EvidenceLine
	// a line, oldest first.
	BundleEvidence = "evidence.jsonl"
	// BundleChain holds the chain from the case's last record to the
	// checkpoint, one ChainLink a line.
	BundleChain = "chain.jsonl"
	// BundleCheckpoints holds that checkpoint ([]Checkpoint).
	BundleCheckpoints = "checkpoints.json"
	// The folders of the bundle's other files; BundleSigExt ends the
	// signature beside a body, receipt or acknowledgement.
	BundleBodies     = "bodies/"     // bodies/<exchange_id>.json|.xml and .sig
	BundleReceipts   = "receipts/"   // receipts/<exchange_id>.json|.xml and .sig
	BundleDeliveries = "deliveries/" // deliveries/<delivery_id>.json
	BundleAcks       = "acks/"       // acks/<delivery_id>.json|.xml and .sig
	BundleKeys       = "keys/"       // keys/<key_id>.pub (PEM, SPKI)
	BundleSigExt     = ".sig"
	BundleKeyExt     = ".pub"
)

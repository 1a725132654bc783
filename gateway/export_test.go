package gateway

// SetVerifyRange lowers the records one VerifyEvidence call walks, so
// that tests see the bound without a million records.
func (s *Service) SetVerifyRange(n int64) { s.verifyRange = n }

package signing

import (
	"encoding/asn1"
	"math/big"
)

func bigZero() *big.Int             { return new(big.Int) }
func bigFrom(b []byte) *big.Int     { return new(big.Int).SetBytes(b) }
func (s Signature) mustDER() []byte { b, _ := asn1.Marshal(s); return b }

// Package signing holds everything Tongban does with SM2 and SM3: keys in the
// PEM forms OpenSSL reads and writes (PKCS#8, SPKI, X.509), signatures over
// exact bytes per GM/T 0009 (SM3 with the Z value of the default ID
// 1234567812345678, DER SEQUENCE{r, s}), the JWT method for alg "SM2", and
// the SM3 hash helpers of the evidence chain.
//
// It is the only package of the module that imports an SM library. Two
// engines implement the primitives: "emmansun" (github.com/emmansun/gmsm,
// constant time, assembly; the default because it measures faster) and
// "tjfoc" (github.com/tjfoc/gmsm). Signatures made by either verify with the
// other and with OpenSSL.
//
// Messages are hashed as streams: signing or verifying a 100 MiB body never
// holds it twice.
package signing

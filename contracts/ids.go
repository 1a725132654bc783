package contracts

import (
	"strings"
	"time"
	"unicode/utf8"
)

// This file validates the identifiers that Chinese national standards fix:
// GB/T 2260 region codes, GB 11643 citizen ids, GB 32100 unified social
// credit codes, GB/T 36904 e-license identifiers and GB/T 36903 holder id
// types.
//
// Every validator returns nil or a *FieldError with an empty Field, the
// code of the identifier kind, and a lower-case message that says what is
// wrong without repeating the value (identifiers may be personal data).
// Validators do not allocate when the value is valid.

// Holder id types of GB/T 36903 that the gateway accepts.
const (
	// HolderTypeCitizenID is the holder id type of a GB 11643 citizen id.
	HolderTypeCitizenID = "111"
	// HolderTypeCreditCode is the holder id type of a GB 32100 unified
	// social credit code.
	HolderTypeCreditCode = "001"
)

func idError(code Code, msg string) *FieldError {
	return &FieldError{Code: code, Message: msg}
}

// ValidateHolderType returns nil if t is HolderTypeCitizenID or
// HolderTypeCreditCode, and otherwise a *FieldError with code
// CodeInvalidHolderType.
func ValidateHolderType(t string) error {
	if t == HolderTypeCitizenID || t == HolderTypeCreditCode {
		return nil
	}
	return idError(CodeInvalidHolderType, "holder id type must be 111 (citizen id) or 001 (unified social credit code)")
}

// ValidateHolderID checks id as the kind of identifier holderType names: a
// citizen id (ValidateCitizenID) for HolderTypeCitizenID, a unified social
// credit code (ValidateCreditCode) for HolderTypeCreditCode. An unknown
// holderType yields a *FieldError with code CodeInvalidHolderType; otherwise
// the error, if any, is the one the dispatched validator returns.
func ValidateHolderID(holderType, id string) error {
	switch holderType {
	case HolderTypeCitizenID:
		return ValidateCitizenID(id)
	case HolderTypeCreditCode:
		return ValidateCreditCode(id)
	}
	return ValidateHolderType(holderType)
}

// ---- GB/T 2260 region codes ----

// isProvince reports whether the two bytes a, b form a province-level code
// of GB/T 2260: 11-15, 21-23, 31-37, 41-46, 50-54, 61-65, 71, 81 or 82.
func isProvince(a, b byte) bool {
	switch a {
	case '1':
		return b >= '1' && b <= '5'
	case '2':
		return b >= '1' && b <= '3'
	case '3':
		return b >= '1' && b <= '7'
	case '4':
		return b >= '1' && b <= '6'
	case '5':
		return b >= '0' && b <= '4'
	case '6':
		return b >= '1' && b <= '5'
	case '7':
		return b == '1'
	case '8':
		return b == '1' || b == '2'
	}
	return false
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// regionProblem returns why code is not a region code, or "" if it is one.
func regionProblem(code string) string {
	if len(code) != 6 || !allDigits(code) {
		return "must be six digits"
	}
	if !isProvince(code[0], code[1]) {
		return "first two digits are not a province-level code"
	}
	return ""
}

// ValidateRegion returns nil if code is a GB/T 2260 region code: exactly six
// ASCII digits whose first two digits are a province-level code (11-15,
// 21-23, 31-37, 41-46, 50-54, 61-65, 71, 81, 82). The city part (digits 3-4)
// and the county part (digits 5-6) may be 00. It does not consult the list
// of codes in force, so a well-formed code of an abolished or not yet
// created county passes. Otherwise it returns a *FieldError with code
// CodeInvalidRegion.
func ValidateRegion(code string) error {
	if msg := regionProblem(code); msg != "" {
		return idError(CodeInvalidRegion, msg)
	}
	return nil
}

// RegionLevel is the administrative level a GB/T 2260 code names. The zero
// value means the code is not a valid region code.
type RegionLevel int

// The levels of GB/T 2260 codes.
const (
	// Province is a province-level code, XX0000.
	Province RegionLevel = iota + 1
	// City is a prefecture-level code, XXYY00 with YY not 00.
	City
	// District is a county-level code (county, district, county-level
	// city), XXYYZZ with ZZ not 00.
	District
)

// String returns "province", "city" or "district", or "invalid" for the
// zero value and any other value.
func (l RegionLevel) String() string {
	switch l {
	case Province:
		return "province"
	case City:
		return "city"
	case District:
		return "district"
	}
	return "invalid"
}

// RegionLevelOf returns Province for XX0000, City for XXYY00 and District
// for any other valid code. For a code that fails ValidateRegion it returns
// the zero RegionLevel.
func RegionLevelOf(code string) RegionLevel {
	if regionProblem(code) != "" {
		return 0
	}
	switch {
	case code[2:] == "0000":
		return Province
	case code[4:] == "00":
		return City
	}
	return District
}

// RegionFallbacks returns the routing chain for code, most specific first:
// the district, its city and its province, leaving out levels the code does
// not have and never repeating a code. For example 320404 gives
// [320404 320400 320000], 320400 gives [320400 320000] and 320000 gives
// [320000]; a municipality's district such as 310116 gives
// [310116 310100 310000]. A county directly under a province with city part
// 00 (XX00ZZ) gives [XX00ZZ XX0000]. For a code that fails ValidateRegion it
// returns nil.
func RegionFallbacks(code string) []string {
	switch RegionLevelOf(code) {
	case Province:
		return []string{code}
	case City:
		return []string{code, code[:2] + "0000"}
	case District:
		if code[2:4] == "00" {
			return []string{code, code[:2] + "0000"}
		}
		// One string holds both parents: "XXYY00XX0000".
		parents := code[:4] + "00" + code[:2] + "0000"
		return []string{code, parents[:6], parents[6:]}
	}
	return nil
}

// ---- GB 11643 citizen ids ----

var citizenWeights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

// citizenCheck returns the check character of 17 ASCII digits.
func citizenCheck(first17 string) byte {
	sum := 0
	for i := 0; i < 17; i++ {
		sum += int(first17[i]-'0') * citizenWeights[i]
	}
	c := (12 - sum%11) % 11
	if c == 10 {
		return 'X'
	}
	return byte('0' + c)
}

// CitizenIDCheck returns the GB 11643 check character ('0'-'9' or 'X') for
// the first 17 characters of a citizen id. It returns a *FieldError with
// code CodeInvalidCitizenID if first17 is not exactly 17 ASCII digits; it
// does not check the region or the birth date.
func CitizenIDCheck(first17 string) (byte, error) {
	if len(first17) != 17 || !allDigits(first17) {
		return 0, idError(CodeInvalidCitizenID, "first 17 characters must be digits")
	}
	return citizenCheck(first17), nil
}

// chinaTime is China Standard Time, the zone birth dates are written in.
var chinaTime = time.FixedZone("CST", 8*60*60)

// todayYMD returns today's date in China as the number YYYYMMDD.
func todayYMD() int {
	y, m, d := time.Now().In(chinaTime).Date()
	return y*10000 + int(m)*100 + d
}

func atoiDigits(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}

func daysIn(year, month int) int {
	switch month {
	case 4, 6, 9, 11:
		return 30
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	}
	return 31
}

// ValidateCitizenID returns nil if id is an 18-character GB 11643 citizen id
// (公民身份号码): 17 ASCII digits and a check character that is a digit or an
// uppercase 'X'; characters 1-6 a region code that passes ValidateRegion;
// characters 7-14 a real calendar date YYYYMMDD from 1900-01-01 up to today
// in China Standard Time; and a check character that matches
// CitizenIDCheck. A lowercase 'x' is rejected: callers must normalise case
// before validating, so that the same person always has the same id.
// Fifteen-digit ids of the first generation are rejected. Otherwise it
// returns a *FieldError with code CodeInvalidCitizenID.
func ValidateCitizenID(id string) error {
	return validateCitizenID(id, todayYMD())
}

// validateCitizenID is ValidateCitizenID with today (YYYYMMDD) given.
func validateCitizenID(id string, today int) error {
	if len(id) != 18 {
		return idError(CodeInvalidCitizenID, "must be 18 characters")
	}
	if !allDigits(id[:17]) {
		return idError(CodeInvalidCitizenID, "first 17 characters must be digits")
	}
	last := id[17]
	if (last < '0' || last > '9') && last != 'X' {
		return idError(CodeInvalidCitizenID, "last character must be a digit or an uppercase X")
	}
	if regionProblem(id[:6]) != "" {
		return idError(CodeInvalidCitizenID, "region part is not a valid region code")
	}
	birth := atoiDigits(id[6:14])
	y, m, d := birth/10000, birth/100%100, birth%100
	if m < 1 || m > 12 || d < 1 || d > daysIn(y, m) {
		return idError(CodeInvalidCitizenID, "birth date is not a real date")
	}
	if birth < 19000101 {
		return idError(CodeInvalidCitizenID, "birth date is before 1900-01-01")
	}
	if birth > today {
		return idError(CodeInvalidCitizenID, "birth date is in the future")
	}
	if citizenCheck(id[:17]) != last {
		return idError(CodeInvalidCitizenID, "check character does not match")
	}
	return nil
}

// ---- GB 32100 unified social credit codes ----

// creditAlphabet is the GB 32100 alphabet; a character's value is its index.
// It leaves out I, O, S, V and Z.
const creditAlphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"

var creditWeights = [17]int{1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28}

// creditValue maps a byte to its value in creditAlphabet, or -1.
var creditValue = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i := 0; i < len(creditAlphabet); i++ {
		t[creditAlphabet[i]] = int8(i)
	}
	return t
}()

// creditCheck returns the check character of 17 characters of
// creditAlphabet, or 0 if one of them is not in it.
func creditCheck(first17 string) byte {
	sum := 0
	for i := 0; i < 17; i++ {
		v := creditValue[first17[i]]
		if v < 0 {
			return 0
		}
		sum += int(v) * creditWeights[i]
	}
	return creditAlphabet[(31-sum%31)%31]
}

const creditAlphabetMsg = "must use only digits and uppercase letters other than I, O, S, V and Z"

// CreditCodeCheck returns the GB 32100 check character for the first 17
// characters of a unified social credit code. It returns a *FieldError with
// code CodeInvalidCreditCode if first17 is not exactly 17 characters of the
// GB 32100 alphabet (digits and uppercase letters other than I, O, S, V, Z);
// it does not check the region part.
func CreditCodeCheck(first17 string) (byte, error) {
	if len(first17) != 17 {
		return 0, idError(CodeInvalidCreditCode, "must be 17 characters")
	}
	c := creditCheck(first17)
	if c == 0 {
		return 0, idError(CodeInvalidCreditCode, creditAlphabetMsg)
	}
	return c, nil
}

// ValidateCreditCode returns nil if code is an 18-character GB 32100 unified
// social credit code (统一社会信用代码): every character in the GB 32100
// alphabet (digits and uppercase letters other than I, O, S, V, Z; lowercase
// is rejected), characters 3-8 a region code that passes ValidateRegion, and
// a last character that matches CreditCodeCheck. It does not check the
// registration authority and organisation type (characters 1-2) against the
// lists in force, nor the GB 11714 check of the embedded organisation code.
// Otherwise it returns a *FieldError with code CodeInvalidCreditCode.
func ValidateCreditCode(code string) error {
	if len(code) != 18 {
		return idError(CodeInvalidCreditCode, "must be 18 characters")
	}
	c := creditCheck(code[:17])
	if c == 0 || creditValue[code[17]] < 0 {
		return idError(CodeInvalidCreditCode, creditAlphabetMsg)
	}
	if regionProblem(code[2:8]) != "" {
		return idError(CodeInvalidCreditCode, "characters 3-8 are not a valid region code")
	}
	if c != code[17] {
		return idError(CodeInvalidCreditCode, "check character does not match")
	}
	return nil
}

// CreditCodeRegion returns characters 3-8 of a unified social credit code,
// the GB/T 2260 code of the registering authority's region. It does not
// validate code; for a string shorter than 8 bytes it returns "".
func CreditCodeRegion(code string) string {
	if len(code) < 8 {
		return ""
	}
	return code[2:8]
}

// ---- GB/T 36904 e-license identifiers ----

// LicenseIDPrefix is the object identifier arc that starts every GB/T 36904
// e-license identifier, including its trailing dot.
const LicenseIDPrefix = "1.2.156.3005.2."

// MaxLicenseSerialLen is the longest serial part an e-license identifier may
// have. GB/T 36904 leaves the serial to the issuer; 32 characters admits the
// longest serials seen in use (an uppercase hex UUID without dashes).
const MaxLicenseSerialLen = 32

const (
	licenseTypeLen    = 21
	licenseIssuerLen  = 18
	licenseVersionLen = 3
	// minLicenseIDLen and maxLicenseIDLen bound the whole identifier.
	minLicenseIDLen = len(LicenseIDPrefix) + licenseTypeLen + 1 + licenseIssuerLen + 1 + 1 + 1 + licenseVersionLen + 1 + 1
	maxLicenseIDLen = minLicenseIDLen - 1 + MaxLicenseSerialLen
)

const base36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"

// b36 returns the value of an uppercase base-36 character, or -1.
func b36(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'Z':
		return int(c-'A') + 10
	}
	return -1
}

func allB36(s string) bool {
	for i := 0; i < len(s); i++ {
		if b36(s[i]) < 0 {
			return false
		}
	}
	return true
}

// mod3736 runs ISO 7064 hybrid MOD 37,36 over s starting from state p. It
// returns false if s holds a character outside 0-9, A-Z.
func mod3736(p int, s string) (int, bool) {
	for i := 0; i < len(s); i++ {
		v := b36(s[i])
		if v < 0 {
			return p, false
		}
		t := (p + v) % 36
		if t == 0 {
			t = 36
		}
		p = 2 * t % 37
	}
	return p, true
}

func mod3736Check(p int) byte { return base36[(37-p)%36] }

// LicenseIDCheck returns the GB/T 36904 check character of payload, the
// type code, issuer code, serial and version of an e-license identifier
// concatenated without dots. The check is ISO 7064 hybrid MOD 37,36
// (GB/T 17710) over the alphabet 0-9, A-Z. It returns a *FieldError with
// code CodeInvalidLicenseID if payload is empty or holds any other
// character.
func LicenseIDCheck(payload string) (byte, error) {
	if payload == "" {
		return 0, idError(CodeInvalidLicenseID, "check payload is empty")
	}
	p, ok := mod3736(36, payload)
	if !ok {
		return 0, idError(CodeInvalidLicenseID, "check payload must use only digits and uppercase letters")
	}
	return mod3736Check(p), nil
}

// LicenseID is a parsed GB/T 36904 e-license identifier (电子证照标识):
// 1.2.156.3005.2.<TypeCode>.<Issuer>.<Serial>.<Version>.<Check>.
type LicenseID struct {
	// TypeCode is the 21-character license type code (0-9, A-Z).
	TypeCode string
	// Issuer is the unified social credit code of the issuing authority.
	Issuer string
	// Serial is the issuer's serial number, 1 to MaxLicenseSerialLen
	// characters (0-9, A-Z).
	Serial string
	// Version is the three-digit version of the license.
	Version string
	// Check is the ISO 7064 hybrid MOD 37,36 check character.
	Check byte
}

// licenseParts validates the four checked parts of an identifier and
// returns their check character.
func licenseParts(typeCode, issuer, serial, version string) (byte, error) {
	if len(typeCode) != licenseTypeLen || !allB36(typeCode) {
		return 0, idError(CodeInvalidLicenseID, "type code must be 21 digits or uppercase letters")
	}
	if err := ValidateCreditCode(issuer); err != nil {
		return 0, idError(CodeInvalidLicenseID, "issuer is not a valid unified social credit code: "+err.(*FieldError).Message)
	}
	if len(serial) < 1 || len(serial) > MaxLicenseSerialLen || !allB36(serial) {
		return 0, idError(CodeInvalidLicenseID, "serial must be 1 to 32 digits or uppercase letters")
	}
	if len(version) != licenseVersionLen || !allDigits(version) {
		return 0, idError(CodeInvalidLicenseID, "version must be three digits")
	}
	// All four parts are known to be base 36, so the checks cannot fail.
	p, _ := mod3736(36, typeCode)
	p, _ = mod3736(p, issuer)
	p, _ = mod3736(p, serial)
	p, _ = mod3736(p, version)
	return mod3736Check(p), nil
}

const licenseLayoutMsg = "must have the form 1.2.156.3005.2.<type code>.<issuer>.<serial>.<version>.<check>"

// ParseLicenseID parses and validates a GB/T 36904 e-license identifier:
// the prefix LicenseIDPrefix, a 21-character type code over 0-9 and A-Z, an
// issuer unified social credit code that passes ValidateCreditCode, a serial
// of 1 to MaxLicenseSerialLen characters over 0-9 and A-Z, a three-digit
// version and a check character that matches LicenseIDCheck, separated by
// dots. Lowercase letters are rejected. The returned fields are substrings
// of s. On failure it returns the zero LicenseID and a *FieldError with code
// CodeInvalidLicenseID.
func ParseLicenseID(s string) (LicenseID, error) {
	if len(s) < minLicenseIDLen || len(s) > maxLicenseIDLen {
		return LicenseID{}, idError(CodeInvalidLicenseID, "length is out of range")
	}
	rest, ok := strings.CutPrefix(s, LicenseIDPrefix)
	if !ok {
		return LicenseID{}, idError(CodeInvalidLicenseID, "must start with "+LicenseIDPrefix)
	}
	var parts [5]string
	for i := 0; i < 4; i++ {
		parts[i], rest, ok = strings.Cut(rest, ".")
		if !ok {
			return LicenseID{}, idError(CodeInvalidLicenseID, licenseLayoutMsg)
		}
	}
	parts[4] = rest
	if len(parts[4]) != 1 {
		return LicenseID{}, idError(CodeInvalidLicenseID, licenseLayoutMsg)
	}
	check, err := licenseParts(parts[0], parts[1], parts[2], parts[3])
	if err != nil {
		return LicenseID{}, err
	}
	if b36(parts[4][0]) < 0 {
		return LicenseID{}, idError(CodeInvalidLicenseID, "check character must be a digit or an uppercase letter")
	}
	if parts[4][0] != check {
		return LicenseID{}, idError(CodeInvalidLicenseID, "check character does not match")
	}
	return LicenseID{TypeCode: parts[0], Issuer: parts[1], Serial: parts[2], Version: parts[3], Check: check}, nil
}

// NewLicenseID validates the parts of an e-license identifier as
// ParseLicenseID does and returns the identifier with its check character
// computed. On failure it returns the zero LicenseID and a *FieldError with
// code CodeInvalidLicenseID.
func NewLicenseID(typeCode, issuer, serial, version string) (LicenseID, error) {
	check, err := licenseParts(typeCode, issuer, serial, version)
	if err != nil {
		return LicenseID{}, err
	}
	return LicenseID{TypeCode: typeCode, Issuer: issuer, Serial: serial, Version: version, Check: check}, nil
}

// String returns the identifier in its dotted text form. For a LicenseID
// from ParseLicenseID it returns the parsed string; for one from
// NewLicenseID, the identifier to publish. A LicenseID built by hand is
// formatted as it is, without validation.
func (l LicenseID) String() string {
	var b strings.Builder
	b.Grow(len(LicenseIDPrefix) + len(l.TypeCode) + len(l.Issuer) + len(l.Serial) + len(l.Version) + 5)
	b.WriteString(LicenseIDPrefix)
	b.WriteString(l.TypeCode)
	b.WriteByte('.')
	b.WriteString(l.Issuer)
	b.WriteByte('.')
	b.WriteString(l.Serial)
	b.WriteByte('.')
	b.WriteString(l.Version)
	b.WriteByte('.')
	b.WriteByte(l.Check)
	return b.String()
}

// IssuerRegion returns the GB/T 2260 region code of the issuing authority,
// characters 3-8 of the issuer's unified social credit code (see
// CreditCodeRegion).
func (l LicenseID) IssuerRegion() string { return CreditCodeRegion(l.Issuer) }

// ---- masking ----

// MaskID returns s with everything but its first 4 and last 4 characters
// replaced by '*', one '*' per character, so that identifiers can appear in
// answers and logs without revealing personal data. A string of 8 characters
// or fewer becomes all '*'. Characters are runes; each byte of invalid UTF-8
// counts as one character. The result has as many characters as s.
func MaskID(s string) string {
	n := utf8.RuneCountInString(s)
	if n <= 8 {
		return strings.Repeat("*", n)
	}
	head, tail, i := 0, 0, 0
	for off := range s {
		if i == 4 {
			head = off
		}
		if i == n-4 {
			tail = off
			break
		}
		i++
	}
	var b strings.Builder
	b.Grow(head + (n - 8) + len(s) - tail)
	b.WriteString(s[:head])
	for j := 0; j < n-8; j++ {
		b.WriteByte('*')
	}
	b.WriteString(s[tail:])
	return b.String()
}

// Package contractstest builds valid identifiers and license records for
// tests, with the contracts helpers: unified social credit codes, citizen
// ids and e-licenses with correct check characters.
package contractstest

import (
	"strings"
	"testing"

	"github.com/tongban/tongban/contracts"
)

// License type codes the tests use.
const (
	TypeBusiness = "11100000000013127D001" // 营业执照 (test type code)
	TypeFood     = "11100000000013127D002" // 食品经营许可证
)

// CreditCode returns a valid unified social credit code registered in
// region, org being its nine characters of organisation code.
func CreditCode(t testing.TB, region, org string) string {
	t.Helper()
	first := "11" + region + org
	c, err := contracts.CreditCodeCheck(first)
	if err != nil {
		t.Fatalf("credit code %s: %v", first, err)
	}
	return first + string(c)
}

// CitizenID returns a valid citizen ID of region, born 1990-03-07, with
// the three-digit sequence seq.
func CitizenID(t testing.TB, region, seq string) string {
	t.Helper()
	first := region + "19900307" + seq
	c, err := contracts.CitizenIDCheck(first)
	if err != nil {
		t.Fatalf("citizen id %s: %v", first, err)
	}
	return first + string(c)
}

// License returns a valid record of type typeCode issued in region with
// the given serial and status, held by holder, valid from 2024-01-02 to
// 2034-01-01.
func License(t testing.TB, region, typeCode, serial string, holder contracts.Party, st contracts.LicenseStatus) contracts.LicenseRecord {
	t.Helper()
	issuer := CreditCode(t, region, "000000019")
	id, err := contracts.NewLicenseID(typeCode, issuer, serial, "001")
	if err != nil {
		t.Fatal(err)
	}
	return contracts.LicenseRecord{
		LicenseID: id.String(), TypeCode: typeCode, Name: "营业执照", Number: "NO-" + serial, Holder: holder,
		IssuerName: "市场监督管理局", IssuerCode: issuer, IssuedOn: "2024-01-02", ValidFrom: "2024-01-02",
		ValidUntil: "2034-01-01", Status: st, FileSM3: strings.Repeat("ab", 32),
	}
}

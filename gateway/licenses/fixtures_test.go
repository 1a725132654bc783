package licenses_test

import (
	"strings"
	"testing"

	"github.com/tongban/tongban/contracts"
)

// ---- fixtures: valid identifiers built with the contracts helpers ----

const (
	typeBusiness = "11100000000013127D001" // 营业执照 (test type code)
	typeFood     = "11100000000013127D002" // 食品经营许可证
)

// creditCode returns a valid unified social credit code registered in region.
func creditCode(t testing.TB, region, org string) string {
	t.Helper()
	first := "11" + region + org
	c, err := contracts.CreditCodeCheck(first)
	if err != nil {
		t.Fatalf("credit code %s: %v", first, err)
	}
	return first + string(c)
}

// citizenID returns a valid citizen ID of region.
func citizenID(t testing.TB, region, seq string) string {
	t.Helper()
	first := region + "19900307" + seq
	c, err := contracts.CitizenIDCheck(first)
	if err != nil {
		t.Fatalf("citizen id %s: %v", first, err)
	}
	return first + string(c)
}

// license returns a valid record issued in region with the given serial
// and status, held by holder.
func license(t testing.TB, region, typeCode, serial string, holder contracts.Party, st contracts.LicenseStatus) contracts.LicenseRecord {
	t.Helper()
	issuer := creditCode(t, region, "000000019")
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

// base2 returns a copy of r valid from from until until.
func base2(r contracts.LicenseRecord, from, until string) *contracts.LicenseRecord {
	r.ValidFrom, r.ValidUntil = from, until
	return &r
}

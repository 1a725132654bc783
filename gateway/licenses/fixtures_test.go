package licenses_test

import (
	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/contracts/contractstest"
)

// ---- fixtures: valid identifiers (contractstest) ----

var (
	creditCode = contractstest.CreditCode
	citizenID  = contractstest.CitizenID
	license    = contractstest.License
)

const (
	typeBusiness = contractstest.TypeBusiness
	typeFood     = contractstest.TypeFood
)

// base2 returns a copy of r valid from from until until.
func base2(r contracts.LicenseRecord, from, until string) *contracts.LicenseRecord {
	r.ValidFrom, r.ValidUntil = from, until
	return &r
}

package partnersim

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/tongban/tongban/contracts"
)

// DemoRole names one license of the demo library DemoLicenses makes, by
// what it shows a verification.
type DemoRole string

// The roles of the demo library. Every library DemoLicenses makes holds
// exactly one license of each role.
const (
	// DemoValidCitizen is a valid license held by a citizen (holder type
	// 111): a 不动产权证书 without end of validity.
	DemoValidCitizen DemoRole = "valid_citizen"
	// DemoValidCompany is a valid license held by a company (holder type
	// 001): its 营业执照, valid without end (长期).
	DemoValidCompany DemoRole = "valid_company"
	// DemoRenewed is the company's valid 食品经营许可证, issued two months
	// ago to replace DemoExpired: a lookup by the company and the type code
	// without a license number finds this one.
	DemoRenewed DemoRole = "renewed"
	// DemoExpired is the company's former 食品经营许可证, status expired
	// (失效) since its validity ended.
	DemoExpired DemoRole = "expired"
	// DemoSuspended is a citizen's 机动车驾驶证, status suspended (暂扣).
	DemoSuspended DemoRole = "suspended"
	// DemoRevoked is a sole trader's 食品经营许可证, status revoked (吊销).
	DemoRevoked DemoRole = "revoked"
	// DemoCancelled is the sole trader's 营业执照, status cancelled (注销).
	DemoCancelled DemoRole = "cancelled"
	// DemoLapsed is a citizen's 机动车驾驶证 whose status is still valid
	// but whose valid_until passed about a month ago (逾期未换证): the
	// gateway must report it as expired.
	DemoLapsed DemoRole = "lapsed"
)

// DemoRoles lists every role, in the order DemoLicenses returns the
// licenses.
var DemoRoles = []DemoRole{
	DemoValidCitizen, DemoValidCompany, DemoRenewed, DemoExpired,
	DemoSuspended, DemoRevoked, DemoCancelled, DemoLapsed,
}

// Outcome is what verifying the role's license, with nothing presented but
// its identifier, must yield: the status for suspended, revoked, cancelled
// and expired licenses, expired for DemoLapsed, valid for the others. It
// returns "" for an unknown role.
func (r DemoRole) Outcome() contracts.LicenseOutcome {
	switch r {
	case DemoValidCitizen, DemoValidCompany, DemoRenewed:
		return contracts.LicenseOutcomeValid
	case DemoExpired, DemoLapsed:
		return contracts.LicenseOutcomeExpired
	case DemoSuspended:
		return contracts.LicenseOutcomeSuspended
	case DemoRevoked:
		return contracts.LicenseOutcomeRevoked
	case DemoCancelled:
		return contracts.LicenseOutcomeCancelled
	}
	return ""
}

// demoSerial returns the license serial of role r in region: the region
// followed by a fixed six-digit number per role, so identifiers do not
// depend on the day.
func demoSerial(region string, r DemoRole) string {
	for i, role := range DemoRoles {
		if role == r {
			return fmt.Sprintf("%s%06d", region, 101+i)
		}
	}
	return ""
}

// DemoRoleOf returns the role of a license DemoLicenses made, read from its
// identifier (the serial is the issuer's region and a fixed number per
// role), and false for any other license.
func DemoRoleOf(rec contracts.LicenseRecord) (DemoRole, bool) {
	id, err := contracts.ParseLicenseID(rec.LicenseID)
	if err != nil {
		return "", false
	}
	for _, r := range DemoRoles {
		if id.Serial == demoSerial(id.IssuerRegion(), r) {
			return r, true
		}
	}
	return "", false
}

// FindDemo returns the first license in licenses that plays role (see
// DemoRoleOf), for example FindDemo(sim.Licenses(), DemoLapsed), and false
// if there is none.
func FindDemo(licenses []contracts.LicenseRecord, role DemoRole) (contracts.LicenseRecord, bool) {
	for _, rec := range licenses {
		if r, ok := DemoRoleOf(rec); ok && r == role {
			return rec, true
		}
	}
	return contracts.LicenseRecord{}, false
}

// place is how a demo district is named on licenses.
type place struct {
	city     string // 常州市; empty under a municipality or when unknown
	district string // 钟楼区
}

// demoPlaces names the demo districts; other regions get a made-up name.
var demoPlaces = map[string]place{
	"320404": {"常州市", "钟楼区"},
	"320402": {"常州市", "天宁区"},
	"330702": {"金华市", "婺城区"},
	"371523": {"聊城市", "茌平区"},
	"310116": {"上海市", "金山区"},
	"610102": {"西安市", "新城区"},
	// Held only by the simulated national library (NationalRegions).
	"440305": {"深圳市", "南山区"},
	"510104": {"成都市", "锦江区"},
}

// NationalRegions are the regions whose demo licenses the simulated
// national library holds (全国一体化政务服务平台, the national e-license
// sharing service, which a gateway asks as its fallback library for
// regions no configured library declares): 440305 深圳市南山区 and 510104
// 成都市锦江区, which no demo district declares. A simulator is that
// library when its Config.LicenseRegions are these: it answers lookups of
// their licenses (one of each DemoRole per region) and not found for
// every other license, and takes usage records like any library.
var NationalRegions = []string{"440305", "510104"}

func placeOf(region string) place {
	if p, ok := demoPlaces[region]; ok {
		return p
	}
	return place{district: "模拟辖区" + region}
}

// provinceAbbr is the one-character abbreviation of each province, used
// in real-estate certificate numbers (苏(2023)常州市不动产权第…号).
var provinceAbbr = map[string]string{
	"11": "京", "12": "津", "13": "冀", "14": "晋", "15": "蒙", "21": "辽", "22": "吉", "23": "黑",
	"31": "沪", "32": "苏", "33": "浙", "34": "皖", "35": "闽", "36": "赣", "37": "鲁", "41": "豫",
	"42": "鄂", "43": "湘", "44": "粤", "45": "桂", "46": "琼", "50": "渝", "51": "川", "52": "贵",
	"53": "云", "54": "藏", "61": "陕", "62": "甘", "63": "青", "64": "宁", "65": "新", "71": "台",
	"81": "港", "82": "澳",
}

// License types of the demo library: 21-character type codes (a made-up
// definer code and a three-digit sequence) and names.
const (
	typeBusiness   = "11100000MB0143531D001" // 营业执照
	typeFood       = "11100000MB0143531D017" // 食品经营许可证
	typeDriving    = "11100000000019713D002" // 机动车驾驶证
	typeRealEstate = "11100000MB1503156L001" // 不动产权证书
)

// derive returns n characters of alphabet chosen deterministically from
// the SHA-256 of the parts.
func derive(n int, alphabet string, parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	sum := h.Sum(nil)
	out := make([]byte, n)
	for i := range out {
		out[i] = alphabet[int(sum[i%len(sum)])%len(alphabet)]
	}
	return string(out)
}

// orgCode returns a GB 11714 organisation code: 8 characters and their
// check character (weights 3 7 9 10 5 8 4 2; 11 − Σ mod 11, 10 → X, 11 → 0).
func orgCode(body string) string {
	weights := [8]int{3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i := range 8 {
		c := body[i]
		v := int(c - '0')
		if c >= 'A' && c <= 'Z' {
			v = int(c-'A') + 10
		}
		sum += v * weights[i]
	}
	switch c := 11 - sum%11; c {
	case 10:
		return body + "X"
	case 11:
		return body + "0"
	default:
		return body + string(rune('0'+c))
	}
}

// creditCode returns a GB 32100 unified social credit code: the
// registration authority and organisation type (prefix, two characters),
// the region, a GB 11714 organisation code derived from seed, and the
// check character.
func creditCode(prefix, region, orgPrefix, seed string) (string, error) {
	const digits = "0123456789"
	const alnum = "0123456789ABCDEFGHJKLMNPQRTUWXY"
	alphabet := digits
	if orgPrefix != "" {
		alphabet = alnum
	}
	first17 := prefix + region + orgCode(orgPrefix+derive(8-len(orgPrefix), alphabet, region, seed))
	check, err := contracts.CreditCodeCheck(first17)
	if err != nil {
		return "", fmt.Errorf("credit code of %s: %w", seed, err)
	}
	return first17 + string(check), nil
}

// citizenID returns a GB 11643 citizen id registered in region.
func citizenID(region, birth, seq string) (string, error) {
	first17 := region + birth + seq
	check, err := contracts.CitizenIDCheck(first17)
	if err != nil {
		return "", fmt.Errorf("citizen id: %w", err)
	}
	return first17 + string(check), nil
}

// chinaTime is the zone in which the demo library's dates are counted.
var chinaTime = time.FixedZone("CST", 8*60*60)

// DemoLicenses returns the demo license library of the district region (a
// GB/T 2260 code): one license of each of DemoRoles, in that order, each
// passing contracts.LicenseRecord.Validate. The result depends only on
// region and on today's calendar date in China Standard Time:
//
//   - issuers are authorities of the region (market regulation, public
//     security, natural resources), whose unified social credit codes carry
//     region as characters 3–8, so a license routes to region's library;
//   - identifiers (GB/T 36904, with their check character) depend on region
//     only: the serial is region and a fixed number per role (DemoRoleOf);
//   - holders are two made-up citizens born in region (GB 11643 ids whose
//     first six digits are region), a company and a sole trader registered
//     there (GB 32100 codes);
//   - issue and validity dates are counted back from today;
//   - file_sm3 is a stand-in for the SM3 digest of the license file, which
//     the simulator does not have: the lowercase hex SHA-256 of the license
//     identifier, well formed and fixed per license.
//
// Names and numbers are fictional. It fails if region is not a valid
// region code.
func DemoLicenses(region string, today time.Time) ([]contracts.LicenseRecord, error) {
	if err := contracts.ValidateRegion(region); err != nil {
		return nil, fmt.Errorf("partnersim: demo licenses: region: %w", err)
	}
	pl := placeOf(region)
	where := pl.city + pl.district
	abbr := provinceAbbr[region[:2]]
	if pl.city == "" {
		pl.city = pl.district
	}

	// Issuing authorities: government bodies (11) of the region.
	market, err := creditCode("11", region, "", "market")
	if err != nil {
		return nil, err
	}
	police, err := creditCode("11", region, "", "police")
	if err != nil {
		return nil, err
	}
	land, err := creditCode("11", region, "", "land")
	if err != nil {
		return nil, err
	}
	// Holders.
	company, err := creditCode("91", region, "MA", "company") // 企业
	if err != nil {
		return nil, err
	}
	trader, err := creditCode("92", region, "", "trader") // 个体工商户
	if err != nil {
		return nil, err
	}
	liu, err := citizenID(region, "19780923", "031")
	if err != nil {
		return nil, err
	}
	chen, err := citizenID(region, "19900308", "046")
	if err != nil {
		return nil, err
	}
	wang, err := citizenID(region, "19850612", "127")
	if err != nil {
		return nil, err
	}
	companyName := where + "云帆商贸有限公司"
	traderName := where + "老街小吃店"

	y, m, d := today.In(chinaTime).Date()
	day0 := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	date := func(years, months, days int) string { return day0.AddDate(years, months, days).Format(time.DateOnly) }
	until := func(from string, years int) string {
		t, _ := time.Parse(time.DateOnly, from)
		return t.AddDate(years, 0, -1).Format(time.DateOnly)
	}
	updated := func(on string) time.Time {
		t, _ := time.ParseInLocation(time.DateOnly, on, chinaTime)
		return t.Add(9*time.Hour + 30*time.Minute).UTC()
	}

	type spec struct {
		role                 DemoRole
		typeCode, typeName   string
		number               string
		holder               contracts.Party
		issuerName, issuer   string
		from, until, changed string
		status               contracts.LicenseStatus
		reason               string
	}
	marketName := where + "市场监督管理局"
	policeName := where + "公安分局"
	landName := where + "自然资源和规划局"
	foodFrom := date(0, -2, 0)
	oldFoodFrom := date(-5, -2, -1)
	lapsedFrom := date(-6, 0, -30)
	specs := []spec{
		{role: DemoValidCitizen, typeCode: typeRealEstate, typeName: "不动产权证书",
			number:     fmt.Sprintf("%s(%s)%s不动产权第%s号", abbr, date(-3, 0, -17)[:4], pl.city, derive(7, "0123456789", region, "estate")),
			holder:     contracts.Party{HolderType: contracts.HolderTypeCitizenID, IDNumber: wang, Name: "王建国"},
			issuerName: landName, issuer: land, from: date(-3, 0, -17), status: contracts.LicenseStatusValid},
		{role: DemoValidCompany, typeCode: typeBusiness, typeName: "营业执照", number: company,
			holder:     contracts.Party{HolderType: contracts.HolderTypeCreditCode, IDNumber: company, Name: companyName},
			issuerName: marketName, issuer: market, from: date(-5, -2, 0), status: contracts.LicenseStatusValid},
		{role: DemoRenewed, typeCode: typeFood, typeName: "食品经营许可证",
			number:     "JY1" + region + derive(7, "0123456789", region, "food-new"),
			holder:     contracts.Party{HolderType: contracts.HolderTypeCreditCode, IDNumber: company, Name: companyName},
			issuerName: marketName, issuer: market, from: foodFrom, until: until(foodFrom, 5), status: contracts.LicenseStatusValid},
		{role: DemoExpired, typeCode: typeFood, typeName: "食品经营许可证",
			number:     "JY1" + region + derive(7, "0123456789", region, "food-old"),
			holder:     contracts.Party{HolderType: contracts.HolderTypeCreditCode, IDNumber: company, Name: companyName},
			issuerName: marketName, issuer: market, from: oldFoodFrom, until: until(oldFoodFrom, 5), changed: until(oldFoodFrom, 5),
			status: contracts.LicenseStatusExpired, reason: "有效期届满未申请延续，许可证失效（模拟）"},
		{role: DemoSuspended, typeCode: typeDriving, typeName: "机动车驾驶证",
			number:     region[:4] + "00" + derive(6, "0123456789", region, "driving-chen"),
			holder:     contracts.Party{HolderType: contracts.HolderTypeCitizenID, IDNumber: chen, Name: "陈晓燕"},
			issuerName: policeName, issuer: police, from: date(-4, -1, 0), until: until(date(-4, -1, 0), 6), changed: date(0, 0, -12),
			status: contracts.LicenseStatusSuspended, reason: "记分周期内累积记分达到12分，暂扣机动车驾驶证（模拟）"},
		{role: DemoRevoked, typeCode: typeFood, typeName: "食品经营许可证",
			number:     "JY2" + region + derive(7, "0123456789", region, "food-trader"),
			holder:     contracts.Party{HolderType: contracts.HolderTypeCreditCode, IDNumber: trader, Name: traderName},
			issuerName: marketName, issuer: market, from: date(-2, 0, 0), until: until(date(-2, 0, 0), 5), changed: date(0, -1, 0),
			status: contracts.LicenseStatusRevoked, reason: "违反《中华人民共和国食品安全法》，依法吊销（模拟）"},
		{role: DemoCancelled, typeCode: typeBusiness, typeName: "营业执照", number: trader,
			holder:     contracts.Party{HolderType: contracts.HolderTypeCreditCode, IDNumber: trader, Name: traderName},
			issuerName: marketName, issuer: market, from: date(-6, 0, 0), changed: date(0, 0, -20),
			status: contracts.LicenseStatusCancelled, reason: "经营者申请注销登记（模拟）"},
		{role: DemoLapsed, typeCode: typeDriving, typeName: "机动车驾驶证",
			number:     region[:4] + "00" + derive(6, "0123456789", region, "driving-liu"),
			holder:     contracts.Party{HolderType: contracts.HolderTypeCitizenID, IDNumber: liu, Name: "刘志强"},
			issuerName: policeName, issuer: police, from: lapsedFrom, until: until(lapsedFrom, 6), status: contracts.LicenseStatusValid},
	}

	out := make([]contracts.LicenseRecord, 0, len(specs))
	for _, sp := range specs {
		id, err := contracts.NewLicenseID(sp.typeCode, sp.issuer, demoSerial(region, sp.role), "001")
		if err != nil {
			return nil, fmt.Errorf("partnersim: demo license %s: %w", sp.role, err)
		}
		sum := sha256.Sum256([]byte(id.String()))
		changed := sp.changed
		if changed == "" {
			changed = sp.from
		}
		rec := contracts.LicenseRecord{
			LicenseID:    id.String(),
			TypeCode:     sp.typeCode,
			TypeName:     sp.typeName,
			Name:         sp.typeName,
			Number:       sp.number,
			Holder:       sp.holder,
			IssuerName:   sp.issuerName,
			IssuerCode:   sp.issuer,
			IssuedOn:     sp.from,
			ValidFrom:    sp.from,
			ValidUntil:   sp.until,
			Status:       sp.status,
			StatusReason: sp.reason,
			FileSM3:      hex.EncodeToString(sum[:]),
			UpdatedAt:    updated(changed),
		}
		if err := rec.Validate(); err != nil {
			return nil, fmt.Errorf("partnersim: demo license %s: %w", sp.role, err)
		}
		out = append(out, rec)
	}
	return out, nil
}

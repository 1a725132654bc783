package contracts

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// The check characters of the test vectors below were computed by an
// independent implementation (a textbook ISO 7064 routine that looks for the
// character c with (p + c) mod 36 == 1, and the GB 11643 / GB 32100 weighted
// sums), not by the code under test. The e-license identifiers marked
// "in use" were found in public government-integration code and their check
// characters agree with both implementations.

// wantFieldError fails t unless err is a *FieldError with code, an empty
// Field and a lower-case message that does not repeat input.
func wantFieldError(t *testing.T, err error, code Code, input string) *FieldError {
	t.Helper()
	if err == nil {
		t.Fatalf("got nil error, want %s", code)
	}
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("got error of type %T, want *FieldError", err)
	}
	if fe.Code != code {
		t.Errorf("got code %s (%q), want %s", fe.Code, fe.Message, code)
	}
	if fe.Field != "" {
		t.Errorf("got field %q, want empty", fe.Field)
	}
	if fe.Message == "" {
		t.Errorf("got empty message")
	} else if r, _ := utf8.DecodeRuneInString(fe.Message); unicode.IsUpper(r) {
		t.Errorf("got message %q, want it to start in lower case", fe.Message)
	}
	if len(input) >= 8 && strings.Contains(fe.Message, input) {
		t.Errorf("message %q repeats the input", fe.Message)
	}
	return fe
}

func TestValidateHolderType(t *testing.T) {
	for _, tt := range []string{HolderTypeCitizenID, HolderTypeCreditCode, "111", "001"} {
		if err := ValidateHolderType(tt); err != nil {
			t.Errorf("ValidateHolderType(%q) = %v, want nil", tt, err)
		}
	}
	for _, tt := range []string{"", "11", "1111", "002", "113", " 111", "111 ", "００１"} {
		wantFieldError(t, ValidateHolderType(tt), CodeInvalidHolderType, tt)
	}
}

func TestValidateHolderID(t *testing.T) {
	tests := []struct {
		typ, id string
		want    Code // "" for valid
	}{
		{"111", "11010519491231002X", ""},
		{"001", "91350100M000100Y43", ""},
		{"111", "91350100M000100Y43", CodeInvalidCitizenID},
		{"001", "11010519491231002X", CodeInvalidCreditCode},
		{"111", "11010519491231002x", CodeInvalidCitizenID},
		{"001", "91350100m000100y43", CodeInvalidCreditCode},
		{"", "11010519491231002X", CodeInvalidHolderType},
		{"999", "11010519491231002X", CodeInvalidHolderType},
		{"01", "", CodeInvalidHolderType},
	}
	for _, tt := range tests {
		err := ValidateHolderID(tt.typ, tt.id)
		if tt.want == "" {
			if err != nil {
				t.Errorf("ValidateHolderID(%q, %q) = %v, want nil", tt.typ, tt.id, err)
			}
			continue
		}
		wantFieldError(t, err, tt.want, tt.id)
	}
}

func TestValidateRegion(t *testing.T) {
	good := []string{
		"110000", "110100", "110105", "120000", "130000", "140000", "150000",
		"210000", "220000", "230000", "310000", "310116", "320000", "320400",
		"320402", "320404", "330702", "340000", "350000", "360000", "370000",
		"371523", "410000", "419001", "420000", "430000", "440000", "450000",
		"460000", "500000", "510000", "520000", "530000", "540000", "610000",
		"610102", "620000", "630000", "640000", "650000", "710000", "810000",
		"820000", "320004", "659001",
	}
	for _, code := range good {
		if err := ValidateRegion(code); err != nil {
			t.Errorf("ValidateRegion(%q) = %v, want nil", code, err)
		}
	}
	bad := []struct{ code, msg string }{
		{"", "must be six digits"},
		{"32040", "must be six digits"},
		{"3204040", "must be six digits"},
		{"32040a", "must be six digits"},
		{"32 404", "must be six digits"},
		{" 32040", "must be six digits"},
		{"+32040", "must be six digits"},
		{"-32040", "must be six digits"},
		{"３２０４０４", "must be six digits"}, // full-width digits
		{"000000", "province"},
		{"100000", "province"},
		{"160000", "province"},
		{"200000", "province"},
		{"240000", "province"},
		{"300000", "province"},
		{"380000", "province"},
		{"400000", "province"},
		{"470000", "province"},
		{"550000", "province"},
		{"600000", "province"},
		{"660000", "province"},
		{"700000", "province"},
		{"720000", "province"},
		{"800000", "province"},
		{"830000", "province"},
		{"900000", "province"},
		{"990000", "province"},
	}
	for _, tt := range bad {
		fe := wantFieldError(t, ValidateRegion(tt.code), CodeInvalidRegion, tt.code)
		if !strings.Contains(fe.Message, tt.msg) {
			t.Errorf("ValidateRegion(%q): got message %q, want it to contain %q", tt.code, fe.Message, tt.msg)
		}
	}
}

func TestRegionLevelOf(t *testing.T) {
	tests := []struct {
		code string
		want RegionLevel
	}{
		{"320000", Province},
		{"310000", Province},
		{"820000", Province},
		{"320400", City},
		{"310100", City},
		{"320404", District},
		{"310116", District},
		{"419001", District},
		{"320004", District},
		{"", 0},
		{"160000", 0},
		{"32040", 0},
		{"32040x", 0},
	}
	for _, tt := range tests {
		if got := RegionLevelOf(tt.code); got != tt.want {
			t.Errorf("RegionLevelOf(%q) = %v, want %v", tt.code, got, tt.want)
		}
	}
	for _, tt := range []struct {
		l    RegionLevel
		want string
	}{{Province, "province"}, {City, "city"}, {District, "district"}, {0, "invalid"}, {7, "invalid"}} {
		if got := tt.l.String(); got != tt.want {
			t.Errorf("RegionLevel(%d).String() = %q, want %q", int(tt.l), got, tt.want)
		}
	}
}

func TestRegionFallbacks(t *testing.T) {
	tests := []struct {
		code string
		want []string
	}{
		{"320404", []string{"320404", "320400", "320000"}},
		{"320402", []string{"320402", "320400", "320000"}},
		{"330702", []string{"330702", "330700", "330000"}},
		{"371523", []string{"371523", "371500", "370000"}},
		{"610102", []string{"610102", "610100", "610000"}},
		{"310116", []string{"310116", "310100", "310000"}},
		{"320400", []string{"320400", "320000"}},
		{"320000", []string{"320000"}},
		{"419001", []string{"419001", "419000", "410000"}},
		{"320004", []string{"320004", "320000"}},
		{"", nil},
		{"160101", nil},
		{"3204041", nil},
	}
	for _, tt := range tests {
		if got := RegionFallbacks(tt.code); !slices.Equal(got, tt.want) {
			t.Errorf("RegionFallbacks(%q) = %q, want %q", tt.code, got, tt.want)
		}
	}
}

// Valid citizen ids; all but the first are synthetic.
var goodCitizenIDs = []string{
	"11010519491231002X",
	"320404199001011231",
	"31011620000229001X", // leap day
	"330702198512314569",
	"371523190001010005", // first valid birth date
	"610102202008157772",
	"710000200109110005",
	"82000019991220000X",
	"440306197001019992",
	"650101198808088885",
	"320404202402290045",
}

func TestValidateCitizenID(t *testing.T) {
	for _, id := range goodCitizenIDs {
		if err := ValidateCitizenID(id); err != nil {
			t.Errorf("ValidateCitizenID(%q) = %v, want nil", id, err)
		}
	}
	bad := []struct{ id, msg string }{
		{"", "18 characters"},
		{"11010519491231002", "18 characters"},
		{"11010519491231002X1", "18 characters"},
		{"110105491231002", "18 characters"}, // first-generation 15 digits
		{"11010519491231002x", "uppercase X"},
		{"11010519491231002Y", "uppercase X"},
		{"11010519491231002 ", "uppercase X"},
		{"X10105194912310021", "digits"},
		{"1101051949123100X2", "digits"},
		{"11010519491231 02X", "digits"},
		{"１１０１０５１９４９１２３１００２X", "18 characters"}, // full-width
		{"11010519491231002Ｘ", "18 characters"},
		{"110105194912310021", "check character"},
		{"110105194912310020", "check character"},
		{"320404199001011232", "check character"},
		{"160101199001011236", "region"},
		{"00000019900101123X", "region"},
		{"900101199001011234", "region"},
		{"320404190002291238", "not a real date"}, // 1900 is not a leap year
		{"320404210002291230", "not a real date"}, // 2100 is not a leap year (check irrelevant)
		{"320404199902301236", "not a real date"},
		{"320404200002300065", "not a real date"},
		{"320404199913011234", "not a real date"},
		{"320404199900011235", "not a real date"},
		{"320404199901001231", "not a real date"},
		{"320404199904311231", "not a real date"},
		{"320404189912311236", "before 1900"},
		{"320404209912311231", "future"},
	}
	for _, tt := range bad {
		fe := wantFieldError(t, ValidateCitizenID(tt.id), CodeInvalidCitizenID, tt.id)
		if !strings.Contains(fe.Message, tt.msg) {
			t.Errorf("ValidateCitizenID(%q): got message %q, want it to contain %q", tt.id, fe.Message, tt.msg)
		}
	}
}

func TestValidateCitizenIDToday(t *testing.T) {
	const today = 20240315
	if err := validateCitizenID("320404202403150028", today); err != nil {
		t.Errorf("born today: got %v, want nil", err)
	}
	fe := wantFieldError(t, validateCitizenID("320404202403160023", today), CodeInvalidCitizenID, "")
	if !strings.Contains(fe.Message, "future") {
		t.Errorf("born tomorrow: got message %q, want it to say future", fe.Message)
	}
	// The real clock: someone born on 1900-01-01 is never in the future.
	if err := ValidateCitizenID("320404190001010035"); err != nil {
		t.Errorf("got %v, want nil", err)
	}
}

func TestCitizenIDCheck(t *testing.T) {
	tests := []struct {
		first17 string
		want    byte
	}{
		{"11010519491231002", 'X'},
		{"32040419900101123", '1'},
		{"31011620000229001", 'X'},
		{"33070219851231456", '9'},
		{"37152319000101000", '5'},
		{"61010220200815777", '2'},
		{"82000019991220000", 'X'},
		{"44030619700101999", '2'},
		{"65010119880808888", '5'},
		{"32040420240315002", '8'},
		{"32040420240316002", '3'},
		{"00000019900101123", 'X'}, // the check does not look at the region
		{"32040419000229123", '8'}, // nor at the date
	}
	for _, tt := range tests {
		got, err := CitizenIDCheck(tt.first17)
		if err != nil || got != tt.want {
			t.Errorf("CitizenIDCheck(%q) = %q, %v; want %q, nil", tt.first17, got, err, tt.want)
		}
	}
	for _, s := range []string{"", "1101051949123100", "110105194912310021", "1101051949123100X", "1101051949123100a"} {
		got, err := CitizenIDCheck(s)
		if got != 0 {
			t.Errorf("CitizenIDCheck(%q) = %q, want 0", s, got)
		}
		wantFieldError(t, err, CodeInvalidCitizenID, s)
	}
}

// Valid unified social credit codes; the first is widely cited, the others
// are synthetic.
var goodCreditCodes = []string{
	"91350100M000100Y43",
	"91320404MA1MYB8B5X",
	"11320402000000001W",
	"52330702MJ87654320",
	"91371523MA3C12345L",
	"12310116425010123M",
	"91610102H000000016",
	"Y1110000000000000Q",
	"93110105L01234567G",
	"913204047000000200", // check character 0
	"91320404700000010Y", // check character Y (value 30)
	"12460000MB0000001L",
	"11419001MB00000024",
	"11330105002500287C", // in use
	"11430000006122244L", // in use
	"113700000045046442", // in use
	"11370800MB28559184", // in use
}

func TestValidateCreditCode(t *testing.T) {
	for _, c := range goodCreditCodes {
		if err := ValidateCreditCode(c); err != nil {
			t.Errorf("ValidateCreditCode(%q) = %v, want nil", c, err)
		}
	}
	bad := []struct{ code, msg string }{
		{"", "18 characters"},
		{"91350100M000100Y4", "18 characters"},
		{"91350100M000100Y431", "18 characters"},
		{"91350100m000100y43", "uppercase"},
		{"91350100M000100Y4a", "uppercase"},
		{"91350100I000100Y43", "uppercase"},
		{"91350100O000100Y43", "uppercase"},
		{"91350100S000100Y43", "uppercase"},
		{"91350100V000100Y43", "uppercase"},
		{"91350100Z000100Y43", "uppercase"},
		{"91350100M000100Y4Z", "uppercase"},
		{"91350100M000100Y4-", "uppercase"},
		{"91350100M000100 43", "uppercase"},
		{"91350100M000100Y44", "check character"},
		{"91350100M000100Y40", "check character"},
		{"91320404MA1MYB8B5Y", "check character"},
		{"91350100M000101Y43", "check character"},
		{"91160100MA1MYB8B5P", "region"},
		{"91AB0404MA1MYB8B52", "region"},
		{"91000000MA1MYB8B53", "region"},
	}
	for _, tt := range bad {
		fe := wantFieldError(t, ValidateCreditCode(tt.code), CodeInvalidCreditCode, tt.code)
		if !strings.Contains(fe.Message, tt.msg) {
			t.Errorf("ValidateCreditCode(%q): got message %q, want it to contain %q", tt.code, fe.Message, tt.msg)
		}
	}
}

func TestCreditCodeCheck(t *testing.T) {
	for _, c := range goodCreditCodes {
		got, err := CreditCodeCheck(c[:17])
		if err != nil || got != c[17] {
			t.Errorf("CreditCodeCheck(%q) = %q, %v; want %q, nil", c[:17], got, err, c[17])
		}
	}
	// Region is not part of the check.
	if got, err := CreditCodeCheck("91AB0404MA1MYB8B5"); err != nil || got != '2' {
		t.Errorf("CreditCodeCheck(91AB0404MA1MYB8B5) = %q, %v; want '2', nil", got, err)
	}
	for _, s := range []string{"", "91350100M000100Y", "91350100M000100Y43", "91350100M000100y4", "91350100M000100I4"} {
		got, err := CreditCodeCheck(s)
		if got != 0 {
			t.Errorf("CreditCodeCheck(%q) = %q, want 0", s, got)
		}
		wantFieldError(t, err, CodeInvalidCreditCode, s)
	}
}

func TestCreditCodeRegion(t *testing.T) {
	tests := []struct{ code, want string }{
		{"91350100M000100Y43", "350100"},
		{"91320404MA1MYB8B5X", "320404"},
		{"12345678", "345678"},
		{"1234567", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := CreditCodeRegion(tt.code); got != tt.want {
			t.Errorf("CreditCodeRegion(%q) = %q, want %q", tt.code, got, tt.want)
		}
	}
}

// Valid e-license identifiers.
var goodLicenseIDs = []struct {
	s                                        string
	typeCode, issuer, serial, version, check string
}{
	{"1.2.156.3005.2.11100000000000000E001.91350100M000100Y43.320404202400001.001.4",
		"11100000000000000E001", "91350100M000100Y43", "320404202400001", "001", "4"},
	{"1.2.156.3005.2.113000000000000000002.91320404MA1MYB8B5X.A.001.R",
		"113000000000000000002", "91320404MA1MYB8B5X", "A", "001", "R"},
	{"1.2.156.3005.2.ZZZZZZZZZZZZZZZZZZZZZ.11320402000000001W.00000000000000000000000000000000.999.X",
		"ZZZZZZZZZZZZZZZZZZZZZ", "11320402000000001W", "00000000000000000000000000000000", "999", "X"},
	{"1.2.156.3005.2.000000000000000000000.12310116425010123M.Z.000.Q",
		"000000000000000000000", "12310116425010123M", "Z", "000", "Q"},
	{"1.2.156.3005.2.11100000000000000E001.91610102H000000016.XA2025000123.002.F",
		"11100000000000000E001", "91610102H000000016", "XA2025000123", "002", "F"},
	{"1.2.156.3005.2.11100000000000000E001.91350100M000100Y43.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.001.K",
		"11100000000000000E001", "91350100M000100Y43", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "001", "K"},
	// In use.
	{"1.2.156.3005.2.11100000000013338W087.11370800MB28559184.37080001202411010001.001.3",
		"11100000000013338W087", "11370800MB28559184", "37080001202411010001", "001", "3"},
	{"1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.002.S",
		"11100000000013338W011", "11430000006122244L", "20230000403", "002", "S"},
	{"1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U",
		"11100000000013338W011", "11430000006122244L", "20230000403", "001", "U"},
	{"1.2.156.3005.2.11100000000013338W009.11330105002500287C.2025052201.002.0",
		"11100000000013338W009", "11330105002500287C", "2025052201", "002", "0"},
	{"1.2.156.3005.2.11100000000013661B006.113700000045046442.209FA4E88F9E4C878F3E9BED2CE7EA49.001.D",
		"11100000000013661B006", "113700000045046442", "209FA4E88F9E4C878F3E9BED2CE7EA49", "001", "D"},
}

// licenseEveryCheck has one identifier for each of the 36 check characters.
var licenseEveryCheck = []string{
	"1.2.156.3005.2.11100000000000000E001.91350100M000100Y43.S12.001.0",
	"1.2.156.3005.2.11100000000000000E001.91350100M000100Y43.S3.001.1",
	"1.2.156.3005.2.11100000000000000E001.91350100M000100Y43.S59.001.2",
	"1.2.156.3005.2.11100000000000000E001.91350100M000100Y43.S28.001.3",
	"1.2.156.3005.2.11100000000000000E001.91350100M000100Y43.S14.001.4",
	"1.2.156.3005.2.11100000000000000E001.91350100M000100Y43.S106.001.5",
	"1.2.156.3005.2.11100000000000000E001.91350100M000100Y43.S5.001.6",
	"1.2.156.3005.2.11100000000000000E001.91350100M000100Y43.S78.001.7",
	"1.2.156.3005.2.11100000000000000E001.91350100M000100Y43.S38.001.8",
	"1.2.156.3005.2.11100000000000000E001.91350100M000100Y43.S16.001.9",
	"1.2.156.3005.2.11100000000000000E001.91350100M000100Y43.S108.001.A",
	"1.2.156.3005.2.11100000000000000E001.91350100M000100Y43.S7.001.B",
	"1.2.156.3005.2.11100000000000000E001.91350100M000100Y43.S0.001.C",
	"1.2.156.3005.2.11100000000000000E001.91350100M000100Y43.S48.001.D",
	"1.2.156.3005.2.11100000000000000E001.91350100M000100Y43.S18.001.E",
	"1.2.156.3005.2.11100000000000000E001.91350100M000100Y43.S11.001.F",
	"1.2.156.3005.2.11100000000000000E001.91350100M000100Y43.S9.001.G",
	"1.2.156.3005.2.11100000000000000E001.91350100M000100Y43.S2.001.H",
	"1.2.156.3005.2.11100000000000000E001.91350100M000100Y43.S58.001.I",
	"1.2.156.3005.2.11100000000000000E001.91350100M000100Y43.S19.001.J",
	"1.2.156.3005.2.11100000000000000E001.91350100M000100Y43.S13.001.K",
	"1.2.156.3005.2.11100000000000000E001.91350100M000100Y43.S105.001.L",
	"1.2.156.3005.2.11100000000000000E001.91350100M000100Y43.S4.001.M",
	"1.2.156.3005.2.11100000000000000E001.91350100M000100Y43.S69.001.N",
	"1.2.156.3005.2.11100000000000000E001.91350100M000100Y43.S29.001.O",
	"1.2.156.3005.2.11100000000000000E001.91350100M000100Y43.S15.001.P",
	"1.2.156.3005.2.11100000000000000E001.91350100M000100Y43.S107.001.Q",
	"1.2.156.3005.2.11100000000000000E001.91350100M000100Y43.S6.001.R",
	"1.2.156.3005.2.11100000000000000E001.91350100M000100Y43.S79.001.S",
	"1.2.156.3005.2.11100000000000000E001.91350100M000100Y43.S39.001.T",
	"1.2.156.3005.2.11100000000000000E001.91350100M000100Y43.S17.001.U",
	"1.2.156.3005.2.11100000000000000E001.91350100M000100Y43.S10.001.V",
	"1.2.156.3005.2.11100000000000000E001.91350100M000100Y43.S8.001.W",
	"1.2.156.3005.2.11100000000000000E001.91350100M000100Y43.S1.001.X",
	"1.2.156.3005.2.11100000000000000E001.91350100M000100Y43.S49.001.Y",
	"1.2.156.3005.2.11100000000000000E001.91350100M000100Y43.S104.001.Z",
}

func TestParseLicenseID(t *testing.T) {
	for _, tt := range goodLicenseIDs {
		got, err := ParseLicenseID(tt.s)
		if err != nil {
			t.Errorf("ParseLicenseID(%q) = %v, want nil", tt.s, err)
			continue
		}
		want := LicenseID{tt.typeCode, tt.issuer, tt.serial, tt.version, tt.check[0]}
		if got != want {
			t.Errorf("ParseLicenseID(%q) = %+v, want %+v", tt.s, got, want)
		}
		if s := got.String(); s != tt.s {
			t.Errorf("String() = %q, want %q", s, tt.s)
		}
		if r := got.IssuerRegion(); r != tt.issuer[2:8] {
			t.Errorf("IssuerRegion() = %q, want %q", r, tt.issuer[2:8])
		}
	}
	for i, s := range licenseEveryCheck {
		if _, err := ParseLicenseID(s); err != nil {
			t.Errorf("ParseLicenseID(%q) = %v, want nil", s, err)
		}
		if want := base36[i]; s[len(s)-1] != want {
			t.Fatalf("licenseEveryCheck[%d] ends in %c, want %c", i, s[len(s)-1], want)
		}
	}

	const good = "1.2.156.3005.2.11100000000000000E001.91350100M000100Y43.320404202400001.001.4"
	bad := []struct{ s, msg string }{
		{"", "length"},
		{good[:len(good)-2], "form"},
		{good + "0", "form"},
		{good + ".4", "form"},
		{strings.Replace(good, ".4", ".5", 1), "check character does not match"},
		{strings.Replace(good, ".4", ".Z", 1), "check character does not match"},
		{strings.Replace(good, ".4", ".a", 1), "check character must be"},
		{strings.Replace(good, ".4", "..", 1), "check character must be"},
		{strings.Replace(good, ".4", ".-", 1), "check character must be"},
		// In use, but with a wrong check character (D is right).
		{"1.2.156.3005.2.11100000000013661B006.113700000045046442.209FA4E88F9E4C878F3E9BED2CE7EA49.001.M", "check character does not match"},
		{strings.ToLower(good), "type code"},
		{strings.Replace(good, "E001", "e001", 1), "type code"},
		{strings.Replace(good, "M000100Y43", "m000100y43", 1), "issuer"},
		{strings.Replace(good, "202400001", "20240000a", 1), "serial"},
		{"2.2.156.3005.2.11100000000000000E001.91350100M000100Y43.320404202400001.001.4", "must start"},
		{"1.2.156.3005.3.11100000000000000E001.91350100M000100Y43.320404202400001.001.4", "must start"},
		{"1.2.156.3005.211100000000000000E001.91350100M000100Y43.320404202400001.001.4.", "must start"},
		{" 1.2.156.3005.2.11100000000000000E001.91350100M000100Y43.320404202400001.001.4", "must start"},
		{good + " ", "form"},
		{"1.2.156.3005.2.11100000000000000E001.91350100M000100Y44.320404202400001.001.E", "issuer is not a valid unified social credit code: check character"},
		{"1.2.156.3005.2.11100000000000000E001.91160100MA1MYB8B5P.1.001.I", "issuer is not a valid unified social credit code: characters 3-8"},
		{"1.2.156.3005.2.11100000000000000E001.91350100M000100Y4.3320404202400001.001.4", "issuer"},
		{"1.2.156.3005.2.11100000000000000E00.91350100M000100Y43.320404202400001.001.4", "type code"},
		{"1.2.156.3005.2.11100000000000000E0011.91350100M000100Y43.320404202400001.001.4", "type code"},
		{"1.2.156.3005.2.11100000000000000E001.91350100M000100Y43..001.4", "length"},
		{"1.2.156.3005.2.11100000000000000E001.91350100M000100Y43..0001.4", "serial"},
		{"1.2.156.3005.2.11100000000000000E001.91350100M000100Y43.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.001.U", "length"},
		{"1.2.156.3005.2.11100000000000000E001.91350100M000100Y43.320404202400001.01.4", "version"},
		{"1.2.156.3005.2.11100000000000000E001.91350100M000100Y43.32040420240000.1001.4", "version"},
		{"1.2.156.3005.2.11100000000000000E001.91350100M000100Y43.320404202400001.A01.4", "version"},
		{"1.2.156.3005.2.11100000000000000E001.91350100M000100Y43.320404202400001.0014", "form"},
		{"1.2.156.3005.2.11100000000000000E001.91350100M000100Y43.320404202400001.001.44", "form"},
		{"1.2.156.3005.2.11100000000000000E001.91350100M000100Y43.3204042024.00001.001.4", "form"},
		{"1.2.156.3005.2.11100000000000000E001-91350100M000100Y43-320404202400001-001-4", "form"},
		{"1.2.156.3005.2.11100000000000000E001.91350100M000100Y43.32040420240000１.001.4", "serial"},
	}
	for _, tt := range bad {
		got, err := ParseLicenseID(tt.s)
		if got != (LicenseID{}) {
			t.Errorf("ParseLicenseID(%q) = %+v, want zero LicenseID", tt.s, got)
		}
		fe := wantFieldError(t, err, CodeInvalidLicenseID, tt.s)
		if !strings.Contains(fe.Message, tt.msg) {
			t.Errorf("ParseLicenseID(%q): got message %q, want it to contain %q", tt.s, fe.Message, tt.msg)
		}
	}
}

func TestNewLicenseID(t *testing.T) {
	for _, tt := range goodLicenseIDs {
		got, err := NewLicenseID(tt.typeCode, tt.issuer, tt.serial, tt.version)
		if err != nil {
			t.Errorf("NewLicenseID(%q, %q, %q, %q) = %v, want nil", tt.typeCode, tt.issuer, tt.serial, tt.version, err)
			continue
		}
		if s := got.String(); s != tt.s {
			t.Errorf("NewLicenseID(...).String() = %q, want %q", s, tt.s)
		}
	}
	bad := []struct{ typeCode, issuer, serial, version, msg string }{
		{"", "91350100M000100Y43", "1", "001", "type code"},
		{"11100000000000000e001", "91350100M000100Y43", "1", "001", "type code"},
		{"11100000000000000E00.", "91350100M000100Y43", "1", "001", "type code"},
		{"11100000000000000E001", "91350100M000100Y44", "1", "001", "issuer"},
		{"11100000000000000E001", "11010519491231002X", "1", "001", "issuer"},
		{"11100000000000000E001", "91350100M000100Y43", "", "001", "serial"},
		{"11100000000000000E001", "91350100M000100Y43", strings.Repeat("A", 33), "001", "serial"},
		{"11100000000000000E001", "91350100M000100Y43", "A.B", "001", "serial"},
		{"11100000000000000E001", "91350100M000100Y43", "a", "001", "serial"},
		{"11100000000000000E001", "91350100M000100Y43", "1", "1", "version"},
		{"11100000000000000E001", "91350100M000100Y43", "1", "00A", "version"},
	}
	for _, tt := range bad {
		got, err := NewLicenseID(tt.typeCode, tt.issuer, tt.serial, tt.version)
		if got != (LicenseID{}) {
			t.Errorf("NewLicenseID(%q, %q, %q, %q) = %+v, want zero LicenseID", tt.typeCode, tt.issuer, tt.serial, tt.version, got)
		}
		fe := wantFieldError(t, err, CodeInvalidLicenseID, tt.issuer)
		if !strings.Contains(fe.Message, tt.msg) {
			t.Errorf("NewLicenseID(%q, %q, %q, %q): got message %q, want it to contain %q", tt.typeCode, tt.issuer, tt.serial, tt.version, fe.Message, tt.msg)
		}
	}
}

func TestLicenseIDCheck(t *testing.T) {
	tests := []struct {
		payload string
		want    byte
	}{
		{"0", '2'},
		{"1", 'Z'},
		{"A", 'H'},
		{"Z", '4'},
		{"0000", 'G'},
		{"ABCDEF", 'C'},
		{"123456789", '9'},
		{"11100000000000000E00191350100M000100Y43320404202400001001", '4'},
		{"11100000000013338W08711370800MB2855918437080001202411010001001", '3'},
	}
	for _, tt := range tests {
		got, err := LicenseIDCheck(tt.payload)
		if err != nil || got != tt.want {
			t.Errorf("LicenseIDCheck(%q) = %q, %v; want %q, nil", tt.payload, got, err, tt.want)
		}
	}
	for _, s := range []string{"", "a", "ABC.DEF", "ABC DEF", "12345678é"} {
		got, err := LicenseIDCheck(s)
		if got != 0 {
			t.Errorf("LicenseIDCheck(%q) = %q, want 0", s, got)
		}
		wantFieldError(t, err, CodeInvalidLicenseID, s)
	}
}

func TestLicenseIDStringZero(t *testing.T) {
	// A hand-built value is formatted as it is.
	l := LicenseID{TypeCode: "T", Issuer: "I", Serial: "S", Version: "V", Check: 'C'}
	if got, want := l.String(), "1.2.156.3005.2.T.I.S.V.C"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got := l.IssuerRegion(); got != "" {
		t.Errorf("IssuerRegion() = %q, want empty", got)
	}
}

func TestMaskID(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"a", "*"},
		{"1234", "****"},
		{"12345678", "********"},
		{"123456789", "1234*6789"},
		{"11010519491231002X", "1101**********002X"},
		{"91350100M000100Y43", "9135**********0Y43"},
		{"张三李四王五赵六", "********"},
		{"张三李四王五赵六钱七", "张三李四**赵六钱七"},
		{"ab\xffcdefgh\xfeij", "ab\xffc****h\xfeij"},
		{LicenseIDPrefix + "X", "1.2.********.2.X"},
	}
	for _, tt := range tests {
		got := MaskID(tt.in)
		if got != tt.want {
			t.Errorf("MaskID(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if g, w := utf8.RuneCountInString(got), utf8.RuneCountInString(tt.in); g != w {
			t.Errorf("MaskID(%q) has %d characters, want %d", tt.in, g, w)
		}
	}
}

// TestSingleCharacterChange checks that changing any one character of a
// valid identifier to any other character of its alphabet is detected.
func TestSingleCharacterChange(t *testing.T) {
	const digitsX = "0123456789X"
	for _, id := range goodCitizenIDs {
		b := []byte(id)
		for i := range b {
			for j := 0; j < len(digitsX); j++ {
				c := digitsX[j]
				if c == id[i] {
					continue
				}
				b[i] = c
				if err := ValidateCitizenID(string(b)); err == nil {
					t.Errorf("citizen id %q with position %d changed to %c passes", id, i, c)
				}
			}
			b[i] = id[i]
		}
	}
	for _, code := range goodCreditCodes {
		b := []byte(code)
		for i := range b {
			for j := 0; j < len(creditAlphabet); j++ {
				c := creditAlphabet[j]
				if c == code[i] {
					continue
				}
				b[i] = c
				if err := ValidateCreditCode(string(b)); err == nil {
					t.Errorf("credit code %q with position %d changed to %c passes", code, i, c)
				}
			}
			b[i] = code[i]
		}
	}
	ids := append([]string(nil), licenseEveryCheck...)
	for _, tt := range goodLicenseIDs {
		ids = append(ids, tt.s)
	}
	for _, id := range ids {
		b := []byte(id)
		for i := range b {
			for j := 0; j <= len(base36); j++ {
				c := byte('.')
				if j < len(base36) {
					c = base36[j]
				}
				if c == id[i] {
					continue
				}
				b[i] = c
				if _, err := ParseLicenseID(string(b)); err == nil {
					t.Errorf("license id %q with position %d changed to %c passes", id, i, c)
				}
			}
			b[i] = id[i]
		}
	}
}

// TestValidatorsDoNotAllocate checks that validating a valid value does not
// allocate.
func TestValidatorsDoNotAllocate(t *testing.T) {
	const lic = "1.2.156.3005.2.11100000000013338W087.11370800MB28559184.37080001202411010001.001.3"
	checks := map[string]func(){
		"ValidateRegion":     func() { _ = ValidateRegion("320404") },
		"RegionLevelOf":      func() { _ = RegionLevelOf("320404") },
		"ValidateCitizenID":  func() { _ = ValidateCitizenID("11010519491231002X") },
		"ValidateCreditCode": func() { _ = ValidateCreditCode("91350100M000100Y43") },
		"ValidateHolderID":   func() { _ = ValidateHolderID("001", "91350100M000100Y43") },
		"ParseLicenseID":     func() { _, _ = ParseLicenseID(lic) },
		"NewLicenseID": func() {
			_, _ = NewLicenseID("11100000000013338W087", "11370800MB28559184", "37080001202411010001", "001")
		},
		"LicenseIDCheck": func() { _, _ = LicenseIDCheck("0000") },
	}
	for name, f := range checks {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s allocates %v times per call, want 0", name, n)
		}
	}
}

func BenchmarkValidateCitizenID(b *testing.B) {
	for b.Loop() {
		_ = ValidateCitizenID("11010519491231002X")
	}
}

func BenchmarkParseLicenseID(b *testing.B) {
	const lic = "1.2.156.3005.2.11100000000013338W087.11370800MB28559184.37080001202411010001.001.3"
	for b.Loop() {
		_, _ = ParseLicenseID(lic)
	}
}

// Package catalogue is the list of cross-region service items (通办事项清单)
// a gateway carries: for each item its codes, name, owning regions, the
// regions that may accept it remotely, its statutory and promised time
// limits and its required materials. It is read from a file the
// configuration points to; the gateway publishes it and checks every
// submission against it.
//
// Codes, as this package validates them:
//   - 基本编码 (basic code): 12 digits, the item's code in the national
//     basic catalogue of government services, for example 000155014000.
//   - 实施编码 (implementation code): the implementing agency's 18-character
//     unified social credit code, then 13 to 15 digits that contain the
//     item's 基本编码, for example 113307020025937411400015501400001. The
//     credit code is checked like any other (GB 32100 check character).
//
// Scope (which regions may accept an item for its owner):
//   - city (市内通办): a region of the same prefecture (the first four
//     digits of the GB/T 2260 code) as an owning region;
//   - province (省内通办): a region of the same province (first two
//     digits);
//   - cross_province (跨省通办): any region.
//
// An item may also list accept_regions: then only those regions (within
// the scope) may accept it. An owning region never accepts its own item
// remotely: that is not a cross-region case.
package catalogue

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway/workdays"
)

// Scope is how far from its owner an item may be accepted.
type Scope string

// The scopes of an item.
const (
	ScopeCity          Scope = "city"
	ScopeProvince      Scope = "province"
	ScopeCrossProvince Scope = "cross_province"
)

// Limits of a catalogue.
const (
	MaxItems     = 10000
	MaxMaterials = 100
	MaxNameLen   = 200
)

var (
	basicCode  = regexp.MustCompile(`^[0-9]{12}$`)
	implDigits = regexp.MustCompile(`^[0-9]{13,15}$`)
)

// ValidBasicCode reports whether s is a well-formed 基本编码.
func ValidBasicCode(s string) bool { return basicCode.MatchString(s) }

// CheckImplementationCode checks that s is a well-formed 实施编码 of the
// item with basic code basic, and says what is wrong when it is not.
func CheckImplementationCode(s, basic string) error {
	if len(s) < 18+13 || len(s) > 18+15 {
		return fmt.Errorf("implementation_code must be 31 to 33 characters, is %d", len(s))
	}
	if err := contracts.ValidateCreditCode(s[:18]); err != nil {
		return fmt.Errorf("implementation_code must start with the implementing agency's unified social credit code: %v", err)
	}
	rest := s[18:]
	if !implDigits.MatchString(rest) {
		return errors.New("implementation_code must end in 13 to 15 digits after the credit code")
	}
	if !strings.Contains(rest, basic) {
		return fmt.Errorf("implementation_code does not contain the item's basic_code %s", basic)
	}
	return nil
}

// Material is one material an item requires.
type Material struct {
	MaterialID string `yaml:"material_id" json:"material_id"`
	Name       string `yaml:"name" json:"name"`
	Required   bool   `yaml:"required" json:"required"`
}

// Item is one service item.
type Item struct {
	BasicCode          string         `yaml:"basic_code" json:"basic_code"`
	ImplementationCode string         `yaml:"implementation_code" json:"implementation_code"`
	Name               string         `yaml:"name" json:"name"`
	Owners             []string       `yaml:"owners" json:"owners"`
	Scope              Scope          `yaml:"scope" json:"scope"`
	AcceptRegions      []string       `yaml:"accept_regions,omitempty" json:"accept_regions,omitempty"`
	StatutoryLimit     workdays.Limit `yaml:"statutory_limit" json:"statutory_limit"`
	PromisedLimit      workdays.Limit `yaml:"promised_limit" json:"promised_limit"`
	Materials          []Material     `yaml:"materials,omitempty" json:"materials,omitempty"`
}

// validate checks one item; errors name the field.
func (it *Item) validate() error {
	if !ValidBasicCode(it.BasicCode) {
		return errors.New("basic_code must be 12 digits")
	}
	if err := CheckImplementationCode(it.ImplementationCode, it.BasicCode); err != nil {
		return err
	}
	if n := strings.TrimSpace(it.Name); n == "" || len(n) > MaxNameLen {
		return fmt.Errorf("name is required, at most %d bytes", MaxNameLen)
	}
	if len(it.Owners) == 0 {
		return errors.New("owners: at least one owning region is required")
	}
	for _, r := range it.Owners {
		if err := contracts.ValidateRegion(r); err != nil {
			return fmt.Errorf("owners: %v", err)
		}
	}
	switch it.Scope {
	case ScopeCity, ScopeProvince, ScopeCrossProvince:
	default:
		return fmt.Errorf("scope %q: must be %s, %s or %s", it.Scope, ScopeCity, ScopeProvince, ScopeCrossProvince)
	}
	for _, r := range it.AcceptRegions {
		if err := contracts.ValidateRegion(r); err != nil {
			return fmt.Errorf("accept_regions: %v", err)
		}
		if !it.inScope(r) {
			return fmt.Errorf("accept_regions: %s is outside the item's %s scope", r, it.Scope)
		}
	}
	if err := it.StatutoryLimit.Validate(); err != nil {
		return fmt.Errorf("statutory_limit: %v", err)
	}
	if err := it.PromisedLimit.Validate(); err != nil {
		return fmt.Errorf("promised_limit: %v", err)
	}
	if it.PromisedLimit.Unit == it.StatutoryLimit.Unit && it.PromisedLimit.Days > it.StatutoryLimit.Days {
		return fmt.Errorf("promised_limit of %d days exceeds the statutory_limit of %d", it.PromisedLimit.Days, it.StatutoryLimit.Days)
	}
	if len(it.Materials) > MaxMaterials {
		return fmt.Errorf("materials: at most %d", MaxMaterials)
	}
	seen := map[string]bool{}
	for i, m := range it.Materials {
		if m.MaterialID == "" || strings.TrimSpace(m.Name) == "" {
			return fmt.Errorf("materials[%d]: material_id and name are required", i)
		}
		if seen[m.MaterialID] {
			return fmt.Errorf("materials[%d]: material_id %s is listed twice", i, m.MaterialID)
		}
		seen[m.MaterialID] = true
	}
	return nil
}

// inScope reports whether region r lies within the item's scope of one
// of its owners (whether or not accept_regions lists it).
func (it *Item) inScope(r string) bool {
	for _, o := range it.Owners {
		switch it.Scope {
		case ScopeCrossProvince:
			return true
		case ScopeProvince:
			if r[:2] == o[:2] {
				return true
			}
		case ScopeCity:
			if r[:4] == o[:4] {
				return true
			}
		}
	}
	return false
}

// Catalogue is a validated list of items, by implementation code.
type Catalogue struct {
	items []Item
	byImp map[string]int
}

// file is a catalogue file.
type file struct {
	Items []Item `yaml:"items"`
}

// Parse reads a catalogue file (YAML, one list "items"; see Item for
// the fields). Every item is validated; implementation codes are unique.
// Unknown fields are refused.
func Parse(raw []byte) (*Catalogue, error) {
	var f file
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("catalogue: %w", err)
	}
	if len(f.Items) == 0 {
		return nil, errors.New("catalogue: items: at least one item is required")
	}
	if len(f.Items) > MaxItems {
		return nil, fmt.Errorf("catalogue: at most %d items", MaxItems)
	}
	c := &Catalogue{items: f.Items, byImp: make(map[string]int, len(f.Items))}
	for i := range c.items {
		it := &c.items[i]
		if err := it.validate(); err != nil {
			return nil, fmt.Errorf("catalogue: items[%d] (%s): %w", i, it.ImplementationCode, err)
		}
		if _, dup := c.byImp[it.ImplementationCode]; dup {
			return nil, fmt.Errorf("catalogue: items[%d]: implementation_code %s is listed twice", i, it.ImplementationCode)
		}
		c.byImp[it.ImplementationCode] = i
	}
	return c, nil
}

// Load reads the catalogue file at path.
func Load(path string) (*Catalogue, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("catalogue: %w", err)
	}
	return Parse(raw)
}

// Items returns the items in file order.
func (c *Catalogue) Items() []Item { return slices.Clone(c.items) }

// Lookup returns the item with implementation code code.
func (c *Catalogue) Lookup(code string) (Item, bool) {
	i, ok := c.byImp[code]
	if !ok {
		return Item{}, false
	}
	return c.items[i], true
}

// Why a route is refused (Route's *Refusal).
const (
	// NotInCatalogue: no item has the implementation code.
	NotInCatalogue = "not_in_catalogue"
	// NotOpen: the item is not open between the two regions.
	NotOpen = "not_open"
)

// Refusal says why a submission's item cannot go where it asks.
type Refusal struct {
	Reason  string // NotInCatalogue or NotOpen
	Message string
}

func (r *Refusal) Error() string { return r.Message }

// Route returns the owner region of the item with implementation code
// code accepted in region from: to when given (it must be an owner), else
// the item's only owner. It refuses (*Refusal) an item not in the
// catalogue, an owner that is not the item's, a submission that must name
// one of several owners, and an item not open between from and the owner.
func (c *Catalogue) Route(code, from, to string) (string, error) {
	it, ok := c.Lookup(code)
	if !ok {
		return "", &Refusal{NotInCatalogue, fmt.Sprintf("service item %s is not in the catalogue", code)}
	}
	switch {
	case to == "" && len(it.Owners) > 1:
		return "", &Refusal{NotOpen, fmt.Sprintf("service item %s has %d owning regions: name one in to_region", code, len(it.Owners))}
	case to == "":
		to = it.Owners[0]
	case !slices.Contains(it.Owners, to):
		return "", &Refusal{NotOpen, fmt.Sprintf("service item %s is not owned by region %s", code, to)}
	}
	if from == to {
		return "", &Refusal{NotOpen, fmt.Sprintf("region %s owns service item %s: it is not a cross-region case", from, code)}
	}
	if !it.inScope(from) || (len(it.AcceptRegions) > 0 && !slices.Contains(it.AcceptRegions, from)) {
		return "", &Refusal{NotOpen, fmt.Sprintf("service item %s is not open to be accepted in region %s (scope %s)", code, from, it.Scope)}
	}
	return to, nil
}

package devrig

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tongban/tongban/adapters/mailbox"
	"github.com/tongban/tongban/adapters/standard"
	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway/config"
)

// The rig's settings, in one place. A setting at the gateway's default is
// left zero (see config.DefaultListen and the rest), so the defaults stay
// the configuration package's.
const (
	// Poll is the dispatcher's longest idle sleep (delivery.poll): short,
	// so that a demo case moves at once.
	Poll = 200 * time.Millisecond
	// PartnerTimeout bounds one delivery attempt to a simulated district.
	PartnerTimeout = 5 * time.Second
)

// Retry is the retry policy of a simulated district: a dead letter comes
// within minutes, not a day.
var Retry = config.Retry{MaxAttempts: 8, BaseDelay: 500 * time.Millisecond, MaxDelay: 30 * time.Second}

// Gateway returns the configuration of gateway id listening on listen,
// its key at PrivPath(GatewayKey), personal data sealed with the data
// keys at DataKeysPath (see Keys), with no partners yet.
func Gateway(id, listen string) *config.Config {
	return &config.Config{
		GatewayID:  id,
		Listen:     listen,
		SigningKey: config.SigningKey{Path: PrivPath(GatewayKey), KeyID: config.DefaultKeyID},
		DataKeys:   config.DataKeys{Path: DataKeysPath},
		Delivery:   config.Delivery{Poll: Poll},
	}
}

// Partner returns district d's partner entry: role partner, its region,
// its key PubPath(d.Code), its adapter (the block StyleConfig(d.Style,
// endpoint)), the rig's retry policy and timeout, and a license library
// of its region, except for a mailbox district, which cannot be asked
// synchronously.
func Partner(d District, endpoint string) (config.Partner, error) {
	p := config.Partner{
		ID: d.Code, Roles: []string{string(contracts.RolePartner)}, Regions: []string{d.Code},
		Keys: map[string]string{d.Code: PubPath(d.Code)}, Adapter: d.Style, Retry: Retry, Timeout: PartnerTimeout,
	}
	if d.Style != mailbox.Name {
		p.Library = &config.LicenseLibrary{Regions: []string{d.Code}}
	}
	return p, p.SetAdapterConfig(StyleConfig(d.Style, endpoint))
}

// The simulated national library: the national e-license sharing service
// (全国一体化政务服务平台), which a gateway in service asks, as its
// fallback library, for licenses of every region no configured library
// declares. Its simulator (NationalSimConfig) holds the demo licenses of
// partnersim.NationalRegions, which no demo district declares, and answers
// not found for any other license.
const (
	// NationalID is its partner id, caller id and key id.
	NationalID = "national"
	// NationalName names it on its partner entry.
	NationalName = "全国一体化政务服务平台（模拟）"
)

// NationalPartner returns the national library's partner entry: role
// partner, no regions of its own (it takes no cases), its key
// PubPath(NationalID), adapter standard at endpoint, the rig's retry
// policy (for its usage records) and timeout, and license_library
// {fallback: true}: the library of last resort for every region.
func NationalPartner(endpoint string) (config.Partner, error) {
	p := config.Partner{
		ID: NationalID, Roles: []string{string(contracts.RolePartner)},
		Keys: map[string]string{NationalID: PubPath(NationalID)}, Adapter: standard.Name, Retry: Retry, Timeout: PartnerTimeout,
		Library: &config.LicenseLibrary{Fallback: true},
	}
	return p, p.SetAdapterConfig(StyleConfig(standard.Name, endpoint))
}

// AdapterBlock is an adapter block of the given settings, for a partner
// entry's SetAdapterConfig.
func AdapterBlock(settings map[string]any) json.RawMessage {
	b, err := json.Marshal(settings)
	if err != nil {
		panic(err) // settings are literals of the rig's callers
	}
	return b
}

// Caller returns the entry of a caller that is no district: its id (also
// its key id, key PubPath(id)), role and regions.
func Caller(id string, role contracts.Role, regions ...string) config.Partner {
	return config.Partner{ID: id, Roles: []string{string(role)}, Regions: regions, Keys: map[string]string{id: PubPath(id)}}
}

// Marshal writes cfg as YAML, as an operator would write it (the struct
// marshalled by yaml.v3, two-space indents, block style): header, if not
// empty, is its leading comment, and comments[id] is put on the id line
// of partner id.
func Marshal(cfg *config.Config, header string, comments map[string]string) ([]byte, error) {
	var n yaml.Node
	if err := n.Encode(cfg); err != nil {
		return nil, err
	}
	n.HeadComment = header
	if partners := mappingValue(&n, "partners"); partners != nil {
		for _, p := range partners.Content {
			if id := mappingValue(p, "id"); id != nil {
				id.LineComment = comments[id.Value]
			}
		}
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// mappingValue returns the value of key in mapping node m, nil if absent.
func mappingValue(m *yaml.Node, key string) *yaml.Node {
	if m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// WriteConfig writes cfg to path (Marshal, mode perm) and loads it back as
// `tongban serve --config path` would: the value returned resolves its
// paths against path's directory, and its Source is the file's bytes.
func WriteConfig(path string, cfg *config.Config, perm os.FileMode, header string, comments map[string]string) (*config.Config, error) {
	b, err := Marshal(cfg, header, comments)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if err := os.WriteFile(path, b, perm); err != nil {
		return nil, err
	}
	return config.Load(path)
}

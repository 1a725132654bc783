package app

import (
	"crypto/tls"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/config"
	"github.com/tongban/tongban/gateway/keyring"
	"github.com/tongban/tongban/gateway/tlsconf"
	"github.com/tongban/tongban/signing"
)

// partnerSet is what a configuration's partners build to, at start or
// on a reload: the partners with their adapters wired, the caller keys
// their files hold, the certificates whose expiry /readyz watches, the
// client certificate binding, the key CAs (key_ca) and what to close when
// the set is replaced.
type partnerSet struct {
	partners []*gateway.Partner
	keys     []keyring.Key
	certs    []tlsconf.Expiry
	binder   *tlsconf.Binder
	keyCAs   []*signing.Certificate
	closers  []io.Closer
	// digests are, by partner id, what the partner's entry and key files
	// say (its entry as YAML, each key's id and fingerprint): a reload
	// reports a partner whose digest changed as updated.
	digests map[string]string
}

// close releases the set's adapters (their idle connections: an adapter
// still in use by an attempt stays usable).
func (s *partnerSet) close() {
	for _, c := range s.closers {
		c.Close()
	}
}

// buildPartners builds cfg's partners as of now: every key file loaded
// (a certificate valid now and chaining to key_ca), every adapter built
// through the registry with crypto, license libraries and client
// certificate bindings. Nothing is registered anywhere: the caller puts
// the set in force. An error names the field; what was opened is closed.
func buildPartners(cfg *config.Config, crypto *keyring.Keyring, now time.Time) (_ *partnerSet, err error) {
	s := &partnerSet{digests: map[string]string{}}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	if s.binder, err = tlsconf.NewBinder(cfg.Partners); err != nil {
		return nil, err
	}
	if cfg.KeyCA != "" {
		if s.keyCAs, err = keyring.LoadCAFile(cfg.Resolve(cfg.KeyCA), now); err != nil {
			return nil, fmt.Errorf("key_ca: %w", err)
		}
	}
	owners := map[string]string{} // key id → partner id
	for i, pc := range cfg.Partners {
		entry, err := yaml.Marshal(pc)
		if err != nil {
			return nil, fmt.Errorf("partners[%d] (%s): %w", i, pc.ID, err)
		}
		digest := []string{string(entry)}
		kids := make([]string, 0, len(pc.Keys))
		for kid := range pc.Keys {
			kids = append(kids, kid)
		}
		sort.Strings(kids)
		for _, kid := range kids {
			field := fmt.Sprintf("partners[%d] (%s).keys.%s", i, pc.ID, kid)
			pub, cert, err := keyring.LoadKeyFile(cfg.Resolve(pc.Keys[kid]), s.keyCAs, now)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", field, err)
			}
			if other, dup := owners[kid]; dup {
				return nil, fmt.Errorf("partners[%d].keys.%s: %w: key id %q belongs to partner %s too", i, kid, keyring.ErrKeyConflict, kid, other)
			}
			if crypto.IsGatewayKey(kid) {
				return nil, fmt.Errorf("partners[%d].keys.%s: %w: %q is one of the gateway's own key ids", i, kid, keyring.ErrKeyConflict, kid)
			}
			owners[kid] = pc.ID
			if cert != nil {
				s.certs = append(s.certs, tlsconf.Expiry{Field: field, NotAfter: cert.NotAfter})
			}
			s.keys = append(s.keys, keyring.Key{Caller: pc.ID, KeyID: kid, Public: pub, Certificate: cert})
			fp, err := crypto.Fingerprint(pub)
			if err != nil {
				return nil, err
			}
			digest = append(digest, kid+"="+fp)
		}
		s.digests[pc.ID] = strings.Join(digest, "\n")
		p := &gateway.Partner{ID: pc.ID, Regions: pc.Regions, Timeout: pc.Timeout, Style: pc.Adapter, Retry: gateway.RetryPolicy{
			MaxAttempts: pc.Retry.MaxAttempts, MaxAge: pc.Retry.MaxAge, BaseDelay: pc.Retry.BaseDelay, MaxDelay: pc.Retry.MaxDelay,
		}}
		for _, r := range pc.Roles {
			p.Roles = append(p.Roles, contracts.Role(r))
		}
		if pc.Adapter != "" {
			if err := s.wireAdapter(cfg, i, pc, p, crypto, now); err != nil {
				return nil, err
			}
		}
		s.partners = append(s.partners, p)
	}
	return s, nil
}

// wireAdapter builds partner pc's adapter (with its outbound TLS) and
// gives p what it can do.
func (s *partnerSet) wireAdapter(cfg *config.Config, i int, pc config.Partner, p *gateway.Partner, crypto *keyring.Keyring, now time.Time) error {
	raw, err := pc.AdapterConfig()
	if err != nil {
		return fmt.Errorf("partners[%d].config: %w", i, err)
	}
	var clientTLS *tls.Config
	if pc.TLS != nil {
		var exp []tlsconf.Expiry
		if clientTLS, exp, err = tlsconf.Client(pc.TLS, cfg.Resolve, now); err != nil {
			return fmt.Errorf("partners[%d] (%s).%w", i, pc.ID, err)
		}
		for _, e := range exp {
			s.certs = append(s.certs, tlsconf.Expiry{Field: fmt.Sprintf("partners[%d] (%s).%s", i, pc.ID, e.Field), NotAfter: e.NotAfter})
		}
	}
	a, err := adapters.New(pc.Adapter, adapters.Params{PartnerID: pc.ID, Config: raw, Crypto: crypto, Timeout: pc.Timeout, TLS: clientTLS})
	if err != nil {
		return fmt.Errorf("partners[%d] (%s): adapter: %w", i, pc.ID, err)
	}
	if c, ok := a.(io.Closer); ok {
		s.closers = append(s.closers, c)
	}
	if pc.TLS != nil && !calls(a) {
		return fmt.Errorf("partners[%d] (%s).tls: adapter %q makes no calls to the partner; remove tls", i, pc.ID, pc.Adapter)
	}
	wire(p, a)
	if p.Library, err = libraryOf(pc, a); err != nil {
		return fmt.Errorf("partners[%d] (%s): %w", i, pc.ID, err)
	}
	return nil
}

package app

import (
	"context"
	"crypto/tls"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/config"
	"github.com/tongban/tongban/gateway/tlsconf"
)

// liveConfig is the configuration in force and what its partners built
// to.
type liveConfig struct {
	cfg *config.Config
	set *partnerSet
}

// reloadable are the top-level settings a reload may change: the
// partners, and the CAs their keys chain to. Everything else is wired at
// start (the listener, the store, the gateway's keys, the dispatcher, the
// limits, ...) and needs a restart.
var reloadable = []string{"partners", "key_ca"}

// Reload reads the configuration file again (the one named by
// WithConfigPath, with the environment overrides, as serve read it) and
// puts its partners in force without a restart, for operator p (forbidden
// for anyone else). See reload for what it does and refuses.
func (g *Gateway) Reload(ctx context.Context, p gateway.Principal) (*contracts.ReloadResult, error) {
	if err := gateway.Authorize(p, gateway.ActReload, nil, ""); err != nil {
		return nil, err
	}
	return g.reload(ctx, p)
}

// ReloadSignal is Reload asked by a signal to the process (SIGHUP): its
// evidence record's actor is gateway.SignalActor.
func (g *Gateway) ReloadSignal(ctx context.Context) (*contracts.ReloadResult, error) {
	return g.reload(ctx, gateway.Principal{})
}

// ReloadOn reloads the configuration at each signal received on signals
// (serve passes SIGHUP), logging what changed or why the file was
// refused, until ctx ends.
func (g *Gateway) ReloadOn(ctx context.Context, signals <-chan os.Signal) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-signals:
			if _, err := g.ReloadSignal(ctx); err != nil {
				g.log.Error("configuration reload on signal refused; the configuration in force is unchanged", "err", err)
			}
		}
	}
}

// reload puts the configuration file's partners in force, for p (a
// Principal without a Partner: a signal). In order, holding the lock of
// every change to what is in force (a key added or revoked at runtime
// waits):
//
//  1. the file is read and validated as at start (config.Load);
//  2. every setting outside partners and key_ca must equal the one in
//     force, else the reload is refused naming those that differ;
//  3. the partners are built as at start (key files, certificates valid
//     now, adapters through the registry, libraries, client certificate
//     bindings) and checked (gateway.NewDirectory, the keys' ids);
//  4. the pulling partners' deliveries are brought in step in the store;
//  5. the admin.reload record (the SM3 of what was read, who asked, the
//     partners and keys added, removed and updated) is appended;
//  6. the new partners are swapped in at once (gateway.Directory.Replace),
//     the caller keys made exactly the file's (keyring.Sync: keys added at
//     runtime that the file does not name go), and the old adapters
//     released.
//
// A failure in 1–3 is validation_failed saying what is wrong, in 4–5
// internal; in every case the configuration in force stays as it was.
func (g *Gateway) reload(ctx context.Context, p gateway.Principal) (*contracts.ReloadResult, error) {
	g.changes.Lock()
	defer g.changes.Unlock()
	refuse := func(format string, args ...any) error {
		return gateway.Failf(contracts.CodeValidationFailed, "reload refused, the configuration in force is unchanged: "+format, args...)
	}
	if g.cfgPath == "" {
		return nil, refuse("the gateway was not started from a configuration file")
	}
	old := g.live.Load()
	next, err := config.Load(g.cfgPath)
	if err != nil {
		return nil, refuse("%v", err)
	}
	if diff := restartOnly(old.cfg, next); len(diff) > 0 {
		return nil, refuse("a reload changes only %s; these settings need a restart: %s", strings.Join(reloadable, " and "), strings.Join(diff, ", "))
	}
	set, err := buildPartners(next, g.keys, time.Now())
	if err != nil {
		return nil, refuse("%v", err)
	}
	applied := false
	defer func() {
		if !applied {
			set.close()
		}
	}()
	dir, err := gateway.NewDirectory(set.partners)
	if err != nil {
		return nil, refuse("partners: %v", err)
	}
	keysAdded, keysRemoved, err := g.keys.Plan(set.keys)
	if err != nil {
		return nil, refuse("partners: %v", err)
	}
	res := &contracts.ReloadResult{ConfigSM3: g.keys.SM3Hex(next.Source()), Partners: len(set.partners),
		Changed: partnerChanges(old.set, set), Keys: contracts.ReloadKeyChanges{Added: keysAdded, Removed: keysRemoved}}

	pullBefore, pullAfter := g.dir.PullPartners(), dir.PullPartners()
	if !slices.Equal(pullBefore, pullAfter) {
		if err := g.store.SetPullPartners(ctx, pullAfter); err != nil {
			return nil, gateway.Internal(err)
		}
	}
	ev := g.recorder.AdminChange(ctx, gateway.AdminChange{By: p, At: g.clock.Now().UTC(), Event: contracts.EventAdminReload,
		Detail: contracts.EvidenceDetail{ConfigSM3: res.ConfigSM3, PartnerCount: res.Partners,
			PartnersAdded: res.Changed.Added, PartnersRemoved: res.Changed.Removed, PartnersUpdated: res.Changed.Updated,
			KeysAdded: res.Keys.Added, KeysRemoved: res.Keys.Removed}})
	if len(ev) > 0 {
		if err := g.evidence.AppendEvidence(ctx, ev...); err != nil {
			if !slices.Equal(pullBefore, pullAfter) {
				if rerr := g.store.SetPullPartners(context.WithoutCancel(ctx), pullBefore); rerr != nil {
					g.log.Error("restoring the pulling partners after a refused reload", "err", rerr)
				}
			}
			return nil, gateway.Internal(err)
		}
	}
	g.dir.Replace(dir)
	if _, _, err := g.keys.Sync(set.keys); err != nil {
		// Plan checked the same keys under the same lock: not reached.
		g.log.Error("caller keys of a reloaded configuration", "err", err)
	}
	g.live.Store(&liveConfig{cfg: next, set: set})
	applied = true
	old.set.close()
	g.core.Outbox.Wake() // deliveries to a partner that now pushes, or pushes elsewhere
	actor := gateway.SignalActor
	if p.Partner != nil {
		actor = p.ID()
	}
	g.log.Info("configuration reloaded", "config_sm3", res.ConfigSM3, "partners", res.Partners, "by", actor,
		"added", res.Changed.Added, "removed", res.Changed.Removed, "updated", res.Changed.Updated,
		"keys_added", len(res.Keys.Added), "keys_removed", len(res.Keys.Removed))
	return res, nil
}

// partnerChanges lists the partners next adds to, removes from and
// changes in old (an entry, or the keys its files hold), each sorted.
func partnerChanges(old, next *partnerSet) contracts.ReloadChanges {
	ch := contracts.ReloadChanges{Added: []string{}, Removed: []string{}, Updated: []string{}}
	for id, d := range next.digests {
		switch od, ok := old.digests[id]; {
		case !ok:
			ch.Added = append(ch.Added, id)
		case od != d:
			ch.Updated = append(ch.Updated, id)
		}
	}
	for id := range old.digests {
		if _, ok := next.digests[id]; !ok {
			ch.Removed = append(ch.Removed, id)
		}
	}
	slices.Sort(ch.Added)
	slices.Sort(ch.Removed)
	slices.Sort(ch.Updated)
	return ch
}

// restartOnly names the settings of next, outside the reloadable ones,
// that differ from cur's (by their YAML path, e.g. "store.path",
// "signing_key.key_id"), in the file's order.
func restartOnly(cur, next *config.Config) []string {
	var out []string
	diffSettings("", reflect.ValueOf(*cur), reflect.ValueOf(*next), &out)
	return out
}

// diffSettings appends to out the paths of the settings where a and b, of
// one type, differ.
func diffSettings(path string, a, b reflect.Value, out *[]string) {
	switch a.Kind() {
	case reflect.Struct:
		t := a.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				name = strings.ToLower(f.Name)
			}
			if path == "" && slices.Contains(reloadable, name) {
				continue
			}
			if path != "" {
				name = path + "." + name
			}
			diffSettings(name, a.Field(i), b.Field(i), out)
		}
	case reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			if a.IsNil() != b.IsNil() {
				*out = append(*out, path)
			}
			return
		}
		diffSettings(path, a.Elem(), b.Elem(), out)
	default:
		if !reflect.DeepEqual(a.Interface(), b.Interface()) {
			*out = append(*out, path)
		}
	}
}

// peerCheck is the client certificate binding of the partners in force
// (httpapi.Options.PeerCheck).
func (g *Gateway) peerCheck(caller string, state *tls.ConnectionState) error {
	return g.live.Load().set.binder.Check(caller, state)
}

// certificates are the certificates /readyz watches: the listener's and
// those of the partners in force (keys given as certificates, outbound
// TLS).
func (g *Gateway) certificates() []tlsconf.Expiry {
	return append(slices.Clone(g.serverCerts), g.live.Load().set.certs...)
}

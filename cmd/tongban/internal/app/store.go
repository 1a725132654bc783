package app

import (
	"context"
	"fmt"

	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/config"
	"github.com/tongban/tongban/gateway/evidence"
	"github.com/tongban/tongban/gateway/store/postgres"
	"github.com/tongban/tongban/gateway/store/sqlite"
)

// Store is what the application needs of a store: every role of the
// core, and a readiness probe that takes a real write.
type Store interface {
	gateway.Store
	Probe(ctx context.Context) error
}

var (
	_ Store = (*sqlite.Store)(nil)
	_ Store = (*postgres.Store)(nil)
)

// openStore opens the store the configuration selects, linking evidence
// with linker.
//
//   - sqlite: the embedded file, owned by this process alone (a second
//     gateway on it is refused, sqlite.ErrLocked). Deliveries a killed
//     process left in flight are due again at once rather than after
//     their lease.
//   - postgres: a database any number of replicas share; leases left by a
//     replica that died are taken over when they expire, never released
//     early, since the replica may still be running.
func openStore(ctx context.Context, cfg *config.Config, linker evidence.Linker) (Store, error) {
	switch cfg.Store.Driver {
	case config.DriverSQLite:
		s, err := sqlite.Open(ctx, sqlite.Options{Path: cfg.Resolve(cfg.Store.Path), Synchronous: cfg.Store.Synchronous,
			ReleaseLeases: true, Linker: linker})
		if err != nil {
			return nil, err
		}
		return s, nil
	case config.DriverPostgres:
		p := cfg.Store.Pool
		s, err := postgres.Open(ctx, postgres.Options{DSN: cfg.Store.DSN, Schema: cfg.Store.Schema, MaxConns: p.MaxConns,
			MinConns: p.MinConns, MaxConnLifetime: p.MaxConnLifetime, MaxConnIdleTime: p.MaxConnIdleTime, Linker: linker})
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	return nil, fmt.Errorf("store.driver %q: not sqlite or postgres", cfg.Store.Driver)
}

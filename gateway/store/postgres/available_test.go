package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/store/postgres/pgtest"
)

// TestUnavailableClassifies: the server's and the network's failures are
// ErrStoreUnavailable, the request's own and the caller's giving up are not.
func TestUnavailableClassifies(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"read-only transaction", &pgconn.PgError{Code: "25006"}, true},
		{"disk full", &pgconn.PgError{Code: "53100"}, true},
		{"too many connections", &pgconn.PgError{Code: "53300"}, true},
		{"connection failure", &pgconn.PgError{Code: "08006"}, true},
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, true},
		{"starting up", &pgconn.PgError{Code: "57P03"}, true},
		{"io error", &pgconn.PgError{Code: "58030"}, true},
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}, true},
		{"connection lost", fmt.Errorf("commit: %w", io.ErrUnexpectedEOF), true},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"deadlock", &pgconn.PgError{Code: "40P01"}, false},
		{"duplicate exchange", fmt.Errorf("x: %w", gateway.ErrDuplicateExchange), false},
		{"caller gave up", fmt.Errorf("x: %w", context.Canceled), false},
		{"caller's deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), false},
		{"other", errors.New("something else"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := unavailable(fmt.Errorf("postgres: write: %w", tt.err))
			if errors.Is(got, gateway.ErrStoreUnavailable) != tt.want || !errors.Is(got, tt.err) {
				t.Errorf("unavailable(%v) = %v; want ErrStoreUnavailable %v, and the cause kept", tt.err, got, tt.want)
			}
		})
	}
	if unavailable(nil) != nil {
		t.Error("unavailable(nil) != nil")
	}
}

// proxy forwards TCP connections from a loopback address to target until
// down, which closes its listener and every connection; up listens again
// on the same address.
type proxy struct {
	target, addr string

	mu    sync.Mutex
	ln    net.Listener
	conns []net.Conn
	wg    sync.WaitGroup
}

func newProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{target: target, addr: ln.Addr().String()}
	p.serve(ln)
	t.Cleanup(func() { p.down(); p.wg.Wait() })
	return p
}

func (p *proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			p.wg.Add(2)
			go func() { defer p.wg.Done(); io.Copy(s, c); s.Close() }()
			go func() { defer p.wg.Done(); io.Copy(c, s); c.Close() }()
		}
	}()
}

// down refuses new connections and cuts the open ones, as a server that
// stopped.
func (p *proxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// up accepts connections again on the same address.
func (p *proxy) up(t *testing.T) {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	p.serve(ln)
}

// availCase is a new case with its exchange, first history entry and
// delivery.
func availCase(id string) gateway.Change {
	now := time.Now().UTC()
	c := &gateway.Case{ID: id, ExchangeID: "x-" + id, Sender: "320404", Owner: "330702", State: contracts.CaseStateReceived,
		CreatedAt: now, UpdatedAt: now}
	return gateway.Change{
		Case:     c,
		Exchange: &gateway.Exchange{Sender: c.Sender, ExchangeID: c.ExchangeID, Kind: gateway.ExchangeCase, CaseID: id, Body: []byte(id), ReceivedAt: now},
		Status:   &gateway.Status{State: contracts.CaseStateReceived, ReportedBy: "gateway", At: now},
		Enqueue:  []*gateway.Delivery{{ID: "d-" + id, Partner: c.Owner, Kind: contracts.DeliveryKindCase, NextAt: now, CreatedAt: now}},
	}
}

// TestServerGoneRefusesWrites puts a proxy between the store and the
// server and stops it: writes, the probe and reads fail with
// ErrStoreUnavailable (connection refused, connections cut) and store
// nothing; once the proxy is back the same store takes writes again.
func TestServerGoneRefusesWrites(t *testing.T) {
	admin(t)
	u, err := url.Parse(testDSN())
	if err != nil {
		t.Fatal(err)
	}
	p := newProxy(t, u.Host)
	u.Host = p.addr
	q := u.Query()
	q.Set("connect_timeout", "2")
	u.RawQuery = q.Encode()
	schema := freshSchema(t)
	s, err := Open(t.Context(), Options{DSN: u.String(), Schema: schema, Linker: linker})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	if err := s.CreateCase(ctx, availCase(fixID("avail"))); err != nil {
		t.Fatal(err)
	}

	p.down()
	refused := availCase(fixID("avail"))
	if err := s.CreateCase(ctx, refused); !errors.Is(err, gateway.ErrStoreUnavailable) {
		t.Fatalf("CreateCase with the server gone: %v, want ErrStoreUnavailable", err)
	}
	if err := s.Probe(ctx); !errors.Is(err, gateway.ErrStoreUnavailable) {
		t.Errorf("Probe with the server gone: %v, want ErrStoreUnavailable", err)
	}
	if _, err := s.GetCase(ctx, refused.Case.ID); !errors.Is(err, gateway.ErrStoreUnavailable) {
		t.Errorf("GetCase with the server gone: %v, want ErrStoreUnavailable", err)
	}

	p.up(t)
	if _, err := s.GetCase(ctx, refused.Case.ID); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("the refused case, once the server is back: %v, want ErrNotFound", err)
	}
	if _, err := s.GetExchange(ctx, refused.Exchange.Sender, refused.Exchange.ExchangeID); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("the refused exchange, once the server is back: %v, want ErrNotFound", err)
	}
	if err := s.CreateCase(ctx, refused); err != nil {
		t.Fatalf("CreateCase once the server is back: %v", err)
	}
	if err := s.Probe(ctx); err != nil {
		t.Errorf("Probe once the server is back: %v", err)
	}
}

// TestServerRefusesRole runs a store as a role of its own and has the
// server refuse that role: its connections are terminated (57P01) and new
// ones refused for the role's connection limit (53300). Writes, the probe
// and reads fail with ErrStoreUnavailable and store nothing; once the
// limit is lifted the same store takes writes again.
func TestServerRefusesRole(t *testing.T) {
	pool := admin(t)
	role := newSchemaName()
	ident := pgx.Identifier{role}.Sanitize()
	if _, err := pool.Exec(t.Context(), `CREATE ROLE `+ident+` LOGIN`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // after the database is dropped (cleanups run last first)
		if _, err := pool.Exec(context.Background(), `DROP ROLE IF EXISTS `+ident); err != nil {
			t.Errorf("drop role %s: %v", role, err)
		}
	})
	dsn := pgtest.FreshDatabase(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(t.Context(), `ALTER DATABASE `+pgx.Identifier{u.Path[1:]}.Sanitize()+` OWNER TO `+ident); err != nil {
		t.Fatal(err)
	}
	u.User = url.User(role)
	s, err := Open(t.Context(), Options{DSN: u.String(), Linker: linker})
	if err != nil {
		t.Fatalf("Open as role %s: %v", role, err)
	}
	defer s.Close()
	ctx := t.Context()
	if err := s.CreateCase(ctx, availCase(fixID("role"))); err != nil {
		t.Fatal(err)
	}

	for _, q := range []string{`ALTER ROLE ` + ident + ` CONNECTION LIMIT 0`,
		`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '` + role + `'`} {
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	refused := availCase(fixID("role"))
	for i := range 3 { // the first writes may meet connections the server cut
		err := s.CreateCase(ctx, refused)
		if !errors.Is(err, gateway.ErrStoreUnavailable) {
			t.Fatalf("CreateCase %d with the role refused: %v, want ErrStoreUnavailable", i, err)
		}
		t.Logf("CreateCase %d with the role refused: %v", i, err)
	}
	if err := s.Probe(ctx); !errors.Is(err, gateway.ErrStoreUnavailable) {
		t.Errorf("Probe with the role refused: %v, want ErrStoreUnavailable", err)
	}
	if _, err := s.GetCase(ctx, refused.Case.ID); !errors.Is(err, gateway.ErrStoreUnavailable) {
		t.Errorf("GetCase with the role refused: %v, want ErrStoreUnavailable", err)
	}

	if _, err := pool.Exec(ctx, `ALTER ROLE `+ident+` CONNECTION LIMIT -1`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetCase(ctx, refused.Case.ID); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("the refused case, once the role is let in: %v, want ErrNotFound", err)
	}
	if err := s.CreateCase(ctx, refused); err != nil {
		t.Fatalf("CreateCase once the role is let in: %v", err)
	}
}

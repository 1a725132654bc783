package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Reconnection delays of WatchDeliveries: doubling from the first to the
// last.
const (
	watchRetryMin = 100 * time.Millisecond
	watchRetryMax = 5 * time.Second
)

// WatchDeliveries calls wake soon after any process, through any Store on
// this schema, commits new deliveries or moves deliveries back to pending
// (the writes that call pg_notify('tongban_deliveries', schema)). It holds
// a connection of its own, outside the pool, that LISTENs on the channel,
// and calls wake once per notification received (PostgreSQL folds the
// notifications of one transaction into one). When the connection is
// lost it connects again, with growing delays, and calls wake once the
// LISTEN is back in place, since notifications may have been missed
// meanwhile. It returns nil when ctx ends or the store is closed, and an
// error only when its first connection or LISTEN fails.
func (s *Store) WatchDeliveries(ctx context.Context, wake func()) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.done, cancel)
	defer stop()

	conn, err := s.listen(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("postgres: watch deliveries: %w", err)
	}
	delay := watchRetryMin
	for {
		n, err := conn.WaitForNotification(ctx)
		if err == nil {
			delay = watchRetryMin
			if s.hookNotified != nil {
				s.hookNotified(n.Payload)
			}
			if n.Payload == s.schema {
				wake()
			}
			continue
		}
		conn.Close(context.Background())
		// Lost: connect and LISTEN again until it works or ctx ends.
		for {
			if ctx.Err() != nil {
				return nil
			}
			if conn, err = s.listen(ctx); err == nil {
				break
			}
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(delay):
			}
			delay = min(2*delay, watchRetryMax)
		}
		wake()
	}
}

// listen opens the watcher's own connection and LISTENs on the channel.
func (s *Store) listen(ctx context.Context) (*pgx.Conn, error) {
	cfg := s.pool.Config().ConnConfig.Copy()
	cfg.RuntimeParams["application_name"] = "tongban watch " + s.schema
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{notifyChannel}.Sanitize()); err != nil {
		conn.Close(context.Background())
		return nil, err
	}
	if s.hookListening != nil {
		s.hookListening()
	}
	return conn, nil
}

package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/tongban/tongban/gateway"
)

// checkpointLockKey is the first key of the advisory lock checkpoint
// signing holds ("toni"); the second is the schema's hash, as for
// migrations (migrateLockKey), so schemas do not wait for each other.
const checkpointLockKey int32 = 0x746f6e69

// LockCheckpoints takes the schema's checkpoint lock, a session advisory
// lock on a connection of its own, waiting for another process that
// holds it until ctx ends (gateway.CheckpointLock). The returned function
// releases the lock and the connection; it is safe to call once.
func (s *Store) LockCheckpoints(ctx context.Context) (func(), error) {
	done, err := s.enter()
	if err != nil {
		return nil, err
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		done()
		return nil, fmt.Errorf("postgres: checkpoint lock: %w", err)
	}
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1, hashtext($2))`, checkpointLockKey, s.schema); err != nil {
		// A cancelled wait may leave the session in doubt: drop it.
		conn.Conn().Close(context.Background())
		conn.Release()
		done()
		return nil, fmt.Errorf("postgres: checkpoint lock: %w", err)
	}
	return func() {
		uctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, `SELECT pg_advisory_unlock($1, hashtext($2))`, checkpointLockKey, s.schema); err != nil {
			conn.Conn().Close(uctx) // closing the session releases its locks
		}
		conn.Release()
		done()
	}, nil
}

var _ gateway.CheckpointLock = (*Store)(nil)

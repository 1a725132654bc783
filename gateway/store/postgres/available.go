package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tongban/tongban/gateway"
)

// unavailable wraps err with gateway.ErrStoreUnavailable when its cause
// lies with the server or the way to it, not with the request, and may
// clear without restarting the gateway: the server cannot be reached or
// dropped the connection; it is shutting down, starting or in recovery;
// the database or transaction is read-only (a standby, or
// default_transaction_read_only); it is out of disk, memory or
// connections; it had an I/O error. A context's end (the caller gave up)
// and any other error are returned as they are.
func unavailable(err error) error {
	if err == nil || errors.Is(err, gateway.ErrStoreUnavailable) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, "08"), // connection exception
			pe.Code == "25006",                                         // read_only_sql_transaction
			strings.HasPrefix(pe.Code, "53"),                           // insufficient resources: disk_full, out_of_memory, too_many_connections
			pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03", // admin_shutdown, crash_shutdown, cannot_connect_now
			strings.HasPrefix(pe.Code, "58"): // system error: io_error
			return fmt.Errorf("%w: %w", gateway.ErrStoreUnavailable, err)
		}
		return err
	}
	var (
		ce *pgconn.ConnectError
		ne net.Error
	)
	if errors.As(err, &ce) || errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("%w: %w", gateway.ErrStoreUnavailable, err)
	}
	return err
}

package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tongban/tongban/gateway/config"
	"github.com/tongban/tongban/gateway/store/sqlite"
)

func newStoreCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "store",
		Short: "Back up the gateway's store",
		Long: `Operations on the gateway's durable store.

  backup   an online, consistent copy of the embedded store (a running
           gateway keeps serving); PostgreSQL is backed up with its own
           tools (pg_dump, or base backups and WAL archiving for
           point-in-time recovery: see the README's Operations).`,
		Args: cobra.NoArgs,
	}
	c.AddCommand(newStoreBackupCmd())
	return c
}

func newStoreBackupCmd() *cobra.Command {
	var cfgPath, storePath, to string
	c := &cobra.Command{
		Use:   "backup (--config FILE | --store FILE) --to FILE",
		Short: "Copy the embedded store, consistently, while the gateway serves",
		Long: `Write a consistent copy of the embedded store to a new file. The copy is
one snapshot of the database, taken while a running gateway goes on
writing (SQLite's VACUUM INTO in a read transaction): it holds every case,
delivery, exchange body, usage record, evidence record and checkpoint
committed before the snapshot, and nothing half-written. The source is
only read. --to must not exist.

Restore by stopping the gateway and putting the copy in place of the
store file (keep the old one aside); "tongban audit verify --store FILE"
checks a copy's evidence log before you rely on it.`,
		Example: `  tongban store backup --config /etc/tongban/config.yaml --to /backup/tongban-$(date +%F).db
  tongban audit verify --store /backup/tongban-2026-12-06.db --gateway-pub /etc/tongban/keys/gateway.pub`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (cfgPath == "") == (storePath == "") {
				return errors.New("give exactly one of --config FILE and --store FILE")
			}
			if to == "" {
				return errors.New("--to FILE is required")
			}
			if cfgPath != "" {
				cfg, err := config.Load(cfgPath)
				if err != nil {
					return err
				}
				if cfg.Store.Driver != config.DriverSQLite {
					return fmt.Errorf("store.driver is %s: back PostgreSQL up with pg_dump or base backups (see the README's Operations)", cfg.Store.Driver)
				}
				storePath = cfg.Resolve(cfg.Store.Path)
			}
			if err := sqlite.Backup(cmd.Context(), storePath, to); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "backed up %s to %s\n", storePath, to)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&cfgPath, "config", "", "the gateway's YAML configuration (reads store.path)")
	f.StringVar(&storePath, "store", "", "the store file (tongban.db)")
	f.StringVar(&to, "to", "", "the new file to write (must not exist)")
	return c
}

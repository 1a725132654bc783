package main

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tongban/tongban/signing"
)

// newDataKeysCmd is `tongban keys`: the data key file whose SM4 keys seal
// personal data at rest (configuration data_keys.path).
func newDataKeysCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "keys",
		Short: "Manage the data keys that seal personal data at rest (init, rotate, shred, list)",
		Long: `The data key file (configuration data_keys.path; JSON, mode 0600) holds the
SM4 keys that seal exchange bodies, delivery payloads and the personal fields
of usage records, by id, and names the current one. New rows are sealed
under the current key and keep its id; older rows stay readable under theirs.

Retention is crypto-shredding: rotate the key every period (say monthly,
from cron: tongban keys rotate --file F), and when a period's data are due
for deletion shred the keys retired before a date (tongban keys shred
--file F --before DATE). Their rows can never be read again; the evidence
log keeps their SM3 digests and still verifies. Restart the gateways after
a rotation or a shred: they read the file at start. Backups of the key
file hold shredded keys too: destroy them as well.`,
	}
	c.AddCommand(newDataKeysInitCmd(), newDataKeysRotateCmd(), newDataKeysShredCmd(), newDataKeysListCmd())
	return c
}

func fileFlag(c *cobra.Command, file *string) {
	c.Flags().StringVar(file, "file", "", "the data key file (data_keys.path)")
}

// periodID is the default id of a key made at now: its month.
func periodID(now time.Time) string { return now.UTC().Format("2006-01") }

func newDataKeysInitCmd() *cobra.Command {
	var file, id string
	c := &cobra.Command{
		Use:     "init --file FILE",
		Short:   "Create a data key file with one current key (never overwrites)",
		Example: "  tongban keys init --file keys/datakeys.json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return errors.New("--file FILE is required")
			}
			if _, err := os.Stat(file); err == nil {
				return fmt.Errorf("%s exists; rotate it with tongban keys rotate", file)
			}
			now := time.Now()
			if id == "" {
				id = periodID(now)
			}
			kf, err := signing.NewKeyFile(id, now)
			if err != nil {
				return err
			}
			if err := signing.WriteKeyFile(file, kf); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (mode 0600), current data key %s\n", file, id)
			return nil
		},
	}
	fileFlag(c, &file)
	c.Flags().StringVar(&id, "id", "", "the key's id (default: this month, 2006-01)")
	return c
}

func newDataKeysRotateCmd() *cobra.Command {
	var file, id string
	c := &cobra.Command{
		Use:   "rotate --file FILE",
		Short: "Add a fresh data key and make it current; the previous one retires but stays for reading",
		Long: `Add a fresh data key under --id (default: this month) and make it current.
The previous current key is marked retired now and keeps opening the rows it
sealed. Restart the gateways to seal with the new key.`,
		Example: "  tongban keys rotate --file keys/datakeys.json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			kf, err := readKeyFileFlag(file)
			if err != nil {
				return err
			}
			now := time.Now()
			if id == "" {
				id = periodID(now)
			}
			prev := kf.Current
			if err := kf.Rotate(id, now); err != nil {
				return err
			}
			if err := signing.WriteKeyFile(file, kf); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "current data key %s (was %s); restart the gateways\n", id, prev)
			return nil
		},
	}
	fileFlag(c, &file)
	c.Flags().StringVar(&id, "id", "", "the new key's id (default: this month, 2006-01)")
	return c
}

func newDataKeysShredCmd() *cobra.Command {
	var file, before string
	c := &cobra.Command{
		Use:   "shred --file FILE --before DATE",
		Short: "Destroy the data keys retired before DATE: their rows become unreadable for good",
		Long: `Destroy every data key that was retired (by a rotation) on or before DATE
(YYYY-MM-DD, UTC midnight, or RFC 3339). Every row sealed under one was
written before DATE; none can be read again. The current key is never
shredded. The ids are kept as shredded, so reads of their rows say so (the
API answers 410 data_shredded where it needs a body) and an id is never
reused. The evidence log is untouched and still verifies (tongban audit
verify needs no data key). Restart the gateways, and destroy backups of the
key file from before the shred.`,
		Example: "  tongban keys shred --file keys/datakeys.json --before 2026-06-01",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := parseDate(before)
			if err != nil {
				return err
			}
			kf, err := readKeyFileFlag(file)
			if err != nil {
				return err
			}
			ids := kf.ShredBefore(t, time.Now())
			if len(ids) == 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "no data key retired on or before %s\n", t.Format(time.RFC3339))
				return nil
			}
			if err := signing.WriteKeyFile(file, kf); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "shredded data keys %s; restart the gateways\n", strings.Join(ids, ", "))
			return nil
		},
	}
	fileFlag(c, &file)
	c.Flags().StringVar(&before, "before", "", "shred keys retired on or before this date (YYYY-MM-DD or RFC 3339)")
	return c
}

func newDataKeysListCmd() *cobra.Command {
	var file string
	c := &cobra.Command{
		Use:   "list --file FILE",
		Short: "List the data keys by id (never the keys themselves): created, retired, shredded",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			kf, err := readKeyFileFlag(file)
			if err != nil {
				return err
			}
			s, err := kf.Sealer()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			for _, id := range s.KeyIDs() {
				k := kf.Keys[id]
				state := "current"
				if id != kf.Current {
					state = "retired " + k.Retired.Format(time.RFC3339)
				}
				fmt.Fprintf(out, "%s\tcreated %s\t%s\n", id, k.Created.Format(time.RFC3339), state)
			}
			for _, id := range slices.Sorted(maps.Keys(kf.Shredded)) {
				fmt.Fprintf(out, "%s\tshredded %s\n", id, kf.Shredded[id].Format(time.RFC3339))
			}
			return nil
		},
	}
	fileFlag(c, &file)
	return c
}

func readKeyFileFlag(file string) (*signing.KeyFile, error) {
	if file == "" {
		return nil, errors.New("--file FILE is required")
	}
	return signing.ReadKeyFile(file)
}

// parseDate reads --before: a date (UTC midnight) or an RFC 3339 time.
func parseDate(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, errors.New("--before DATE is required")
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--before %q: not YYYY-MM-DD or RFC 3339", s)
	}
	return t, nil
}

package main

import (
	"fmt"
	"sort"

	"github.com/spf13/cobra"

	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/internal/secrethash"
	"github.com/vigilsec/vigil/internal/store"
)

func newDBCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "db", Short: "The database: move a SQLite database into PostgreSQL"}
	var to string
	migrate := &cobra.Command{
		Use:   "migrate --to postgres://USER@HOST:PORT/DATABASE",
		Short: "Copy the database (--db, or --config's db) into an empty PostgreSQL database, verified",
		Long: `Copies every run, finding, event, scan state, audit row, ledger row, inventory
snapshot and remediation action into an empty PostgreSQL database, in one
transaction, then checks the copy: each table holds as many rows as the source,
and the copy's audit chain verifies under the same hash key with the same head.
The copy is then audited in the new database. Give the password as PGPASSWORD,
not in the URL. Afterwards, set db: to the URL in vigil.yaml.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !store.IsPostgres(to) {
				return usageErr(fmt.Errorf("--to must be a postgres:// URL"))
			}
			var cfg *config.Config
			if g.configPath != "" {
				var err error
				if cfg, err = g.loadConfig(); err != nil {
					return err
				}
			}
			src, h, err := g.openStore(cmd, cfg, false)
			if err != nil {
				return err
			}
			defer src.Close()
			dst, err := store.Open(cmd.Context(), to, h)
			if err != nil {
				return err
			}
			defer dst.Close()
			rep, err := src.CopyTo(cmd.Context(), dst)
			if err != nil {
				return &exitError{code: exitPartial, err: fmt.Errorf("copy %s into %s: %w", src.Path(), secrethash.RedactURL(to), err)}
			}
			out := cmd.OutOrStdout()
			tables := make([]string, 0, len(rep.Rows))
			for t := range rep.Rows {
				tables = append(tables, t)
			}
			sort.Strings(tables)
			for _, t := range tables {
				fmt.Fprintf(out, "%-20s %8d rows\n", t, rep.Rows[t])
			}
			fmt.Fprintf(out, "copied %s into %s; row counts equal, audit chain verified (head %s)\n", src.Path(), dst.Path(), rep.Head)
			return nil
		},
	}
	migrate.Flags().StringVar(&to, "to", "", "the PostgreSQL database to copy into (must be empty)")
	cmd.AddCommand(migrate)
	return cmd
}

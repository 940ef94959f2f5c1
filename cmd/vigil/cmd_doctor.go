//go:build !scanonly

package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/vigilsec/vigil/internal/doctor"
	"github.com/vigilsec/vigil/internal/wiring"
)

func newDoctorCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "doctor",
		Short: "Pre-flight a new installation: can vigil reach, authenticate to and read every source and store",
		Long: `For each configured rule file, git repository, directory, log set, file store,
AWS account, Vault/OpenBao store and GitHub organisation: can vigil reach it,
authenticate, and read what a run needs (and, where remediation is configured,
would it be allowed to write). Nothing is changed: write permissions are asked of
AWS on names that do not exist (it authorises before it looks them up), and of
Vault through the token's capabilities. Prints one line per check: ok, missing
permission (which), unreachable, or error. Exit 0 only when everything is ready,
1 otherwise; the database is not created.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			cs := doctor.Run(cmd.Context(), wiring.New(cfg, nil, nil, g.log, nil))
			w := cmd.OutOrStdout()
			if g.format == "json" {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				if err := enc.Encode(cs); err != nil {
					return err
				}
			} else {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "AREA\tTARGET\tCHECK\tSTATUS\tDETAIL")
				for _, c := range cs {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.Area, cellText(c.Target, 50), cellText(c.What, 60), c.Status, cellText(c.Detail, 120))
				}
				if err := tw.Flush(); err != nil {
					return err
				}
			}
			if !doctor.Ready(cs) {
				n := 0
				for _, c := range cs {
					if c.Status != doctor.OK {
						n++
					}
				}
				return &exitError{code: exitFindings, err: fmt.Errorf("not ready: %d of %d checks failed", n, len(cs))}
			}
			return nil
		},
	}
}

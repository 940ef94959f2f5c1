package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/vigilsec/vigil/internal/store"
)

func newFindingsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "findings", Short: "List or suppress stored findings"}
	var status, kind []string
	list := &cobra.Command{
		Use:   "list",
		Short: "List findings from the database",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := g.storeFromFlags(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			for _, s := range splitList(status) {
				switch s {
				case "open", "resolved", "suppressed":
				default:
					return usageErr(fmt.Errorf("--status %q: want open, resolved or suppressed", s))
				}
			}
			fs, err := st.Findings(cmd.Context(), store.Filter{Status: splitList(status), Kind: splitList(kind)})
			if err != nil {
				return err
			}
			return printFindings(cmd.OutOrStdout(), g.format, fs, nil)
		},
	}
	list.Flags().StringSliceVar(&status, "status", nil, "only these statuses: open, resolved, suppressed")
	list.Flags().StringSliceVar(&kind, "kind", nil, "only these kinds, e.g. leak.git")

	var reason string
	suppress := &cobra.Command{
		Use:   "suppress ID...",
		Short: "Accept the risk of findings; the reason is kept in the audit log",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, ids []string) error {
			if reason == "" {
				return usageErr(fmt.Errorf("--reason is required: the audit log must say why"))
			}
			st, err := g.storeFromFlags(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			return st.Suppress(cmd.Context(), ids, reason)
		},
	}
	suppress.Flags().StringVar(&reason, "reason", "", "why this finding is accepted")
	cmd.AddCommand(list, suppress)
	return cmd
}

// storeFromFlags opens the database named by --db, or by --config's db.
func (g *globals) storeFromFlags(cmd *cobra.Command) (*store.Store, error) {
	if g.configPath != "" {
		cfg, err := g.loadConfig()
		if err != nil {
			return nil, err
		}
		st, _, err := g.openStore(cmd, cfg)
		return st, err
	}
	st, _, err := g.openStore(cmd, nil)
	return st, err
}

package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newAuditCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Inspect the tamper-evident audit log"}
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Check the audit hash chain; exit 1 if a row was edited or deleted",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := g.storeFromFlags(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			n, problems, err := st.VerifyAudit(cmd.Context())
			if err != nil {
				return err
			}
			if len(problems) > 0 {
				for _, p := range problems {
					fmt.Fprintln(cmd.OutOrStdout(), "BROKEN:", p)
				}
				return &exitError{code: exitFindings, err: fmt.Errorf("audit log of %s fails verification (%d problem(s) in %d rows)", st.Path(), len(problems), n)}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "audit log intact: %d rows verified\n", n)
			return nil
		},
	}
	cmd.AddCommand(verify)
	return cmd
}

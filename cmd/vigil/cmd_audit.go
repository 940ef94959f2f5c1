package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newAuditCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Inspect the tamper-evident audit log"}
	var expect string
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Check the audit hash chain; exit 1 if a row was edited or deleted",
		Long: `Check the audit hash chain: every row's keyed hash and link, the signed head,
and every finding's status against the transitions the chain recorded.

The chain lives in the database, so a whole database restored from a backup
verifies on its own. Every run prints its chain head (summary.md, the
Prometheus textfile, the run log): keep it outside, and pass the last one
with --expect-head to prove the chain still contains it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := g.storeFromFlags(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			n, problems, err := st.VerifyAudit(cmd.Context(), expect)
			if err != nil {
				return err
			}
			if len(problems) > 0 {
				for _, p := range problems {
					fmt.Fprintln(cmd.OutOrStdout(), "BROKEN:", p)
				}
				return &exitError{code: exitFindings, err: fmt.Errorf("audit log of %s fails verification (%d problem(s) in %d rows)", st.Path(), len(problems), n)}
			}
			head, err := st.AuditHead(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "audit log intact: %d rows verified; head %s\n", n, head)
			return nil
		},
	}
	verify.Flags().StringVar(&expect, "expect-head", "", "a head (SEQ:HASH) a previous run printed: the chain must still contain it")
	cmd.AddCommand(verify)
	return cmd
}

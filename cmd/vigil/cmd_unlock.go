package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigilsec/vigil/internal/runner"
	"github.com/vigilsec/vigil/internal/store"
)

func newUnlockCmd(g *globals) *cobra.Command {
	var (
		name  string
		force bool
	)
	cmd := &cobra.Command{
		Use:   "unlock",
		Short: "Clear an expired run lease (audited); --force clears a live one",
		Long: `A run holds a lease on the database and renews it while it works. A run
that was killed stops renewing it, and the next run takes the lease over once
it has expired (lease_ttl, default 2m), whatever host either runs on. unlock
clears it at once: refused while the lease is live unless --force (use it only
when the holder is certainly dead). The holder's run is marked aborted, and
the clearing is a row of the audit chain.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := g.storeFromFlags(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			l, err := st.ForceUnlock(cmd.Context(), name, force)
			if errors.Is(err, store.ErrLocked) {
				return &exitError{code: exitFindings, err: err}
			}
			if err != nil {
				return usageErr(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "cleared lock %q of run %s (pid %d on %s, lease until %s); that run is marked aborted\n",
				l.Name, l.Holder, l.PID, l.Host, l.Expires.Format(time.RFC3339))
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "lock", runner.LockName, "which lock: run, or remediate")
	cmd.Flags().BoolVar(&force, "force", false, "clear the lease even though it is live")
	return cmd
}

package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/vigilsec/vigil/internal/finding"
)

func newIAMCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "iam", Short: "AWS IAM checks"}
	var out, failOn string
	drift := &cobra.Command{
		Use:   "drift",
		Short: "Compare live IAM grants with the declared least-privilege policies, both ways",
		Long: `Reads every account's authorization graph and reports grants beyond the declared
policies (iam.excess_grant, with a suggested narrowed policy), declared needs that
are not granted (iam.missing_grant), wildcard and admin grants, undeclared
principals, and old or unused access keys. Stored like a run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			if failOn == "" {
				failOn = cfg.FailOn
			}
			sev, err := finding.ParseSeverity(failOn)
			if err != nil {
				return usageErr(fmt.Errorf("--fail-on: %w", err))
			}
			return runScanners(cmd, g, cfg, map[string]bool{"iam": true}, "iam drift", out, sev)
		},
	}
	drift.Flags().StringVar(&out, "out", "", "directory for findings.json, findings.sarif and summary.md")
	drift.Flags().StringVar(&failOn, "fail-on", "", "lowest severity that makes the exit code 1 (default: the config's fail_on)")
	cmd.AddCommand(drift)
	return cmd
}

package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/vigilsec/vigil/internal/finding"
)

func newInventoryCmd(g *globals) *cobra.Command {
	var out, failOn string
	cmd := &cobra.Command{
		Use:   "inventory",
		Short: "List the secrets in every configured store and compare them with the declared inventory",
		Long: `Lists Vault/OpenBao KV v2, AWS Secrets Manager and file-based secrets (metadata
only, unless inventory.hash_values is on, in which case values are hashed at once to
match leaks) and reports undeclared, missing, ownerless, overdue, unused and
misplaced secrets, literal credentials in pipeline configs, and leak.live when an
open leak's value is a current or previous store value. Stored like a run.`,
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
			return runScanners(cmd, g, cfg, map[string]bool{"inventory": true}, "inventory", out, sev)
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "directory for findings.json, findings.sarif and summary.md")
	cmd.Flags().StringVar(&failOn, "fail-on", "", "lowest severity that makes the exit code 1 (default: the config's fail_on)")
	return cmd
}

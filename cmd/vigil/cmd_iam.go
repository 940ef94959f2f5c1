package main

import "github.com/spf13/cobra"

func newIAMCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "iam", Short: "AWS IAM checks"}
	cmd.AddCommand(scannerCmd(g, "drift",
		"Compare live IAM grants with the declared least-privilege policies, both ways",
		`Reads every account's authorization graph and reports grants beyond the declared
policies (iam.excess_grant, with a suggested narrowed policy), declared needs that
are not granted (iam.missing_grant), wildcard and admin grants, undeclared
principals, and old or unused access keys. Stored like a run.`, "iam"))
	return cmd
}

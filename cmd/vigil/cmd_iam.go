//go:build !scanonly

package main

import "github.com/spf13/cobra"

func newIAMCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "iam", Short: "AWS IAM checks"}
	cmd.AddCommand(scannerCmd(g, "drift",
		"Compare live IAM grants with the declared least-privilege policies, both ways",
		`Reads every account's authorization graph and reports grants beyond the declared
policies (iam.excess_grant, with a suggested narrowed policy), declared needs that
are not granted or that a permissions boundary or SCP takes away
(iam.missing_grant), wildcard and admin grants, undeclared principals, old or
unused access keys, trust policies that let in too much or more than declared
(iam.trust_too_broad, iam.undeclared_trust: public roles, OIDC subjects of GitHub,
GitLab, Terraform Cloud and CircleCI, third parties without an external id),
secrets whose resource or key policy shares them (iam.resource_policy_too_broad),
and long-lived access keys held by CI where OIDC federation is set up
(iam.long_lived_key_in_ci). Stored like a run.`, "iam"))
	return cmd
}

func newSyntheticCmd(g *globals) *cobra.Command {
	return scannerCmd(g, "synthetic",
		"Prove least privilege with vigil's own short-lived credentials, then revoke them",
		`For each declared identity with probes, mints a credential of its own (STS
AssumeRole into the job's role with a session policy limited to the probes, or a
Vault child token with the job's policies, a short ttl and a bounded use count),
makes each expected-allow and expected-deny call, revokes the credential and checks
that it stopped working. Reports synthetic.denied_allowed, synthetic.allowed_denied
and synthetic.not_revoked. Every credential is in the ledger (vigil findings
ledger); credentials a crashed run left live are revoked first. Stored like a run.`, "synthetic")
}

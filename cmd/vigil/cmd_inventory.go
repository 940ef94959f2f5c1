//go:build !scanonly

package main

import "github.com/spf13/cobra"

func newInventoryCmd(g *globals) *cobra.Command {
	return scannerCmd(g, "inventory",
		"List the secrets in every configured store and compare them with the declared inventory",
		`Lists Vault/OpenBao KV v2, AWS Secrets Manager, GitHub and file-based secrets
(metadata only, unless inventory.hash_values is on, in which case values are hashed
at once to match leaks) and reports undeclared, missing, ownerless, overdue, unused
and misplaced secrets, credentials in plaintext variables and pipeline configs, and
leak.live when an open leak's value is a current or previous store value. Stored
like a run.`, "inventory")
}

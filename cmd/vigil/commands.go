//go:build !scanonly

package main

import "github.com/spf13/cobra"

// commands are vigil's commands. The scan-only build (commands_scanonly.go)
// has fewer.
func commands(g *globals) []*cobra.Command {
	return []*cobra.Command{newRunCmd(g), newScanCmd(g), newIAMCmd(g), newSyntheticCmd(g), newInventoryCmd(g), newFindingsCmd(g), newAuditCmd(g), newReportCmd(g), newRemediateCmd(g), newCICmd(g), newUnlockCmd(g), newDoctorCmd(g), newDBCmd(g)}
}

// binaryName is the command's name in usage and errors; rootLong is what
// its --help says it is.
const (
	binaryName = "vigil"
	rootLong   = "Inventory, leak, IAM-drift and least-privilege checks for secrets, remembered between runs."
)

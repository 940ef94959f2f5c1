//go:build !scanonly

package main

import "github.com/spf13/cobra"

// commands are vigil's commands. The scan-only build (commands_scanonly.go)
// has fewer.
func commands(g *globals) []*cobra.Command {
	return []*cobra.Command{newRunCmd(g), newScanCmd(g), newIAMCmd(g), newSyntheticCmd(g), newInventoryCmd(g), newFindingsCmd(g), newAuditCmd(g), newReportCmd(g), newRemediateCmd(g), newCICmd(g), newUnlockCmd(g), newDoctorCmd(g), newDBCmd(g)}
}

// buildNote is what `vigil --help` says about this build.
const buildNote = ""

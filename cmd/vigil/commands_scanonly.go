//go:build scanonly

package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/scanners/leaks"
)

// The scan-only build (the binary vigil-scan, which `make build` builds
// beside vigil) is vigil's leak scanner and nothing else: scan git, dir and
// logs, and the commands that read what it stored. It links none of the
// stores' SDKs (AWS, Azure, Google, Kubernetes, Vault, ...), which are four
// fifths of vigil's binary and, made resident by their packages'
// initialisation, most of its memory on a scan (gitleaks' own history: 107
// MiB against vigil's 193 MiB, bench/README.md). For CI jobs and machines
// that only scan.
func commands(g *globals) []*cobra.Command {
	return []*cobra.Command{newScanCmd(g), newFindingsCmd(g), newAuditCmd(g), newReportCmd(g), newUnlockCmd(g), newDBCmd(g)}
}

const (
	binaryName = "vigil-scan"
	rootLong   = "Leaked secrets in git history, directories and logs, remembered between runs: vigil's scan-only build (scan git, dir and logs, and the commands that read what it stores). The full vigil binary runs everything else: inventory, IAM drift, synthetic checks, remediation, GitHub organisations."
)

func scanGitHub(_ *cobra.Command, _ *globals, _ *store.Store, _ *leaks.Scanner, _ []string, _ config.GitHubOrg, _ outputs, _ finding.Severity, prog *progress) error {
	prog.stop()
	return usageErr(fmt.Errorf("scan github: not in the scan-only build (vigil-scan); the full vigil binary scans GitHub organisations"))
}

//go:build !scanonly

package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/runner"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/wiring"
	"github.com/vigilsec/vigil/rules"
	"github.com/vigilsec/vigil/scanners"
	"github.com/vigilsec/vigil/scanners/githuborg"
	"github.com/vigilsec/vigil/scanners/leaks"
)

// scanGitHub scans organisations ad hoc, with sources.github's defaults
// (forks left out, archived repositories in, alerts imported).
func scanGitHub(cmd *cobra.Command, g *globals, st *store.Store, ls *leaks.Scanner, orgs []string, o config.GitHubOrg, out outputs, sev finding.Severity, prog *progress) error {
	sc := &githuborg.Scanner{Leaks: ls, Controls: rules.DefaultControls(), Log: g.log, Located: wiring.Located(st)}
	for _, name := range orgs {
		if !config.GitHubLogin.MatchString(name) {
			prog.stop()
			return usageErr(fmt.Errorf("scan github: %q is not an organisation's login", name))
		}
		c := o
		c.Org, c.Visibility, c.MaxRequests, c.RateLimitWait = name, "all", 4, 15*time.Minute
		org, err := wiring.GitHubOrg(c)
		if err != nil {
			prog.stop()
			return usageErr(err)
		}
		sc.Orgs = append(sc.Orgs, org)
	}
	ctx, stop := interruptible(cmd.Context())
	defer stop()
	sum, err := runner.Run(ctx, st, g.log, "scan github", []scanners.Scanner{sc}, runner.Options{})
	prog.stop()
	if err != nil {
		return runFailed("scan", sum, err)
	}
	return finishRun(cmd, g, st, sum, out, sev)
}

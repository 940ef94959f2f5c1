//go:build !scanonly

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/runner"
	"github.com/vigilsec/vigil/internal/safefile"
	"github.com/vigilsec/vigil/internal/secrethash"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/wiring"
	"github.com/vigilsec/vigil/reports"
	"github.com/vigilsec/vigil/rules"
	"github.com/vigilsec/vigil/scanners"
	"github.com/vigilsec/vigil/scanners/inventory"
	"github.com/vigilsec/vigil/scanners/leaks"
	"github.com/vigilsec/vigil/stores/files"
)

func newCICmd(g *globals) *cobra.Command {
	var (
		base, repo, name, sarifPath, summary, failOn string
		remediateLive, approve                       bool
	)
	cmd := &cobra.Command{
		Use:   "ci",
		Short: "Pull-request gate: scan only the PR's commits (base..HEAD), lint configs, write SARIF and a job summary",
		Long: `vigil ci scans the commits of a pull request (those reachable from HEAD and
not from --base) with the same leak rules as the nightly run, and lints the
config's pipeline files for literal credentials where secret:// references
belong. It writes SARIF (for code scanning) and a Markdown job summary
($GITHUB_STEP_SUMMARY when set) and exits 1 on a finding at or above
--fail-on.

With --remediate it also lists the secret stores and, when a value leaked
in the PR is a live store value (leak.live), plans the rotation of that
secret; with --approve too, it rotates it, so the leak is dead before the
pull request is merged.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if base == "" {
				return usageErr(errors.New("--base is required (the pull request's base, e.g. origin/main)"))
			}
			if approve && !remediateLive {
				return usageErr(errors.New("--approve applies remediation: it needs --remediate"))
			}
			cfg, sev, err := g.configAndFailOn(failOn)
			if err != nil {
				return err
			}
			if remediateLive && (cfg.Inventory == nil || !cfg.Inventory.HashValues) {
				return usageErr(fmt.Errorf("%s: --remediate matches leaked values with store values: it needs inventory.hash_values: true", cfg.File))
			}
			st, h, err := g.openStore(cmd, cfg, true)
			if err != nil {
				return err
			}
			defer st.Close()
			ctx, stop := interruptible(cmd.Context())
			defer stop()

			abs, err := filepath.Abs(repo)
			if err != nil {
				return usageErr(err)
			}
			if name == "" {
				name = filepath.Base(abs)
			}
			env := wiring.New(cfg, st, h, g.log, nil)
			eng, err := env.LeakEngine()
			if err != nil {
				return usageErr(err)
			}
			lk := leaks.New(eng, leaks.Options{ExplicitRules: cfg.Rules.Gitleaks != "", Log: g.log})
			lk.Git = []leaks.GitTarget{{Name: name, Path: abs, Since: base, HeadOnly: true}}
			scs := []scanners.Scanner{lk}
			if inv := cfg.Inventory; inv != nil && inv.Files != nil && len(inv.Files.Pipelines) > 0 {
				scs = append(scs, inventory.Lint{Store: &files.Store{Root: cfg.Dir, Pipelines: inv.Files.Pipelines, Controls: rules.DefaultControls()}})
			}
			if remediateLive {
				inv, err := env.Inventory(ctx)
				if err != nil {
					return usageErr(err)
				}
				scs = append(scs, inv)
			}
			sum, err := runner.Run(ctx, st, g.log, "ci", scs, runner.Options{LeaseTTL: cfg.LeaseTTL})
			if err != nil {
				return runFailed("ci", sum, err)
			}
			all, err := st.Findings(ctx, store.Filter{RunID: sum.RunID, Status: []string{string(finding.StatusOpen)}})
			if err != nil {
				return err
			}
			prFindings, live := prScope(all)
			rep := reports.Run{ID: sum.RunID, Status: sum.Status, StartedAt: sum.Started, Duration: sum.Duration, Errors: sum.Errors}
			if err := safefile.WriteAtomic(sarifPath, func(w io.Writer) error { return reports.SARIF(w, rep, prFindings) }); err != nil {
				return fmt.Errorf("write SARIF %s: %w", sarifPath, err)
			}
			if summary == "" {
				summary = os.Getenv("GITHUB_STEP_SUMMARY")
			}
			if summary != "" {
				if err := appendFile(summary, func(w io.Writer) error { return reports.Markdown(w, rep, prFindings) }); err != nil {
					return fmt.Errorf("write job summary %s: %w", summary, err)
				}
			}
			if err := printFindings(cmd.OutOrStdout(), g.format, prFindings, nil); err != nil {
				return err
			}
			var remErr error
			if remediateLive && len(live) > 0 {
				remErr = remediateCI(ctx, cmd.OutOrStdout(), g, cfg, st, h, live, approve)
			}
			g.log.Info("ci finished", "run", sum.RunID, "status", sum.Status, "findings", len(prFindings), "live_leaks", len(live),
				"commits", sum.Stats.Commits)
			if remErr != nil {
				return remErr
			}
			return exitFor(sum.Partial(), prFindings, sev)
		},
	}
	f := cmd.Flags()
	f.StringVar(&base, "base", "", "the pull request's base revision: only commits after it are scanned")
	f.StringVar(&repo, "repo", ".", "the repository (checked out with enough history to reach --base)")
	f.StringVar(&name, "name", "", "the repository's name in findings (default: the directory's name)")
	f.StringVar(&sarifPath, "sarif", "vigil.sarif", "write SARIF here, for code scanning upload")
	f.StringVar(&summary, "summary", "", "append the Markdown summary here (default: $GITHUB_STEP_SUMMARY)")
	f.StringVar(&failOn, "fail-on", "", "lowest severity that fails the gate (default: the config's fail_on, else high)")
	f.BoolVar(&remediateLive, "remediate", false, "plan the rotation of secrets whose live value leaked in the PR")
	f.BoolVar(&approve, "approve", false, "with --remediate: rotate them")
	return cmd
}

// prScope keeps what the pull request is responsible for: its leaks and
// the config lint, plus leak.live findings for those leaks (which the
// nightly run's inventory would otherwise report for every open leak).
func prScope(all []finding.Finding) (pr, live []finding.Finding) {
	leaked := map[string]bool{}
	for _, f := range all {
		// Only the PR's own scanners ran in this run: its history and the
		// config lint. leak.live comes from --remediate's inventory.
		if f.Kind == finding.KindLeakGit || f.Kind == finding.KindInvPlaintextConfig {
			pr = append(pr, f)
			leaked[f.ID] = true
		}
	}
	for _, f := range all {
		if id := f.Evidence.String(finding.EvLeakFinding); f.Kind == finding.KindLeakLive && leaked[id] {
			pr = append(pr, f)
			live = append(live, f)
		}
	}
	return pr, live
}

// remediateCI plans (and with approve applies) the rotation of the secrets
// whose live value leaked in the pull request.
func remediateCI(ctx context.Context, w io.Writer, g *globals, cfg *config.Config, st *store.Store, h *secrethash.Hasher, live []finding.Finding, approve bool) error {
	r, err := newRemediation(ctx, wiring.New(cfg, st, h, g.log, nil))
	if err != nil {
		return usageErr(err)
	}
	var ids []string
	for _, f := range live {
		ids = append(ids, f.ID)
	}
	fmt.Fprintln(w)
	return applyPlan(ctx, w, g, r, "", nil, ids, approve)
}

// appendFile appends to path (a job summary gathers every step's).
func appendFile(path string, fn func(io.Writer) error) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if err := fn(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/runner"
	"github.com/vigilsec/vigil/internal/safefile"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/reports"
	"github.com/vigilsec/vigil/rules"
)

// printFindings prints findings to stdout as a table or a JSON array. trans
// (a run's transitions) marks what the run found new or regressed: the
// table's STATUS column says it, and so does JSON's "transition".
func printFindings(w io.Writer, format string, fs []finding.Finding, trans map[string]finding.Transition) error {
	if format == "json" {
		if len(trans) > 0 {
			marked := make([]finding.Finding, len(fs))
			for i, f := range fs {
				f.Transition = trans[f.ID]
				marked[i] = f
			}
			fs = marked
		}
		return reports.JSON(w, fs)
	}
	if len(fs) == 0 {
		_, err := fmt.Fprintln(w, "no findings")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SEVERITY\tSTATUS\tKIND\tRESOURCE\tTITLE\tID")
	for _, f := range fs {
		status := string(f.Status)
		if t, ok := trans[f.ID]; ok && f.Status == finding.StatusOpen {
			status = string(t)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", f.Severity, status, f.Kind, cellText(f.Resource, 70), cellText(f.Title, 70), finding.ShortID(f.ID))
	}
	return tw.Flush()
}

// cellText makes a value safe for one cell of a terminal table: control
// characters escaped (no fake rows, no escape sequences, no tab that would
// shift tabwriter's columns), and at most n runes.
func cellText(s string, n int) string {
	s = reports.Printable(s)
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// htmlInput gathers what the HTML report shows besides the findings: the
// last 30 days of open findings, and the controls mapping.
func htmlInput(ctx context.Context, st *store.Store, run reports.Run, all []finding.Finding) (reports.HTMLInput, error) {
	now := time.Now()
	to := now.UTC().Truncate(24*time.Hour).AddDate(0, 0, 1)
	days, err := st.DailyOpen(ctx, to.AddDate(0, 0, -30), to)
	return reports.HTMLInput{Run: run, Findings: all, Days: days, Controls: rules.DefaultControls(), Now: now}, err
}

// writeReports writes findings.json (every finding with its status),
// findings.sarif (open ones), summary.md and report.html into dir.
func writeReports(dir string, run reports.Run, all []finding.Finding, html reports.HTMLInput) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var open []finding.Finding
	for _, f := range all {
		if f.Status == finding.StatusOpen {
			open = append(open, f)
		}
	}
	// Through a rename: a reader (a CI upload step) never sees half a report.
	// The four are written at once: on gitleaks' history (1,689 findings)
	// they took 0.2 s one after the other, a tenth of the whole scan, with
	// both cores free once the history is read.
	files := []struct {
		name  string
		write func(io.Writer) error
	}{
		{"findings.json", func(w io.Writer) error { return reports.JSON(w, all) }},
		{"findings.sarif", func(w io.Writer) error { return reports.SARIF(w, run, open) }},
		{"summary.md", func(w io.Writer) error { return reports.Markdown(w, run, all) }},
		{"report.html", func(w io.Writer) error { return reports.HTML(w, html) }},
	}
	errs := make([]error, len(files))
	var wg sync.WaitGroup
	for i, f := range files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := safefile.WriteAtomic(filepath.Join(dir, f.name), f.write); err != nil {
				errs[i] = fmt.Errorf("write %s: %w", f.name, err)
			}
		}()
	}
	wg.Wait()
	return firstErr(errs...)
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func splitList(vals []string) []string {
	var out []string
	for _, v := range vals {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// outputs are where a stored run's results go besides stdout.
type outputs struct {
	dir     string // findings.json, findings.sarif, summary.md, report.html
	metrics string // Prometheus textfile
}

func (o *outputs) flags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.dir, "out", "", "directory for findings.json, findings.sarif, summary.md and report.html")
	cmd.Flags().StringVar(&o.metrics, "metrics", "", "Prometheus textfile to write (for node_exporter's textfile collector)")
}

// writeMetrics writes the Prometheus textfile for a finished run.
func writeMetrics(ctx context.Context, st *store.Store, path string, sum runner.Summary, open []finding.Finding, head string) error {
	runs, err := st.Runs(ctx, time.Time{}, time.Time{})
	if err != nil {
		return err
	}
	m := reports.RunMetrics{Command: "run", Status: sum.Status, Started: sum.Started, Duration: sum.Duration, FailedSources: len(sum.Errors), AuditHead: head}
	for _, r := range runs {
		if r.ID == sum.RunID {
			m.Command = r.Command
		}
		if r.Status == store.RunOK && r.FinishedAt.After(m.LastSuccess) {
			m.LastSuccess = r.FinishedAt
		}
	}
	return reports.Metrics(path, m, open)
}

// kinds converts --kind values.
func kinds(vals []string) []finding.Kind {
	out := make([]finding.Kind, len(vals))
	for i, v := range vals {
		out[i] = finding.Kind(v)
	}
	return out
}

// resolveIDs turns the ids a person typed (unique prefixes, as tables print
// them) into whole ids; an unknown or ambiguous one is a usage error (exit 2).
func resolveIDs(ctx context.Context, st *store.Store, what string, ids []string) ([]string, error) {
	out, err := st.ResolveIDs(ctx, what, ids)
	if errors.Is(err, store.ErrUnknownID) || errors.Is(err, store.ErrAmbiguousID) {
		return nil, usageErr(err)
	}
	return out, err
}

// resolveID is resolveIDs for one optional id ("" stays "").
func resolveID(ctx context.Context, st *store.Store, what, id string) (string, error) {
	if id == "" {
		return "", nil
	}
	out, err := resolveIDs(ctx, st, what, []string{id})
	if err != nil {
		return "", err
	}
	return out[0], nil
}

// finishRun prints and writes what a run found and picks the exit code.
func finishRun(cmd *cobra.Command, g *globals, st *store.Store, sum runner.Summary, out outputs, failOn finding.Severity) error {
	ctx := context.WithoutCancel(cmd.Context())
	trans, err := st.Transitions(ctx, sum.RunID)
	if err != nil {
		return err
	}
	all, err := st.Findings(ctx, store.Filter{})
	if err != nil {
		return err
	}
	var open []finding.Finding
	for _, f := range all {
		if f.Status == finding.StatusOpen {
			open = append(open, f)
		}
	}
	head, err := st.AuditHead(ctx)
	if err != nil {
		return err
	}
	rep := reports.Run{ID: sum.RunID, Status: sum.Status, StartedAt: sum.Started, Duration: sum.Duration, Transitions: trans,
		Errors: sum.Errors, Notes: sum.Notes, AuditHead: head}
	if out.dir != "" {
		html, err := htmlInput(ctx, st, rep, all)
		if err != nil {
			return err
		}
		if err := writeReports(out.dir, rep, all, html); err != nil {
			return fmt.Errorf("write reports to %s: %w", out.dir, err)
		}
	}
	if out.metrics != "" {
		if err := writeMetrics(ctx, st, out.metrics, sum, open, head); err != nil {
			return fmt.Errorf("write metrics to %s: %w", out.metrics, err)
		}
	}
	if err := printFindings(cmd.OutOrStdout(), g.format, open, trans); err != nil {
		return err
	}
	c := sum.Counts
	g.log.Info("run finished", "run", sum.RunID, "status", sum.Status, "new", c.New, "still_open", c.StillOpen,
		"resolved", c.Resolved, "regressed", c.Regressed, "sources", sum.Sources, "failed_sources", len(sum.Errors),
		"commits", sum.Stats.Commits, "files", sum.Stats.Files, "bytes", sum.Stats.Bytes, "took", sum.Duration.Round(1e6),
		"audit_head", head)
	return exitFor(sum.Partial(), open, failOn)
}

// runFailed maps a run that stopped early to its exit code: interrupted
// (SIGTERM from a CronJob deadline, Ctrl-C) is a partial run, since every
// source stored before the signal stays stored; so is a run refused because
// another holds the lease; anything else is an error.
func runFailed(cmd string, sum runner.Summary, err error) error {
	err = fmt.Errorf("%s %s: %w", cmd, sum.RunID, err)
	// Interrupted, or another run holds the lease: nothing is wrong with
	// the configuration, but this run did not scan everything (exit 3, as
	// remediation's lock does).
	if errors.Is(err, context.Canceled) || errors.Is(err, store.ErrLocked) {
		return &exitError{code: exitPartial, err: err}
	}
	return err
}

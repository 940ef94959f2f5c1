package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/safefile"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/reports"
	"github.com/vigilsec/vigil/rules"
)

// monthlyReport writes the workbook atomically: a half-written xlsx is never
// left where an auditor would open it.
func monthlyReport(cmd *cobra.Command, g *globals, month, out string) error {
	if out == "" {
		return usageErr(fmt.Errorf("report monthly: --out FILE.xlsx is required"))
	}
	if month == "" {
		month = time.Now().UTC().Format("2006-01")
	}
	st, err := g.storeFromFlags(cmd)
	if err != nil {
		return err
	}
	defer st.Close()
	tmp := filepath.Join(filepath.Dir(out), "."+filepath.Base(out)+".tmp.xlsx")
	defer os.Remove(tmp)
	start := time.Now()
	stats, err := reports.Monthly(cmd.Context(), st, month, tmp, rules.DefaultControls(), time.Now())
	if errors.Is(err, reports.ErrNoRuns) {
		return usageErr(err)
	}
	if err != nil {
		return fmt.Errorf("monthly report %s: %w", month, err)
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, out); err != nil {
		return err
	}
	g.log.Info("monthly report written", "file", out, "month", month, "runs", stats.Runs, "findings", stats.Findings,
		"secrets", stats.Secrets, "credentials", stats.Credentials, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

func newReportCmd(g *globals) *cobra.Command {
	var out, month string
	cmd := &cobra.Command{
		Use:   "report sarif|json|markdown|html|monthly",
		Short: "Write a report of the stored findings, as of the latest run, or the monthly compliance workbook",
		Long: `sarif, json, markdown and html report the stored findings as of the latest run
(html: one self-contained file for a browser: summary, 30-day trend, a findings
table with filter and sort, a section per kind, the controls).
monthly writes the compliance workbook (xlsx) for --month from the history of that
month's runs: summary with charts, inventory, leaks, IAM drift, synthetic checks and
their credential ledger, remediation evidence from the audit chain, and control status
for SOC 2, PCI DSS 4.0 and HIPAA.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			format := args[0]
			switch format {
			case "sarif", "json", "markdown", "html":
			case "monthly":
				return monthlyReport(cmd, g, month, out)
			default:
				return usageErr(fmt.Errorf("report: unknown format %q (want sarif, json, markdown, html or monthly)", format))
			}
			st, err := g.storeFromFlags(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			ctx := cmd.Context()
			runs, err := st.Runs(ctx, timeZero, timeZero)
			if err != nil {
				return err
			}
			rep := reports.Run{}
			if len(runs) > 0 {
				last := runs[len(runs)-1]
				rep = reports.Run{ID: last.ID, Status: last.Status, StartedAt: last.StartedAt, Duration: last.FinishedAt.Sub(last.StartedAt)}
				if rep.Transitions, err = st.Transitions(ctx, last.ID); err != nil {
					return err
				}
				if rep.Errors, err = st.RunErrors(ctx, last.ID); err != nil {
					return err
				}
			}
			filter := store.Filter{}
			if format == "sarif" {
				filter.Status = []string{string(finding.StatusOpen)}
			}
			fs, err := st.Findings(ctx, filter)
			if err != nil {
				return err
			}
			if format == "html" {
				if rep.AuditHead, err = st.AuditHead(ctx); err != nil {
					return err
				}
			}
			write := func(w io.Writer) error {
				switch format {
				case "sarif":
					return reports.SARIF(w, rep, fs)
				case "json":
					return reports.JSON(w, fs)
				case "html":
					in, err := htmlInput(ctx, st, rep, fs)
					if err != nil {
						return err
					}
					return reports.HTML(w, in)
				default:
					return reports.Markdown(w, rep, fs)
				}
			}
			if out == "" {
				return write(cmd.OutOrStdout())
			}
			// Through a rename, private: a half-written report is never
			// where someone opens it.
			return safefile.WriteAtomic(out, write)
		},
	}
	cmd.Flags().StringVarP(&out, "out", "o", "", "file to write (default stdout)")
	cmd.Flags().StringVar(&month, "month", "", "monthly: the month to report, YYYY-MM (default: this month)")
	return cmd
}

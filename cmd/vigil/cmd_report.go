package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/reports"
)

func newReportCmd(g *globals) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "report sarif|json|markdown",
		Short: "Write a report of the stored findings, as of the latest run",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			format := args[0]
			switch format {
			case "sarif", "json", "markdown":
			default:
				return usageErr(fmt.Errorf("report: unknown format %q (want sarif, json or markdown)", format))
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
			var w io.Writer = cmd.OutOrStdout()
			if out != "" {
				f, err := os.Create(out)
				if err != nil {
					return err
				}
				defer f.Close()
				w = f
			}
			switch format {
			case "sarif":
				return reports.SARIF(w, rep, fs)
			case "json":
				return reports.JSON(w, fs)
			default:
				return reports.Markdown(w, rep, fs)
			}
		},
	}
	cmd.Flags().StringVarP(&out, "out", "o", "", "file to write (default stdout)")
	return cmd
}

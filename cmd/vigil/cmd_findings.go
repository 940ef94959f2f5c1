package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigilsec/vigil/internal/ledger"
	"github.com/vigilsec/vigil/internal/store"
)

func newFindingsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "findings", Short: "List or suppress stored findings"}
	var status, kind []string
	list := &cobra.Command{
		Use:   "list",
		Short: "List findings from the database",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := g.storeFromFlags(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			for _, s := range splitList(status) {
				switch s {
				case "open", "resolved", "suppressed":
				default:
					return usageErr(fmt.Errorf("--status %q: want open, resolved or suppressed", s))
				}
			}
			fs, err := st.Findings(cmd.Context(), store.Filter{Status: splitList(status), Kind: kinds(splitList(kind))})
			if err != nil {
				return err
			}
			return printFindings(cmd.OutOrStdout(), g.format, fs, nil)
		},
	}
	list.Flags().StringSliceVar(&status, "status", nil, "only these statuses: open, resolved, suppressed")
	list.Flags().StringSliceVar(&kind, "kind", nil, "only these kinds, e.g. leak.git")

	var reason string
	suppress := &cobra.Command{
		Use:   "suppress ID...",
		Short: "Accept the risk of findings; the reason is kept in the audit log",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, ids []string) error {
			if reason == "" {
				return usageErr(fmt.Errorf("--reason is required: the audit log must say why"))
			}
			st, err := g.storeFromFlags(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			full, err := resolveIDs(cmd.Context(), st, "finding", ids)
			if err != nil {
				return err
			}
			return st.Suppress(cmd.Context(), full, reason)
		},
	}
	suppress.Flags().StringVar(&reason, "reason", "", "why this finding is accepted")
	var openOnly bool
	ledger := &cobra.Command{
		Use:   "ledger",
		Short: "List the credentials vigil minted for synthetic checks (never the credentials themselves)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := g.storeFromFlags(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			rows, err := st.Credentials(cmd.Context(), ledger.Filter{Open: openOnly})
			if err != nil {
				return err
			}
			return printLedger(cmd.OutOrStdout(), g.format, rows)
		},
	}
	ledger.Flags().BoolVar(&openOnly, "open", false, "only credentials not yet revoked or cleaned up")
	cmd.AddCommand(list, suppress, ledger)
	return cmd
}

// printLedger writes ledger rows as a table or as JSON.
func printLedger(w io.Writer, format string, rows []ledger.Credential) error {
	if format == "json" {
		type row struct {
			ID           string               `json:"id"`
			RunID        string               `json:"run_id"`
			Identity     string               `json:"identity"`
			Issuer       string               `json:"issuer"`
			Target       string               `json:"target"`
			CredentialID string               `json:"credential_id"`
			Status       string               `json:"status"`
			Scope        map[string]any       `json:"scope"`
			IssuedAt     *time.Time           `json:"issued_at"`
			ExpiresAt    *time.Time           `json:"expires_at"`
			RevokedAt    *time.Time           `json:"revoked_at"`
			CleanedAt    *time.Time           `json:"cleaned_at"`
			Revocation   map[string]any       `json:"revocation"`
			Probes       []ledger.ProbeRecord `json:"probes"`
		}
		opt := func(t time.Time) *time.Time {
			if t.IsZero() {
				return nil
			}
			return &t
		}
		out := make([]row, 0, len(rows))
		for _, r := range rows {
			out = append(out, row{r.ID, r.RunID, r.Identity, r.Issuer, r.Target, r.CredentialID, r.Status, r.Scope,
				opt(r.IssuedAt), opt(r.ExpiresAt), opt(r.RevokedAt), opt(r.CleanedAt), r.Revocation, r.Probes})
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "LEDGER\tIDENTITY\tISSUER\tCREDENTIAL\tSTATUS\tISSUED\tEXPIRES\tREVOKED\tVERIFIED\tPROBES")
	when := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format("2006-01-02 15:04:05")
	}
	for _, r := range rows {
		n := map[string]int{}
		for _, p := range r.Probes {
			n[p.Outcome]++
		}
		verified := "-"
		if v, ok := r.Revocation["verified"].(bool); ok {
			verified = fmt.Sprint(v)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d allowed, %d denied, %d inconclusive\n", r.ID, cellText(r.Identity, 60), cellText(r.Issuer, 60),
			cellText(r.CredentialID, 40), r.Status, when(r.IssuedAt), when(r.ExpiresAt), when(r.RevokedAt), verified, n["allowed"], n["denied"], n["inconclusive"])
	}
	return tw.Flush()
}

// storeFromFlags opens the database named by --db, or by --config's db.
func (g *globals) storeFromFlags(cmd *cobra.Command) (*store.Store, error) {
	if g.configPath != "" {
		cfg, err := g.loadConfig()
		if err != nil {
			return nil, err
		}
		st, _, err := g.openStore(cmd, cfg, false)
		return st, err
	}
	st, _, err := g.openStore(cmd, nil, false)
	return st, err
}

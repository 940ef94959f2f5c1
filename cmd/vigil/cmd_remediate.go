//go:build !scanonly

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/remediate"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/wiring"
)

func newRemediateCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "remediate",
		Short: "Plan, apply (only with --approve) and roll back fixes: rotate secrets, narrow IAM, deactivate keys, quarantine",
		Long: `Remediation works from the findings stored by the last runs.

  plan      store and print what would be done, and which findings are left to a person
  apply     apply a stored plan (--plan), or a new one; nothing changes without --approve
  rollback  restore what an applied action changed (--action ID --approve)
  list      the actions of a plan, or all of them

Every action and every change of its status is a row of the audit hash chain:
who (the caller identity), what, keyed hashes of the state before and after,
and why (the findings).`,
	}
	var ids []string
	plan := &cobra.Command{
		Use:   "plan",
		Short: "Plan remediation of the open findings (or --finding ones) and store the plan",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withRemediation(cmd, g, func(ctx context.Context, r *remediation) error {
				full, err := resolveIDs(ctx, r.engine.Store, "finding", ids)
				if err != nil {
					return err
				}
				p, err := r.planner.Plan(ctx, full)
				if err != nil {
					return err
				}
				if err := printPlan(cmd.OutOrStdout(), g.format, p); err != nil {
					return err
				}
				if len(p.Actions) > 0 && g.format != "json" {
					fmt.Fprintf(cmd.OutOrStdout(), "\nApply with: vigil remediate apply --plan %s --approve\n", p.ID)
				}
				return nil
			})
		},
	}
	plan.Flags().StringSliceVar(&ids, "finding", nil, "only these findings (repeatable)")

	var planID string
	var actionIDs []string
	var approve, allowUnverified, force bool
	apply := &cobra.Command{
		Use:   "apply",
		Short: "Apply a plan; without --approve, only show it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(actionIDs) > 0 && planID == "" {
				return usageErr(errors.New("--action needs --plan: it names one action of a stored plan"))
			}
			return withRemediation(cmd, g, func(ctx context.Context, r *remediation) error {
				st := r.engine.Store
				pid, err := resolveID(ctx, st, "plan", planID)
				if err != nil {
					return err
				}
				// Repeatable: each --action names one more action to apply
				// (a flag given twice must not silently keep only the last).
				aids, err := resolveIDs(ctx, st, "action", actionIDs)
				if err != nil {
					return err
				}
				full, err := resolveIDs(ctx, st, "finding", ids)
				if err != nil {
					return err
				}
				r.engine.AllowUnverified = allowUnverified
				return applyPlan(ctx, cmd.OutOrStdout(), g, r, pid, aids, full, approve)
			})
		},
	}
	apply.Flags().StringVar(&planID, "plan", "", "the stored plan to apply (default: plan now)")
	apply.Flags().StringArrayVar(&actionIDs, "action", nil, "with --plan: apply only this action of it (repeatable)")
	apply.Flags().BoolVar(&allowUnverified, "allow-unverified", false, "also apply changes no probe can verify (narrowing an identity without probes)")
	apply.Flags().StringSliceVar(&ids, "finding", nil, "with no --plan: plan only these findings")
	apply.Flags().BoolVar(&approve, "approve", false, "make the changes (without it nothing changes)")

	var rollbackID string
	rollback := &cobra.Command{
		Use:   "rollback",
		Short: "Restore the state before an applied action",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if rollbackID == "" {
				return usageErr(errors.New("--action is required"))
			}
			return withRemediation(cmd, g, func(ctx context.Context, r *remediation) error {
				actionID, err := resolveID(ctx, r.engine.Store, "action", rollbackID)
				if err != nil {
					return err
				}
				if !approve {
					acts, err := r.engine.Store.Actions(ctx, store.ActionFilter{IDs: []string{actionID}})
					if err != nil {
						return err
					}
					if len(acts) == 0 {
						return usageErr(fmt.Errorf("no remediation action %s", actionID))
					}
					fmt.Fprintf(cmd.OutOrStdout(), "would roll back %s (%s: %s, %s)\ndry run: nothing changed; add --approve to roll back\n",
						actionID, acts[0].Kind, acts[0].Target, acts[0].Status)
					return nil
				}
				a, err := r.engine.Rollback(ctx, actionID, force)
				if errors.Is(err, remediate.ErrReopensLeak) {
					return &exitError{code: exitFindings, err: err}
				}
				if a != nil {
					if perr := printActions(cmd.OutOrStdout(), g.format, []store.Action{*a}); perr != nil {
						return perr
					}
				}
				if err != nil {
					return err
				}
				if a.Status != store.ActRolledBack {
					return &exitError{code: exitFindings, err: fmt.Errorf("action %s: %s", a.ID, a.Error)}
				}
				return nil
			})
		},
	}
	rollback.Flags().StringVar(&rollbackID, "action", "", "the action to roll back")
	rollback.Flags().BoolVar(&approve, "approve", false, "make the change (without it nothing changes)")
	rollback.Flags().BoolVar(&force, "force", false, "roll back even a rotation that retired a leaked value (the leak becomes live again)")

	list := &cobra.Command{
		Use:   "list",
		Short: "List remediation actions (of --plan, or all)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := g.storeFromFlags(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			pid, err := resolveID(cmd.Context(), st, "plan", planID)
			if err != nil {
				return err
			}
			acts, err := st.Actions(cmd.Context(), store.ActionFilter{PlanID: pid})
			if err != nil {
				return err
			}
			return printActions(cmd.OutOrStdout(), g.format, acts)
		},
	}
	list.Flags().StringVar(&planID, "plan", "", "only this plan's actions")
	cmd.AddCommand(plan, apply, rollback, list)
	return cmd
}

// remediation is the engine and planner for a config.
type remediation struct {
	engine  *remediate.Engine
	planner *remediate.Planner
}

func newRemediation(ctx context.Context, env *wiring.Env) (*remediation, error) {
	eng, pl, err := env.Remediation(ctx)
	if err != nil {
		return nil, err
	}
	return &remediation{engine: eng, planner: pl}, nil
}

// withRemediation loads the config, opens the store and wires remediation.
func withRemediation(cmd *cobra.Command, g *globals, fn func(context.Context, *remediation) error) error {
	cfg, err := g.loadConfig()
	if err != nil {
		return err
	}
	st, h, err := g.openStore(cmd, cfg, false)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx, stop := interruptible(cmd.Context())
	defer stop()
	r, err := newRemediation(ctx, wiring.New(cfg, st, h, g.log, nil))
	if err != nil {
		return usageErr(err)
	}
	return fn(ctx, r)
}

// applyPlan applies planID (or a new plan of ids) when approved, and prints
// the actions. Exit 1 when an action did not apply.
func applyPlan(ctx context.Context, w io.Writer, g *globals, r *remediation, planID string, only, ids []string, approve bool) error {
	if planID == "" {
		p, err := r.planner.Plan(ctx, ids)
		if err != nil {
			return err
		}
		planID = p.ID
		if !approve || len(p.Actions) == 0 {
			if err := printPlan(w, g.format, p); err != nil {
				return err
			}
			if !approve && len(p.Actions) > 0 && g.format != "json" {
				fmt.Fprintf(w, "\ndry run: nothing changed. Apply with: vigil remediate apply --plan %s --approve\n", p.ID)
			}
			return nil
		}
	}
	if !approve {
		acts, err := r.engine.Store.Actions(ctx, store.ActionFilter{PlanID: planID, IDs: only})
		if err != nil {
			return err
		}
		if err := printActions(w, g.format, acts); err != nil {
			return err
		}
		if g.format != "json" {
			fmt.Fprintln(w, "\ndry run: nothing changed; add --approve to apply")
		}
		return nil
	}
	acts, err := r.engine.Apply(ctx, planID, only...)
	if errors.Is(err, store.ErrLocked) {
		return &exitError{code: exitPartial, err: err}
	}
	if perr := printActions(w, g.format, acts); perr != nil {
		return perr
	}
	if err != nil {
		return err
	}
	var bad []string
	for _, a := range acts {
		if a.Status == store.ActRolledBack || a.Status == store.ActFailed || (a.Status == store.ActPlanned && a.Error != "") {
			bad = append(bad, fmt.Sprintf("%s %s: %s", a.ID, a.Status, a.Error))
		}
	}
	if len(bad) > 0 {
		return &exitError{code: exitFindings, err: fmt.Errorf("%d action(s) not applied:\n  %s", len(bad), strings.Join(bad, "\n  "))}
	}
	return nil
}

func printPlan(w io.Writer, format string, p *remediate.Plan) error {
	if format == "json" {
		p.Actions = nonNilSlice(p.Actions)
		p.Skipped = nonNilSlice(p.Skipped)
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(p)
	}
	fmt.Fprintf(w, "plan %s: %d action(s)\n", p.ID, len(p.Actions))
	if err := printActions(w, format, p.Actions); err != nil {
		return err
	}
	if len(p.Skipped) > 0 {
		fmt.Fprintf(w, "\nleft to a person (%d):\n", len(p.Skipped))
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "FINDING\tKIND\tRESOURCE\tWHY")
		for _, s := range p.Skipped {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", finding.ShortID(s.Finding), s.Kind, cellText(s.Resource, 70), cellText(s.Reason, 200))
		}
		return tw.Flush()
	}
	return nil
}

func printActions(w io.Writer, format string, acts []store.Action) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(nonNilSlice(acts))
	}
	if len(acts) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ACTION\tKIND\tSTATUS\tWHAT\tWHY")
	for _, a := range acts {
		why := a.Why
		if a.Error != "" {
			why += " [" + a.Error + "]"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", a.ID, a.Kind, a.Status, cellText(a.Title, 100), cellText(why, 200))
	}
	return tw.Flush()
}

func nonNilSlice[S ~[]E, E any](s S) S {
	if s == nil {
		return S{}
	}
	return s
}

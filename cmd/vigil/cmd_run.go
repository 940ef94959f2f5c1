//go:build !scanonly

package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/runner"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/wiring"
	"github.com/vigilsec/vigil/scanners"
)

// available lists the scanners this build has, in the order a run runs them.
var available = wiring.Order

func newRunCmd(g *globals) *cobra.Command {
	var (
		only                  []string
		out                   outputs
		failOn, shard, runKey string
		finalize, queue       bool
	)
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the nightly job: every configured scanner, results stored and compared with the last run",
		Long: `Run the nightly job: every configured scanner, results stored and compared with
the last run.

Sharded (several processes, one run; a PostgreSQL db: shared by all): each
process runs with --shard I/N (0 <= I < N; default: JOB_COMPLETION_INDEX of a
Kubernetes Indexed Job and VIGIL_SHARDS) and the same --run-key (default:
VIGIL_RUN_KEY, e.g. the Job's name). Each scans the leak sources (repositories,
directories, log files, an organisation's repositories) whose key hashes to its
shard (with --queue: the sources it claims first from a queue in the database,
so one huge repository holds up nothing behind it, and a dead shard's unfinished
source is taken over); the last shard to end runs the rest (inventory, IAM, synthetic checks,
secret-scanning alerts) and finishes the run with the whole run's counts. If
that process died, --finalize --run-key KEY finishes it. A shard exits 0 when it
did its part, even with findings, so that Kubernetes retries only a shard that
was killed or could not work; the run's status says partial when a source
failed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, sev, err := g.configAndFailOn(failOn)
			if err != nil {
				return err
			}
			want, err := selectScanners(splitList(only))
			if err != nil {
				return usageErr(err)
			}
			sh, err := shardFlags(shard, runKey, finalize)
			if err != nil {
				return usageErr(err)
			}
			if queue {
				if sh == nil {
					return usageErr(fmt.Errorf("--queue is for sharded runs (--shard)"))
				}
				sh.Queue = true
			}
			if sh != nil || finalize {
				return runSharded(cmd, g, cfg, want, sh, runKeyOr(runKey), out, sev)
			}
			return runScanners(cmd, g, cfg, want, "run", out, sev)
		},
	}
	cmd.Flags().StringSliceVar(&only, "only", nil, "run only these scanners (comma-separated): "+fmt.Sprint(available))
	cmd.Flags().StringVar(&shard, "shard", "", "I/N: this process scans shard I (0-based) of N of a sharded run (default: $JOB_COMPLETION_INDEX/$VIGIL_SHARDS)")
	cmd.Flags().StringVar(&runKey, "run-key", "", "the name every shard of one sharded run shares (default: $VIGIL_RUN_KEY)")
	cmd.Flags().BoolVar(&queue, "queue", false, "sharded: take sources one at a time from the run's queue in the database instead of by hash (for sources of very different sizes; a dead shard's unfinished source is taken over)")
	cmd.Flags().BoolVar(&finalize, "finalize", false, "finish the sharded run --run-key once every shard has ended (its last shard does this itself)")
	out.flags(cmd)
	cmd.Flags().StringVar(&failOn, "fail-on", "", "lowest severity of an open finding that makes the exit code 1 (default: the config's fail_on, else high)")
	return cmd
}

// openScanners opens the database and builds the wanted scanners of cfg,
// with a progress display the caller stops.
func openScanners(cmd *cobra.Command, g *globals, cfg *config.Config, want map[string]bool) (*store.Store, *progress, []scanners.Scanner, error) {
	st, h, err := g.openStore(cmd, cfg, true)
	if err != nil {
		return nil, nil, nil, err
	}
	prog := startProgress(g.quiet || g.format == "json")
	scs, err := wiring.New(cfg, st, h, g.log, prog).Scanners(cmd.Context(), want)
	if err != nil {
		prog.stop()
		st.Close()
		return nil, nil, nil, usageErr(err)
	}
	return st, prog, scs, nil
}

// runScanners runs the wanted scanners of cfg as one stored run.
func runScanners(cmd *cobra.Command, g *globals, cfg *config.Config, want map[string]bool, label string, out outputs, sev finding.Severity) error {
	st, prog, scs, err := openScanners(cmd, g, cfg, want)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx, stop := interruptible(cmd.Context())
	defer stop()
	sum, err := runner.Run(ctx, st, g.log, label, scs, runner.Options{LeaseTTL: cfg.LeaseTTL})
	prog.stop()
	if err != nil {
		return runFailed(label, sum, err)
	}
	return finishRun(cmd, g, st, sum, out, sev)
}

func runKeyOr(key string) string {
	if key == "" {
		return os.Getenv("VIGIL_RUN_KEY")
	}
	return key
}

// shardFlags reads --shard (or a Kubernetes Indexed Job's index and
// VIGIL_SHARDS); nil when the run is not sharded.
func shardFlags(shard, runKey string, finalize bool) (*runner.Shard, error) {
	if shard == "" && os.Getenv("JOB_COMPLETION_INDEX") != "" && os.Getenv("VIGIL_SHARDS") != "" {
		shard = os.Getenv("JOB_COMPLETION_INDEX") + "/" + os.Getenv("VIGIL_SHARDS")
	}
	key := runKeyOr(runKey)
	if shard == "" {
		if finalize && key == "" {
			return nil, fmt.Errorf("--finalize needs --run-key (or VIGIL_RUN_KEY)")
		}
		return nil, nil
	}
	if finalize {
		return nil, fmt.Errorf("--finalize is run on its own, without --shard")
	}
	is, ns, ok := strings.Cut(shard, "/")
	i, err1 := strconv.Atoi(is)
	n, err2 := strconv.Atoi(ns)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return nil, fmt.Errorf("--shard %q: want I/N with 0 <= I < N", shard)
	}
	if key == "" {
		return nil, fmt.Errorf("--shard needs --run-key (or VIGIL_RUN_KEY): the name all shards of the run share")
	}
	return &runner.Shard{Key: key, I: i, N: n}, nil
}

// runSharded runs one shard of a sharded run (and, if it is the last to
// end, the run's last step), or only the last step (sh nil: --finalize).
func runSharded(cmd *cobra.Command, g *globals, cfg *config.Config, want map[string]bool, sh *runner.Shard, key string, out outputs, sev finding.Severity) error {
	st, prog, scs, err := openScanners(cmd, g, cfg, want)
	if err != nil {
		return err
	}
	defer st.Close()
	// The leak sources are divided between the shards; what needs all of
	// them stored comes last, once.
	var shardScs, finalScs []scanners.Scanner
	for _, sc := range scs {
		switch sc.Name() {
		case "leaks":
			shardScs = append(shardScs, sc)
		case "github", "iam":
			// Each shard its own repositories or accounts; the last step
			// what needs all of them (alerts; who trusts GitHub's OIDC).
			shardScs = append(shardScs, sc)
			finalScs = append(finalScs, sc)
		default:
			finalScs = append(finalScs, sc)
		}
	}
	ctx, stop := interruptible(cmd.Context())
	defer stop()
	opt := runner.Options{LeaseTTL: cfg.LeaseTTL}
	if sh != nil {
		opt.Shard = sh
		sum, err := runner.Run(ctx, st, g.log, "run", shardScs, opt)
		if errors.Is(err, store.ErrShardDone) {
			prog.stop()
			g.log.Info("this shard already finished", "run_key", sh.Key, "shard", sh.I)
			return nil
		}
		if err != nil {
			prog.stop()
			return runFailed("run", sum, err)
		}
		g.log.Info("shard finished", "run_key", sh.Key, "shard", sh.I, "of", sh.N, "status", sum.Status, "sources", sum.Sources,
			"new", sum.Counts.New, "last", sum.Last)
		if !sum.Last {
			prog.stop()
			return nil
		}
		opt.Shard = nil
	}
	sum, err := runner.Finalize(ctx, st, g.log, key, finalScs, opt)
	prog.stop()
	if err != nil {
		return runFailed("run", sum, err)
	}
	err = finishRun(cmd, g, st, sum, out, sev)
	var ee *exitError
	if errors.As(err, &ee) && ee.code == exitFindings {
		return nil // a sharded run does not gate on findings (see run --help)
	}
	return err
}

func selectScanners(only []string) (map[string]bool, error) {
	want := map[string]bool{}
	if len(only) == 0 {
		for _, a := range available {
			want[a] = true
		}
		return want, nil
	}
	for _, o := range only {
		ok := false
		for _, a := range available {
			ok = ok || a == o
		}
		if !ok {
			return nil, fmt.Errorf("--only: scanner %q is not available in this build (available: %v)", o, available)
		}
		want[o] = true
	}
	return want, nil
}

// configAndFailOn loads --config and resolves --fail-on against the config's
// fail_on.
func (g *globals) configAndFailOn(failOn string) (*config.Config, finding.Severity, error) {
	cfg, err := g.loadConfig()
	if err != nil {
		return nil, "", err
	}
	if failOn == "" {
		failOn = cfg.FailOn
	}
	sev, err := finding.ParseSeverity(failOn)
	if err != nil {
		return nil, "", usageErr(fmt.Errorf("--fail-on: %w", err))
	}
	return cfg, sev, nil
}

// scannerCmd is a command that runs one scanner of the config as a stored run
// (`vigil inventory`, `vigil iam drift`).
func scannerCmd(g *globals, use, short, long, scanner string) *cobra.Command {
	var (
		out    outputs
		failOn string
	)
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Long:  long,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, sev, err := g.configAndFailOn(failOn)
			if err != nil {
				return err
			}
			return runScanners(cmd, g, cfg, map[string]bool{scanner: true}, cmd.CommandPath()[len("vigil "):], out, sev)
		},
	}
	out.flags(cmd)
	cmd.Flags().StringVar(&failOn, "fail-on", "", "lowest severity of an open finding that makes the exit code 1 (default: the config's fail_on)")
	return cmd
}

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/gcpace"
	"github.com/vigilsec/vigil/internal/runner"
	"github.com/vigilsec/vigil/internal/secrethash"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/rules"
	"github.com/vigilsec/vigil/scanners"
	"github.com/vigilsec/vigil/scanners/leaks"
)

// scanGCPercent is the garbage collector's target for a scan: its live heap
// is small (rules, the hunk cache: about 24 MiB on gitleaks' history) and its
// garbage is every hunk and match it reads, so Go's default (collect when
// the heap has doubled) makes the heap's peak twice what is live. 40 keeps
// the scan-only build's peak at the gitleaks CLI's on the same history (103
// against 106 MiB; 123 MiB at the default) at no measurable cost in time.
// Behind the prefilter (the RE2=cgo build) gitleaks sees a tenth of the
// fragments and makes a fraction of the garbage, so 20 costs no time there
// either (A/B wall 1.01) and keeps the peak 7 MiB lower, under gitleaks' own
// again; without it, 20 costs 5% (bench/README.md).
//
// A percentage of a heap of 10 MiB (a directory or log scan) is a
// collection every 2 MiB: Go's source tree took 450 of them in 2 s, and
// the workers waited on each one's phase changes. So a collection waits at
// least until the heap has grown by scanGCFloor (gcpace): Go's source tree
// 1.5-1.7 against 2.0 s, at a peak of 81 against 75 MiB (gitleaks' 103);
// the logs' peak 70 against 65 MiB (gitleaks' 75); the git histories,
// whose live heap is larger, much as before (gitleaks' history 100 against
// 96 MiB; 16 MiB would cost it 14 MiB, past gitleaks' 110-113).
//
// It is set when the scan starts reading: a night with nothing new keeps
// the default (a tighter target there only costs time, decoding the stored
// findings). GOGC, when set, still decides.
const (
	scanGCPercent         = 40
	filteredScanGCPercent = 20
	scanGCFloor           = 8 << 20
)

func scanHeap(filtered bool) {
	if os.Getenv("GOGC") != "" {
		return
	}
	if filtered {
		gcpace.Start(filteredScanGCPercent, scanGCFloor)
	} else {
		gcpace.Start(scanGCPercent, scanGCFloor)
	}
}

// cacheBeside is where ad hoc scans keep mirrors: beside a SQLite
// database, or in the working directory for a PostgreSQL one.
func cacheBeside(st *store.Store) string {
	if store.IsPostgres(st.Path()) {
		return ".vigil-cache"
	}
	return filepath.Join(filepath.Dir(st.Path()), ".vigil-cache")
}

func newScanCmd(g *globals) *cobra.Command {
	var (
		since, rulesPath, ignore, name, failOn string
		out                                    outputs
		org                                    config.GitHubOrg
		forks                                  bool
	)
	cmd := &cobra.Command{
		Use:   "scan git|dir|logs|github PATH-OR-GLOB-OR-ORG...",
		Short: "Scan for leaked secrets without a config: a repository (incrementally), a directory, log files, or a GitHub organisation",
		Long: `Scan one source ad hoc. Results are stored in --db like a run's, so a second
'vigil scan git' of the same repository reads only the commits that are new, and
a second 'vigil scan github ORG' fetches only the repositories that changed.
The GitHub token is read from the variable --token-env names (GITHUB_TOKEN).`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, paths := args[0], args[1:]
			sev, err := finding.ParseSeverity(failOn)
			if err != nil {
				return usageErr(fmt.Errorf("--fail-on: %w", err))
			}
			st, h, err := g.openStore(cmd, nil, true)
			if err != nil {
				return err
			}
			defer st.Close()
			eng, err := leaks.NewEngine(rulesPath, ignore, h, rules.DefaultControls())
			if err != nil {
				return usageErr(err)
			}
			eng.OnDetect = scanHeap
			prog := startProgress(g.quiet || g.format == "json")
			sc := leaks.New(eng, leaks.Options{ExplicitRules: rulesPath != "", Progress: prog, Log: g.log,
				CacheDir: cacheBeside(st)})
			nameOf := func(p string) string {
				if name != "" {
					return name
				}
				abs, _ := filepath.Abs(p)
				return filepath.Base(strings.TrimSuffix(abs, "/"))
			}
			// A source's name is its identity in the database: two paths
			// that would share one are refused, never merged.
			named := map[string]string{}
			for _, p := range paths {
				n := nameOf(p)
				if prev, ok := named[n]; ok && kind != "logs" {
					prog.stop()
					return usageErr(fmt.Errorf("%s and %s would both be source %q: scan them one at a time, each with its own --name", secrethash.RedactURL(prev), secrethash.RedactURL(p), n))
				}
				named[n] = p
			}
			switch kind {
			case "github":
				if since != "" || name != "" {
					prog.stop()
					return usageErr(fmt.Errorf("--since and --name do not apply to github scans"))
				}
				org.Forks = &forks
				return scanGitHub(cmd, g, st, sc, paths, org, out, sev, prog)
			case "git":
				for _, p := range paths {
					t := leaks.GitTarget{Name: nameOf(p), Since: since, StrictIdentity: true}
					if strings.Contains(p, "://") || strings.HasPrefix(p, "git@") {
						t.URL = p
					} else {
						t.Path, _ = filepath.Abs(p)
					}
					sc.Git = append(sc.Git, t)
				}
			case "dir":
				for _, p := range paths {
					abs, _ := filepath.Abs(p)
					sc.Dirs = append(sc.Dirs, leaks.DirTarget{Name: nameOf(p), Path: abs})
				}
			case "logs":
				var globs []string
				for _, p := range paths {
					abs, _ := filepath.Abs(p)
					globs = append(globs, abs)
				}
				sc.Logs = append(sc.Logs, leaks.LogTarget{Name: nameOf(filepath.Dir(paths[0])), Paths: globs})
			default:
				prog.stop()
				return usageErr(fmt.Errorf("scan: unknown source kind %q (want git, dir, logs or github)", kind))
			}
			if since != "" && kind != "git" {
				prog.stop()
				return usageErr(fmt.Errorf("--since applies to git scans only"))
			}
			ctx, stop := interruptible(cmd.Context())
			defer stop()
			sum, err := runner.Run(ctx, st, g.log, "scan "+kind, []scanners.Scanner{sc}, runner.Options{})
			prog.stop()
			if err != nil {
				return runFailed("scan", sum, err)
			}
			return finishRun(cmd, g, st, sum, out, sev)
		},
	}
	f := cmd.Flags()
	f.StringVar(&since, "since", "", "git: scan only commits after this revision (not stored as scan state)")
	f.StringVar(&rulesPath, "rules", "", "gitleaks TOML config (default: gitleaks' rules, or the repository's own .gitleaks.toml)")
	f.StringVar(&ignore, "gitleaksignore", "", ".gitleaksignore file")
	f.StringVar(&name, "name", "", "name of the source in findings (default: the path's base name)")
	f.StringVar(&org.APIURL, "api-url", "", "github: GitHub Enterprise Server's address (default api.github.com)")
	f.StringVar(&org.TokenEnv, "token-env", "GITHUB_TOKEN", "github: the variable holding the token")
	f.StringSliceVar(&org.Include, "include", nil, "github: only repositories whose name matches one of these globs")
	f.StringSliceVar(&org.Exclude, "exclude", nil, "github: not the repositories whose name matches one of these globs")
	f.IntVar(&org.Workers, "workers", 4, "github: repositories checked and scanned at once")
	f.BoolVar(&forks, "forks", false, "github: scan forks too")
	out.flags(cmd)
	f.StringVar(&failOn, "fail-on", "high", "lowest severity of an open finding that makes the exit code 1")
	return cmd
}

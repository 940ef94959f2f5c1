// Package doctor is `vigil doctor`: a pre-flight for a new installation.
// For each configured source and store it asks whether vigil can reach it,
// authenticate, and read what a run needs, and, where remediation is
// configured, whether it would be allowed to write. Nothing is changed:
// a write permission is probed by calling the write API on a name that does
// not exist, since AWS authorises a request before it looks the resource up
// (AccessDenied: not allowed; NoSuchEntity / ResourceNotFound: allowed),
// and Vault answers with its capabilities on a path.
package doctor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/safefile"
	"github.com/vigilsec/vigil/internal/secrethash"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/wiring"
	"github.com/vigilsec/vigil/scanners/leaks"
)

// Status is a check's outcome.
type Status string

// Outcomes. Only OK is ready.
const (
	OK          Status = "ok"
	Missing     Status = "missing permission"
	Unreachable Status = "unreachable"
	Failed      Status = "error"
)

// Check is one line of the pre-flight table.
type Check struct {
	Area   string `json:"area"`   // config, git, dirs, logs, files, aws, vault, github, azure
	Target string `json:"target"` // the source or store, as vigil.yaml names it
	What   string `json:"check"`  // what was asked: "sts:GetCallerIdentity", "list secret/metadata"
	Status Status `json:"status"`
	Detail string `json:"detail,omitempty"`
}

// Ready reports whether every check passed.
func Ready(cs []Check) bool {
	for _, c := range cs {
		if c.Status != OK {
			return false
		}
	}
	return true
}

// Run makes every check the configuration calls for. One failing check
// never stops the others.
func Run(ctx context.Context, e *wiring.Env) []Check {
	var cs []Check
	add := func(area, target, what string, st Status, detail string) {
		cs = append(cs, Check{Area: area, Target: target, What: what, Status: st, Detail: detail})
	}
	cfg := e.Config
	rulesChecks(e, add)
	for _, g := range cfg.Sources.Git {
		if err := leaks.Reachable(ctx, leaks.GitTarget{Name: g.Name, Path: g.Path, URL: g.URL}); err != nil {
			add("git", g.Name, "repository", Unreachable, err.Error())
		} else {
			add("git", g.Name, "repository", OK, "")
		}
	}
	for _, d := range cfg.Sources.Dirs {
		st, detail := dirStatus(d.Path)
		add("dirs", d.Name, "readable directory", st, detail)
	}
	// matched reports a set of globs: an error, nothing to read yet, or how
	// many files.
	matched := func(area, target string, files []string, err error) {
		switch {
		case err != nil:
			add(area, target, "files match", Failed, err.Error())
		case len(files) == 0:
			add(area, target, "files match", Failed, "no file matches yet")
		default:
			add(area, target, "files match", OK, fmt.Sprintf("%d files", len(files)))
		}
	}
	for _, l := range cfg.Sources.Logs {
		// Plain globs: a log set may follow symlinks (follow_symlinks),
		// and its directory may appear later.
		var files []string
		var errs []error
		for _, p := range l.Paths {
			m, err := filepath.Glob(p)
			files, errs = append(files, m...), append(errs, err)
		}
		matched("logs", l.Name, files, errors.Join(errs...))
	}
	// The file-based stores read their globs through safefile.Glob, as the
	// stores themselves do: a missing directory is an error there too.
	inv := cfg.Inventory
	if inv != nil && inv.Files != nil {
		for _, set := range [][]string{inv.Files.Env, inv.Files.Kubernetes, inv.Files.Pipelines} {
			if len(set) > 0 {
				files, err := safefile.Glob(cfg.Dir, set)
				matched("files", strings.Join(set, ", "), files, err)
			}
		}
	}
	// Encrypted files: something to read, and the key when values are hashed.
	if inv != nil {
		type encrypted struct {
			area       string
			paths      []string
			key, whatK string
		}
		var sets []encrypted
		if s := inv.SOPS; s != nil {
			sets = append(sets, encrypted{"sops", s.Paths, s.AgeKeyFile, "age key file readable"})
		}
		if s := inv.SealedSecrets; s != nil {
			sets = append(sets, encrypted{"sealed", s.Paths, s.PrivateKeyFile, "controller's private key readable"})
		}
		for _, set := range sets {
			if len(set.paths) > 0 {
				files, err := safefile.Glob(cfg.Dir, set.paths)
				matched(set.area, strings.Join(set.paths, ", "), files, err)
			}
			if inv.HashValues && set.key != "" {
				if _, err := os.Stat(set.key); err != nil {
					add(set.area, set.key, set.whatK, Failed, err.Error())
				} else {
					add(set.area, set.key, set.whatK, OK, "")
				}
			}
		}
	}
	if cfg.AWS != nil {
		cs = append(cs, awsChecks(ctx, e)...)
	}
	cs = append(cs, vaultChecks(ctx, e)...)
	cs = append(cs, githubChecks(ctx, e)...)
	cs = append(cs, azureChecks(ctx, e)...)
	cs = append(cs, gcpChecks(ctx, e)...)
	cs = append(cs, kubernetesChecks(ctx, e)...)
	cs = append(cs, gitlabChecks(ctx, e)...)
	cs = append(cs, onepasswordChecks(ctx, e)...)
	cs = append(cs, dopplerChecks(ctx, e)...)
	return cs
}

func rulesChecks(e *wiring.Env, add func(area, target, what string, st Status, detail string)) {
	r := e.Config.Rules
	if r.Identities != "" {
		if _, err := e.Identities(); err != nil {
			add("config", r.Identities, "declared identities", Failed, err.Error())
		} else {
			add("config", r.Identities, "declared identities", OK, "")
		}
	}
	if r.Inventory != "" {
		if _, err := e.Declared(); err != nil {
			add("config", r.Inventory, "declared inventory", Failed, err.Error())
		} else {
			add("config", r.Inventory, "declared inventory", OK, "")
		}
	}
	what := "leak rules (embedded gitleaks defaults)"
	if r.Gitleaks != "" {
		what = "leak rules " + r.Gitleaks
	}
	// Scans compile the rules only when they have something to scan; the
	// doctor compiles them now, so that a rule gitleaks refuses is found
	// before the night that needs it.
	if eng, err := e.LeakEngine(); err != nil {
		add("config", "rules", what, Failed, err.Error())
	} else if _, err := eng.Rules.Config(); err != nil {
		add("config", "rules", what, Failed, err.Error())
	} else {
		// The prefilter only saves time: without it (a build without
		// Vectorscan, or a rule it cannot take) gitleaks reads everything.
		detail := "prefilter on"
		if err := eng.FilterStatus(); err != nil {
			detail = "prefilter off, gitleaks reads every fragment: " + err.Error()
		}
		add("config", "rules", what, OK, detail)
	}
	if store.IsPostgres(e.Config.DB) {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		st, detail := OK, ""
		if err := store.CheckPostgres(ctx, e.Config.DB); err != nil {
			st, detail = Unreachable, err.Error()
			if strings.Contains(detail, "create tables") {
				st = Failed
			}
		}
		add("config", secrethash.RedactURL(e.Config.DB), "PostgreSQL database reachable, tables creatable", st, detail)
		return
	}
	// The database's directory must take the database and its key.
	dir := filepath.Dir(e.Config.DB)
	st, detail := dirStatus(dir)
	if st == OK {
		if err := writable(dir); err != nil {
			st, detail = Failed, err.Error()
		}
	}
	add("config", e.Config.DB, "database directory writable", st, detail)
}

func dirStatus(path string) (Status, string) {
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		return Failed, err.Error()
	case !fi.IsDir():
		return Failed, path + " is not a directory"
	}
	f, err := os.Open(path)
	if err != nil {
		return Failed, err.Error()
	}
	defer f.Close()
	if _, err := f.Readdirnames(1); err != nil && !errors.Is(err, io.EOF) {
		return Failed, err.Error()
	}
	return OK, ""
}

func writable(dir string) error {
	f, err := os.CreateTemp(dir, ".vigil-doctor-*")
	if err != nil {
		return err
	}
	f.Close()
	return os.Remove(f.Name())
}

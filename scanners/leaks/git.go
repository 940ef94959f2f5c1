package leaks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/zricethezav/gitleaks/v8/sources"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/gitenv"
	"github.com/vigilsec/vigil/internal/secrethash"
	"github.com/vigilsec/vigil/rules"
	"github.com/vigilsec/vigil/scanners"
)

// GitTarget is a repository to scan: a local path, or a URL that is mirrored
// into CacheDir first.
type GitTarget struct {
	// Name is the source's identity: its scan state and its findings' ids
	// are keyed by it, so it must not change when the repository is renamed.
	Name string
	// Repo is the repository's name as findings show it (default Name).
	Repo string
	Path string
	URL  string
	// Password, when set, gives the credential for URL (which then carries
	// none) at the moment git needs it, as user x-access-token: an App
	// installation token is re-minted before it expires.
	Password func(context.Context) (string, error)
	// Mirror is where a URL target's bare mirror is kept (default: under
	// the scanner's CacheDir, by Name).
	Mirror string
	// CheckRemote asks the remote for its ref tips (one ls-remote) before
	// fetching: when they equal the stored ones under the same rules, the
	// night costs no fetch and no scan.
	CheckRemote bool
	// Shared, when set, lets this repository skip the commits another
	// repository sharing its history already read under the same rules.
	Shared *SharedHistory
	// Since, when set, limits the scan to commits after this revision. Such
	// a scan is a one-off: it proves nothing about older commits and leaves
	// the stored state alone.
	Since string
	// HeadOnly starts from HEAD instead of every ref: a pull request's
	// commits are HEAD's, whatever other branches the checkout holds.
	HeadOnly bool
	// StrictIdentity refuses to continue a stored source of the same name
	// that was scanned from another path or URL (ad hoc scans, whose names
	// are derived from paths, must never merge two repositories).
	StrictIdentity bool
}

// gitState is what a repository's scan remembers: the commit each ref pointed
// at. The next scan reads only commits reachable from the new tips and not
// from these, which is what makes a no-change nightly scan cost a few git
// plumbing calls whatever the size of the history.
type gitState struct {
	Version int               `json:"v"`
	Tips    map[string]string `json:"tips"` // ref name -> commit
	// Rules is the fingerprint of the rule set the tips were scanned with.
	Rules string `json:"rules,omitempty"`
	// Origin is the path or (credential-free) URL scanned: a source name is
	// one repository's.
	Origin string `json:"origin,omitempty"`
}

// gitRun runs git in dir and returns stdout; the error carries git's stderr.
func gitRun(ctx context.Context, dir string, stdin io.Reader, args ...string) ([]byte, error) {
	cmd := gitCommand(ctx, append([]string{"-C", dir}, args...)...)
	cmd.Stdin = stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(errb.String())
		if msg == "" {
			msg = err.Error()
		}
		return out.Bytes(), fmt.Errorf("git %s: %s", args[0], msg)
	}
	return out.Bytes(), nil
}

// gitCommand is git with args, stopped with everything it started when ctx
// ends. git fetches through helper processes (git-remote-http) that keep
// its output pipes open: killing git alone would leave the run waiting on
// a hung remote after SIGTERM, so git gets a process group of its own, the
// whole group is killed, and Wait gives up on the pipes a second later.
func gitCommand(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Env = gitEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	return cmd
}

// gitEnv keeps git from prompting for credentials (a nightly job has no one
// to answer) and from reading a pager, and reads the repository git is
// given as it is stored (gitenv.Env).
func gitEnv() []string {
	return gitenv.Env("GIT_TERMINAL_PROMPT=0", "GIT_PAGER=cat", "GIT_ASKPASS=true")
}

// remoteAuth is how a URL target's credentials reach git without being on
// a command line, in the mirror's config, or in an error message: the URL
// git is given carries none, and a credential helper given on the command
// line by name only reads them from this process's environment for git.
type remoteAuth struct {
	url  string   // the URL without user-info
	args []string // -c credential.helper=...
	env  []string // VIGIL_GIT_USERNAME / VIGIL_GIT_PASSWORD
}

// credentialHelper answers git's "get" with the variables' values. The
// values themselves never appear in an argument list.
const credentialHelper = `!f() { test "$1" = get && printf 'username=%s\npassword=%s\n' "$VIGIL_GIT_USERNAME" "$VIGIL_GIT_PASSWORD"; }; f`

func authFor(rawURL string) remoteAuth {
	u, err := url.Parse(rawURL)
	if err != nil || u.User == nil || (u.Scheme != "http" && u.Scheme != "https") {
		return remoteAuth{url: rawURL}
	}
	user := u.User.Username()
	pass, ok := u.User.Password()
	if !ok {
		// https://TOKEN@host/...: the token is the secret.
		user, pass = "x-access-token", user
	}
	u.User = nil
	return withCredential(u.String(), user, pass)
}

// withCredential is the remoteAuth for a credential-free URL and a
// credential given apart from it.
func withCredential(cleanURL, user, pass string) remoteAuth {
	return remoteAuth{
		url:  cleanURL,
		args: []string{"-c", "credential.helper=", "-c", "credential.helper=" + credentialHelper},
		env:  []string{"VIGIL_GIT_USERNAME=" + user, "VIGIL_GIT_PASSWORD=" + pass},
	}
}

// targetAuth is the remoteAuth for a target: the credential its Password
// gives now, or the one in its URL.
func targetAuth(ctx context.Context, t GitTarget) (remoteAuth, error) {
	if t.Password == nil {
		return authFor(t.URL), nil
	}
	pass, err := t.Password(ctx)
	if err != nil {
		return remoteAuth{}, fmt.Errorf("credential for %s: %w", secrethash.RedactURL(t.URL), err)
	}
	return withCredential(secrethash.RedactURL(t.URL), "x-access-token", pass), nil
}

// mirrorDir is where a URL target's mirror lives.
func (s *Scanner) mirrorDir(t GitTarget) string {
	if t.Mirror != "" {
		return t.Mirror
	}
	return MirrorPath(s.CacheDir, t.Name)
}

// MirrorPath is where the leaks scanner keeps the mirror of the
// sources.git repository name, given by URL, under cacheDir (the SOPS
// store reads files from it, after the leaks scanner updated it).
func MirrorPath(cacheDir, name string) string {
	return filepath.Join(cacheDir, "git", name+".git")
}

// git runs git with the credentials (if any) available to it, and returns
// its combined output.
func (a remoteAuth) git(ctx context.Context, args ...string) ([]byte, error) {
	cmd := gitCommand(ctx, append(append([]string{}, a.args...), args...)...)
	cmd.Env = append(cmd.Env, a.env...)
	return cmd.CombinedOutput()
}

// openRepo checks that path is a git repository, and for URL targets clones
// or updates the local mirror. It returns the directory to run git in, and
// whether the repository is a shallow clone.
func (s *Scanner) openRepo(ctx context.Context, t GitTarget) (dir string, shallow bool, err error) {
	dir = t.Path
	if t.URL != "" {
		shown := secrethash.RedactURL(t.URL)
		auth, err := targetAuth(ctx, t)
		if err != nil {
			return "", false, err
		}
		dir = s.mirrorDir(t)
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
				return "", false, err
			}
			if out, err := auth.git(ctx, "clone", "--mirror", "--quiet", "--", auth.url, dir); err != nil {
				_ = os.RemoveAll(dir)
				return "", false, fmt.Errorf("clone %s: %s", shown, scrub(string(out), t.URL, auth))
			}
		} else {
			// A mirror made by an older vigil may keep the URL with its
			// credentials in its config: it is replaced by the clean one.
			if _, err := gitRun(ctx, dir, nil, "remote", "set-url", "origin", auth.url); err != nil {
				return "", false, fmt.Errorf("update mirror of %s: %s", shown, scrub(err.Error(), t.URL, auth))
			}
			if out, err := auth.git(ctx, "-C", dir, "remote", "update", "--prune"); err != nil {
				return "", false, fmt.Errorf("update mirror of %s: %s", shown, scrub(string(out), t.URL, auth))
			}
		}
	}
	shallow, err = checkRepoDir(ctx, dir)
	return dir, shallow, err
}

// Reachable checks a git target without scanning or fetching it: a local
// repository is one (and not a folder inside another), a URL answers
// ls-remote with the credentials it carries (which never reach an argument
// list or the error). For `vigil doctor`.
func Reachable(ctx context.Context, t GitTarget) error {
	if t.URL == "" {
		_, err := checkRepoDir(ctx, t.Path)
		return err
	}
	_, err := lsRemote(ctx, t, "--heads")
	return err
}

// lsRemote runs git ls-remote on a URL target with its credential (never
// on a command line, nor in the error).
func lsRemote(ctx context.Context, t GitTarget, args ...string) ([]byte, error) {
	auth, err := targetAuth(ctx, t)
	if err != nil {
		return nil, err
	}
	out, err := auth.git(ctx, append(append([]string{"ls-remote"}, args...), "--", auth.url)...)
	if err != nil {
		return nil, fmt.Errorf("ls-remote %s: %s", secrethash.RedactURL(t.URL), scrub(string(out), t.URL, auth))
	}
	return out, nil
}

// remoteTips asks the remote for its refs (one ls-remote, nothing fetched)
// and returns them as refTips would read them from a fresh mirror: each
// annotated tag by the commit it points at, HEAD by its commit.
func remoteTips(ctx context.Context, t GitTarget) (map[string]string, error) {
	out, err := lsRemote(ctx, t)
	if err != nil {
		return nil, err
	}
	tips := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		sha, ref, ok := strings.Cut(line, "\t")
		if !ok {
			continue
		}
		if base, peeled := strings.CutSuffix(ref, "^{}"); peeled {
			tips[base] = sha
			continue
		}
		if _, seen := tips[ref]; !seen {
			tips[ref] = sha
		}
	}
	return tips, nil
}

// checkRepoDir checks that dir is a git repository's own directory, and
// says whether it is a shallow clone. One git process answers both: a
// nightly scan of a repository that did not change runs only a few.
func checkRepoDir(ctx context.Context, dir string) (shallow bool, err error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return false, fmt.Errorf("repository %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return false, fmt.Errorf("repository %s: not a directory", dir)
	}
	// rev-parse from inside dir would walk up to an enclosing repository:
	// dir must be the top of a work tree (--show-cdup empty) or a bare
	// repository's own directory, so that a plain folder inside some other
	// repo (or a repository's .git) is reported, not scanned as that repo.
	// --show-cdup prints its line only inside a work tree, so it is last.
	out, err := gitRun(ctx, dir, nil, "rev-parse", "--is-shallow-repository", "--is-bare-repository",
		"--is-inside-work-tree", "--absolute-git-dir", "--show-cdup")
	if err != nil {
		return false, fmt.Errorf("%s is not a git repository: %w", dir, err)
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) < 4 {
		return false, fmt.Errorf("%s: unexpected answer from git rev-parse", dir)
	}
	shallow, bare, inWorkTree, gitDir := lines[0] == "true", lines[1] == "true", lines[2] == "true", lines[3]
	switch {
	case inWorkTree:
		if cdup := lines[len(lines)-1]; len(lines) != 5 || cdup != "" {
			return false, fmt.Errorf("%s is not a git repository (it is inside %s)", dir, filepath.Join(dir, cdup))
		}
	case bare:
		top, _ := filepath.EvalSymlinks(gitDir)
		want, _ := filepath.EvalSymlinks(dir)
		if top != want {
			return false, fmt.Errorf("%s is not a git repository (it is inside %s)", dir, gitDir)
		}
	default:
		return false, fmt.Errorf("%s is not a git repository (it is the git directory of the work tree above it)", dir)
	}
	return shallow, nil
}

// scrub makes git's output safe to keep: the URL as given (should git ever
// echo it) and the credential values are masked.
func scrub(out, rawURL string, auth remoteAuth) string {
	out = strings.TrimSpace(out)
	if rawURL != "" {
		out = strings.ReplaceAll(out, rawURL, secrethash.RedactURL(rawURL))
	}
	for _, kv := range auth.env {
		if _, v, _ := strings.Cut(kv, "="); len(v) >= 4 {
			out = strings.ReplaceAll(out, v, "****")
		}
	}
	return out
}

// refTips returns every ref (and HEAD) that points at a commit, peeled, which
// is the set `git log --all` starts from. HEAD is asked of git meanwhile:
// listing a few thousand refs is the longer of the two.
func refTips(ctx context.Context, dir string) (map[string]string, error) {
	head := make(chan string, 1)
	go func() {
		out, err := gitRun(ctx, dir, nil, "rev-parse", "--verify", "-q", "HEAD^{commit}")
		if err != nil {
			out = nil // no HEAD commit: an empty repository, or a HEAD that names none
		}
		head <- strings.TrimSpace(string(out))
	}()
	out, err := gitRun(ctx, dir, nil, "for-each-ref",
		"--format=%(refname)%00%(objecttype)%00%(objectname)%00%(*objecttype)%00%(*objectname)")
	h := <-head
	if err != nil {
		return nil, err
	}
	tips := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		p := strings.Split(line, "\x00")
		if len(p) != 5 {
			continue
		}
		switch {
		case p[1] == "commit":
			tips[p[0]] = p[2]
		case p[3] == "commit":
			tips[p[0]] = p[4]
		}
	}
	if h != "" {
		tips["HEAD"] = h
	}
	return tips, nil
}

// rewritten reports whether any commit reachable from the old tips is no
// longer reachable from the new ones: a force-push, a rebase, or a deleted
// unmerged branch. Findings in those commits may be gone, so the caller
// rescans everything and lets the lifecycle resolve them.
func rewritten(ctx context.Context, dir string, old, cur map[string]string) (bool, string, error) {
	oldSet := uniq(old)
	var check bytes.Buffer
	for _, sha := range oldSet {
		check.WriteString(sha + "\n")
	}
	out, err := gitRun(ctx, dir, &check, "cat-file", "--batch-check")
	if err != nil {
		return false, "", err
	}
	if bytes.Contains(out, []byte(" missing")) {
		return true, "a previously scanned commit no longer exists", nil
	}
	var in bytes.Buffer
	for _, sha := range oldSet {
		in.WriteString(sha + "\n")
	}
	for _, sha := range uniq(cur) {
		in.WriteString("^" + sha + "\n")
	}
	out, err = gitRun(ctx, dir, &in, "rev-list", "-n", "1", "--stdin")
	if err != nil {
		return false, "", err
	}
	if len(bytes.TrimSpace(out)) > 0 {
		for ref, sha := range old {
			if cur[ref] != sha {
				return true, fmt.Sprintf("%s no longer contains commit %s", ref, short(sha)), nil
			}
		}
		return true, "previously scanned commits are no longer reachable", nil
	}
	return false, "", nil
}

func uniq(m map[string]string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range m {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	sort.Strings(out)
	return out
}

func sameTips(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// ScanGit scans one repository: all history the first time, afterwards only
// commits that are new since the stored tips, under the same rule set. It
// is safe to call for several targets at once (the organisation scanner
// does).
func (s *Scanner) ScanGit(ctx context.Context, st scanners.StateReader, t GitTarget) scanners.Result {
	res := scanners.Result{Source: scanners.Source{Scanner: "git", Name: t.Name}, Mode: scanners.Full}
	fail := func(err error) scanners.Result {
		res.Err, res.Mode, res.State = fmt.Errorf("git %s: %w", t.Name, err), scanners.Partial, ""
		return res
	}
	var prev gitState
	if raw, err := st.ScanState(ctx, res.Source.String()); err != nil {
		return fail(fmt.Errorf("read scan state: %w", err))
	} else if raw != "" {
		if err := json.Unmarshal([]byte(raw), &prev); err != nil {
			s.Log.Warn("unreadable scan state; rescanning all history", "source", res.Source, "err", err)
			prev = gitState{}
		}
	}
	origin := t.Path
	if t.URL != "" {
		origin = secrethash.RedactURL(t.URL)
	}
	if prev.Origin != "" && prev.Origin != origin {
		if t.StrictIdentity {
			return fail(fmt.Errorf("this database already has a source %s, scanned from %s, not %s: give this one another --name", res.Source, prev.Origin, origin))
		}
		s.Log.Info("the repository's path or URL changed since the last scan", "source", res.Source, "was", prev.Origin, "now", origin)
	}
	// A local repository's rules are read before git is asked anything (a
	// mirror's once it is fetched: its own .gitleaks.toml may name them).
	// A repository never scanned is read whole: its rules (and their
	// prefilter) compile on another core while git is asked about it and
	// lists its commits; for a mirror only if the rules were given.
	var (
		src         *rules.LeakRuleSet
		extraIgnore []string
		rulesErr    error
	)
	if t.URL == "" {
		src, extraIgnore, rulesErr = s.repoRules(t.Path)
	}
	if len(prev.Tips) == 0 {
		switch {
		case t.URL == "" && rulesErr == nil:
			s.Engine.prepare(src)
		case t.URL != "" && s.ExplicitRules:
			s.Engine.prepare(s.Engine.Rules)
		}
	}
	if t.CheckRemote && t.URL != "" && t.Since == "" && !t.HeadOnly && len(prev.Tips) > 0 && prev.Origin == origin {
		if unchanged, err := s.unchangedRemote(ctx, t, prev); err != nil {
			return fail(err)
		} else if unchanged {
			res.Mode = scanners.Incremental
			return res // one ls-remote: no fetch, no scan
		}
	}
	dir, shallow, err := s.openRepo(ctx, t)
	if t.URL != "" {
		res.Stats.Fetches = 1
	}
	if err != nil {
		return fail(err)
	}
	tips, err := refTips(ctx, dir)
	if err != nil {
		return fail(err)
	}
	if t.HeadOnly {
		if tips["HEAD"] == "" {
			return fail(fmt.Errorf("HEAD is not a commit"))
		}
		tips = map[string]string{"HEAD": tips["HEAD"]}
	}
	if t.URL != "" {
		src, extraIgnore, rulesErr = s.repoRules(dir)
	}
	if rulesErr != nil {
		return fail(rulesErr)
	}
	rs, err := s.Engine.ruleSet(src, extraIgnore)
	if err != nil {
		return fail(err)
	}
	stateJSON, _ := json.Marshal(gitState{Version: 2, Tips: tips, Rules: rs.fingerprint, Origin: origin})
	res.State = string(stateJSON)

	var exclude []string
	switch {
	case t.Since != "":
		out, err := gitRun(ctx, dir, nil, "rev-parse", "--verify", "-q", t.Since+"^{commit}")
		if err != nil {
			return fail(fmt.Errorf("--since %s: not a commit in this repository", t.Since))
		}
		exclude = []string{strings.TrimSpace(string(out))}
		res.Mode, res.State = scanners.Partial, ""
	case shallow:
		// A shallow clone (openRepo) lacks the history before its graft:
		// whatever is scanned, the source is not complete, and nothing is
		// remembered as scanned, so that the whole history is read once
		// it is unshallowed.
	case len(prev.Tips) > 0:
		if why := ruleChange(prev.Rules, rs); why != "" {
			res.Note = why
			break
		}
		// The same tips reach the same commits (replace refs and grafts
		// are off): nothing was rewritten, and nothing is new. The
		// nightly common case, asked of no other git process.
		if sameTips(prev.Tips, tips) {
			res.Mode = scanners.Incremental
			return res
		}
		re, why, err := rewritten(ctx, dir, prev.Tips, tips)
		if err != nil {
			return fail(err)
		}
		if re {
			s.Log.Info("history was rewritten; rescanning all of it", "source", res.Source, "reason", why)
			break
		}
		res.Mode = scanners.Incremental
		exclude = uniq(prev.Tips)
	}

	s.Log.Debug("git refs checked", "source", res.Source, "mode", res.Mode)
	// There is history to read: the rules (and their prefilter) compile
	// on one core while git lists the commits on the other (if they were
	// not compiling already).
	s.Engine.prepare(rs.src)
	useShared := t.Shared != nil && t.Since == "" && !t.HeadOnly && !shallow
	var shared, roots []string
	continued := false // the scan goes on from tips the cache recorded
	if useShared {
		var err error
		// A history's roots rarely change: an incremental scan of recorded
		// tips takes them from the cache rather than walk the history.
		if roots, continued = t.Shared.recorded(rs.fingerprint, t.Name, uniq(prev.Tips)); !continued || res.Mode == scanners.Full {
			if roots, err = rootCommits(ctx, dir, uniq(tips)); err != nil {
				return fail(err)
			}
		}
		exclude, shared, err = sharedCommits(ctx, dir, uniq(tips), exclude, t.Shared.others(rs.fingerprint, t.Name, roots))
		if err != nil {
			return fail(err)
		}
	}
	start := time.Now()
	read, err := listCommits(ctx, dir, uniq(tips), exclude)
	if err != nil {
		return fail(err)
	}
	d, err := s.Engine.detector(ctx, rs)
	if err != nil {
		return fail(err)
	}
	res.Rules = rs.ids()
	// Behind the prefilter the cache no longer pays: most hunks cost one
	// Vectorscan pass, about what hashing them for the cache does, and it
	// held 4-5 MiB on gitleaks' history (A/B wall 1.00 without
	// it, peak 100 against 105 MiB).
	var cache *hunkCache
	if d.filter == nil && cacheable(d.Config) {
		cache = newHunkCache(d.Config)
	}
	stats, err := s.Engine.fanoutGitLog(ctx, d, cache, dir, read, s.Progress)
	stats.Fetches = res.Stats.Fetches
	res.Stats = stats
	s.Log.Debug("git history read", "source", res.Source, "commits", stats.Commits, "bytes", stats.Bytes,
		"findings", len(d.Findings()), "took", time.Since(start))
	found := s.Engine.hashAll(d.Findings())
	reused := []hashed(nil)
	if len(shared) > 0 {
		reused = t.Shared.findings(rs.fingerprint, shared)
		// Not a note: notes are for what a person should know about a
		// source, and an organisation has thousands of forks.
		s.Log.Debug("commits shared with other repositories were read there", "source", res.Source,
			"commits", len(shared), "findings", len(reused))
	}
	res.Findings = s.Engine.convertAll(target{kind: finding.KindLeakGit, source: res.Source.String(), name: t.Name, display: t.Repo}, append(found, reused...))
	if err != nil {
		return fail(err)
	}
	// Recorded only when every commit behind the tips is known to the
	// cache: a full read, or one that continued recorded tips.
	if useShared && (res.Mode == scanners.Full || continued) {
		if err := t.Shared.record(rs.fingerprint, t.Name, uniq(tips), roots, read, res.Mode == scanners.Full, found); err != nil {
			s.Log.Warn("shared-history cache not written; other repositories will read these commits again", "source", res.Source, "err", err)
		}
	}
	if shallow {
		return fail(fmt.Errorf("shallow clone: only the %d commit(s) it holds were scanned, not the history before them; "+
			"run `git fetch --unshallow` (or clone without --depth) for a complete scan", stats.Commits))
	}
	return res
}

// unchangedRemote reports whether a URL target's remote still has the tips
// the stored state was scanned at, under the rules its mirror gives now.
// Without a mirror there is nothing to compare the rules with: the caller
// fetches.
func (s *Scanner) unchangedRemote(ctx context.Context, t GitTarget, prev gitState) (bool, error) {
	dir := s.mirrorDir(t)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return false, nil
	}
	src, extraIgnore, err := s.repoRules(dir)
	if err != nil {
		return false, err
	}
	rs, err := s.Engine.ruleSet(src, extraIgnore)
	if err != nil {
		return false, err
	}
	if ruleChange(prev.Rules, rs) != "" {
		return false, nil
	}
	remote, err := remoteTips(ctx, t)
	if err != nil {
		return false, err
	}
	return sameTips(prev.Tips, remote), nil
}

// repoRules returns the rules for a repository: the configured ones, or, as
// the gitleaks CLI does, the repository's own .gitleaks.toml when vigil was
// given none; plus the repository's own .gitleaksignore.
func (s *Scanner) repoRules(dir string) (*rules.LeakRuleSet, []string, error) {
	src := s.Engine.Rules
	if !s.ExplicitRules {
		if p := filepath.Join(dir, ".gitleaks.toml"); fileExists(p) {
			c, err := rules.LoadLeakRules(p)
			if err != nil {
				return src, nil, err
			}
			src = c
		}
	}
	var ignore []string
	if p := filepath.Join(dir, ".gitleaksignore"); fileExists(p) {
		if _, err := rules.IgnoreFile(p); err != nil {
			return src, nil, err
		}
		ignore = append(ignore, p)
	}
	return src, ignore, nil
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// shardMinCommits: below this many commits one git process is as fast.
const shardMinCommits = 256

// listCommits lists the commits reachable from tips and not from exclude.
func listCommits(ctx context.Context, dir string, tips, exclude []string) ([]string, error) {
	if len(tips) == 0 {
		return nil, nil // an empty repository
	}
	// Revisions go through stdin: a repository with thousands of tags would
	// overflow a command line.
	var revs bytes.Buffer
	for _, t := range tips {
		revs.WriteString(t + "\n")
	}
	for _, x := range exclude {
		revs.WriteString("^" + x + "\n")
	}
	out, err := gitRun(ctx, dir, &revs, "rev-list", "--stdin")
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(out)), nil
}

// fanoutGitLog runs detection on every hunk added by commits (listCommits).
// The hunks are exactly those of the gitleaks CLI's `git log -p -U0
// --full-history --all --diff-filter=tuxdb`; what differs is that the commit
// list is split between several `git log --no-walk` processes. A single git
// process computing diffs is the pipeline's bottleneck on a large history;
// each commit's diff is the same whichever process computes it.
func (e *Engine) fanoutGitLog(ctx context.Context, d *detector, cache *hunkCache, dir string, commits []string, progress scanners.Progress) (scanners.Stats, error) {
	var stats scanners.Stats
	if len(commits) == 0 {
		return stats, nil
	}
	// Contiguous runs of the commit list, a few per worker, each read by
	// its own `git log`, n at a time: a git process reading neighbouring
	// commits resolves each packed object's delta chain once, where one
	// reading every n-th commit resolved them all (on golang/tools, 8 runs
	// 2 at a time: 5.8 s of git CPU against 6.0 s for 2 interleaved
	// halves, and 118 against 206 MiB for git's largest process in a
	// scan). A worker left without a run takes half of what is left of
	// the longest one (runQueue). A short list (a night's new commits) is
	// one run: more git processes would only cost their start.
	n, k := e.workers(), e.workers()*gitRunsPerWorker
	if len(commits) < shardMinCommits {
		n, k = 1, 1
	}
	q := newRunQueue(chunk(commits, k))
	var (
		mu   sync.Mutex
		errs []error
	)
	err := e.fanoutCached(ctx, d, cache, func(yield func(sources.Fragment)) error {
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for r := q.next(); r != nil; r = q.next() {
					st, rest, err := streamGitLog(ctx, dir, r, progress, yield)
					q.done(r, rest)
					mu.Lock()
					stats.Commits += st.Commits
					stats.Files += st.Files
					stats.Bytes += st.Bytes
					if err != nil {
						errs = append(errs, err)
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		return errors.Join(errs...)
	})
	return stats, err
}

// gitRunsPerWorker is how many runs of the commit list fanoutGitLog gives
// each of its workers.
const gitRunsPerWorker = 4

// chunk cuts list into at most k contiguous runs of near equal length.
func chunk(list []string, k int) [][]string {
	k = max(1, min(k, len(list)))
	out := make([][]string, 0, k)
	for i := 0; i < k; i++ {
		out = append(out, list[i*len(list)/k:(i+1)*len(list)/k])
	}
	return out
}

// streamGitLog runs one `git log -p` over the commits of r and yields the
// added side of every hunk (readGitLog). When r is asked to stop, git is
// stopped at the start of a commit, and the commits from that one on are
// returned, unread.
func streamGitLog(ctx context.Context, dir string, r *logRun, progress scanners.Progress, yield func(sources.Fragment)) (scanners.Stats, []string, error) {
	cmd := gitCommand(ctx, append([]string{"-C", dir}, gitLogArgs...)...)
	cmd.Env = withMallocTrim(cmd.Env)
	cmd.Stdin = strings.NewReader(strings.Join(r.commits, "\n") + "\n")
	var errb bytes.Buffer
	cmd.Stderr = &errb
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return scanners.Stats{}, nil, err
	}
	if err := cmd.Start(); err != nil {
		return scanners.Stats{}, nil, fmt.Errorf("start git log: %w", err)
	}
	stats, perr := readGitLog(stdout, r.reached, func() { progress.Add(1, 0, 0) }, func(f sources.Fragment) {
		progress.Add(0, 0, int64(len(f.Raw)))
		yield(f)
	})
	if perr != nil {
		// git may be blocked writing what was not read
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		if perr == errStopped {
			return stats, r.rest(), nil
		}
		return stats, nil, perr
	}
	if err := cmd.Wait(); err != nil {
		msg := strings.TrimSpace(errb.String())
		if msg == "" {
			msg = err.Error()
		}
		return stats, nil, fmt.Errorf("git log: %s", msg)
	}
	return stats, nil, nil
}

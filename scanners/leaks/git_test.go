package leaks

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/secrethash"
	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/scanners"
)

func awsLine(k string) string { return fmt.Sprintf("aws_access_key_id = %q\n", k) }

func TestGitHistoryFindsOldDeletedAndSideBranchSecrets(t *testing.T) {
	r := testenv.NewRepo(t)
	old, deleted, side := testenv.FakeAWSKey(), testenv.FakeGitHubToken(), testenv.FakeAWSKey()
	r.Commit("add config", map[string]string{"config/app.ini": awsLine(old)})
	r.Commit("clean config", map[string]string{"config/app.ini": "aws_access_key_id = from-env\n"})
	r.Commit("add deploy script", map[string]string{"deploy.sh": "export GH_TOKEN=" + deleted + "\n"})
	r.Git("rm", "-q", "deploy.sh")
	r.Commit("remove deploy script", nil)
	r.Git("checkout", "-q", "-b", "experiment")
	sideCommit := r.Commit("try something", map[string]string{"exp/settings.py": awsLine(side)})
	r.Git("checkout", "-q", "main")

	s := newScanner(t)
	s.Git = []GitTarget{{Name: "payments", Path: r.Dir}}
	res := scan(t, s, &memState{})
	if len(res) != 1 || res[0].Err != nil {
		t.Fatalf("results: %+v", res)
	}
	if res[0].Mode != scanners.Full {
		t.Errorf("first scan mode %v, want full", res[0].Mode)
	}
	h := s.Engine.Hasher
	if got := hashes(res[0].Findings); !equal(got, want(h, old, deleted, side)) {
		t.Fatalf("found %d secrets, want the old, the deleted and the side-branch one", len(got))
	}
	for _, f := range res[0].Findings {
		if f.Evidence["secret_hash"] == h.Hash(side) {
			if f.Evidence["commit"] != sideCommit || f.Evidence["file"] != "exp/settings.py" || f.Evidence["line"] != 1 {
				t.Errorf("side finding evidence %+v", f.Evidence)
			}
			if !strings.HasPrefix(f.Resource, "repo:payments@"+sideCommit[:12]+":exp/settings.py:1") {
				t.Errorf("resource %q", f.Resource)
			}
		}
	}
	// Five commits, but "remove deploy script" only deletes, and deletions
	// are filtered out of the log as gitleaks does: four commits carry hunks.
	if res[0].Stats.Commits != 4 {
		t.Errorf("scanned %d commits with additions, want 4", res[0].Stats.Commits)
	}
}

func TestGitIncrementalScansOnlyNewCommits(t *testing.T) {
	r := testenv.NewRepo(t)
	first := testenv.FakeAWSKey()
	for i := 0; i < 20; i++ {
		r.Commit(fmt.Sprintf("c%d", i), map[string]string{fmt.Sprintf("f%d.txt", i): "nothing here\n"})
	}
	r.Commit("leak", map[string]string{"a.env": awsLine(first)})
	s := newScanner(t)
	s.Git = []GitTarget{{Name: "r", Path: r.Dir}}
	st := &memState{}
	res := scan(t, s, st)
	if got := len(res[0].Findings); got != 1 || res[0].Stats.Commits != 21 {
		t.Fatalf("first scan: %d findings, %d commits", got, res[0].Stats.Commits)
	}

	// Nothing changed: no commit is read.
	res = scan(t, s, st)
	if res[0].Mode != scanners.Incremental || res[0].Stats.Commits != 0 || len(res[0].Findings) != 0 {
		t.Fatalf("no-change rescan: mode %v, %d commits, %d findings", res[0].Mode, res[0].Stats.Commits, len(res[0].Findings))
	}

	second := testenv.FakeGitHubToken()
	r.Commit("another leak", map[string]string{"b.sh": "TOKEN=" + second + "\n"})
	res = scan(t, s, st)
	if res[0].Mode != scanners.Incremental || res[0].Stats.Commits != 1 {
		t.Fatalf("incremental: mode %v, %d commits", res[0].Mode, res[0].Stats.Commits)
	}
	if got := hashes(res[0].Findings); !equal(got, want(s.Engine.Hasher, second)) {
		t.Fatalf("incremental scan found %d secrets, want only the new commit's", len(got))
	}

	// A new branch from an old commit is new history too.
	third := testenv.FakeAWSKey()
	r.Git("checkout", "-q", "-b", "hotfix", "HEAD~5")
	r.Commit("hotfix", map[string]string{"h.txt": awsLine(third)})
	res = scan(t, s, st)
	if res[0].Stats.Commits != 1 || !equal(hashes(res[0].Findings), want(s.Engine.Hasher, third)) {
		t.Fatalf("new branch: %d commits, %d findings", res[0].Stats.Commits, len(res[0].Findings))
	}
}

func TestGitRewrittenHistoryIsRescanned(t *testing.T) {
	r := testenv.NewRepo(t)
	kept, dropped := testenv.FakeAWSKey(), testenv.FakeAWSKey()
	r.Commit("base", map[string]string{"a.txt": awsLine(kept)})
	r.Commit("oops", map[string]string{"b.txt": awsLine(dropped)})
	s := newScanner(t)
	s.Git = []GitTarget{{Name: "r", Path: r.Dir}}
	st := &memState{}
	if res := scan(t, s, st); len(res[0].Findings) != 2 {
		t.Fatalf("first scan found %d", len(res[0].Findings))
	}
	// Force-push style rewrite: drop the leaking commit, add a clean one.
	r.Git("reset", "-q", "--hard", "HEAD~1")
	r.Commit("clean", map[string]string{"c.txt": "ok\n"})
	r.Git("reflog", "expire", "--expire=now", "--all")
	r.Git("gc", "-q", "--prune=now")
	res := scan(t, s, st)
	if res[0].Mode != scanners.Full {
		t.Fatalf("after rewrite mode %v, want a full rescan", res[0].Mode)
	}
	if got := hashes(res[0].Findings); !equal(got, want(s.Engine.Hasher, kept)) {
		t.Fatalf("rescan found %d secrets, want only the one still in history", len(got))
	}
	// Rewrite where the old commit object still exists (no gc) is caught too.
	r.Git("commit", "-q", "--amend", "-m", "clean, amended")
	if res := scan(t, s, st); res[0].Mode != scanners.Full {
		t.Fatalf("amend: mode %v, want full", res[0].Mode)
	}
}

func TestGitBadRepositoryIsAnErrorNotAPanic(t *testing.T) {
	notRepo := t.TempDir()
	s := newScanner(t)
	s.Git = []GitTarget{{Name: "missing", Path: notRepo + "/nope"}, {Name: "plain", Path: notRepo}}
	res := scan(t, s, &memState{})
	if len(res) != 2 {
		t.Fatalf("%d results", len(res))
	}
	for _, r := range res {
		if r.Err == nil || r.Mode != scanners.Partial {
			t.Errorf("%s: err %v mode %v", r.Source, r.Err, r.Mode)
		}
	}
	if !strings.Contains(res[1].Err.Error(), "not a git repository") {
		t.Errorf("plain dir error: %v", res[1].Err)
	}
}

// A target must be a repository's own directory: the top of a work tree or
// a bare repository. A folder inside either, or a work tree's .git, is
// refused by name, not scanned as the repository around it.
func TestGitTargetIsARepositorysOwnDirectory(t *testing.T) {
	r := testenv.NewRepo(t)
	r.Commit("one", map[string]string{"sub/a.txt": "hello"})
	bare := filepath.Join(t.TempDir(), "bare.git")
	git(t, "", "clone", "-q", "--bare", r.Dir, bare)
	s := newScanner(t)
	for _, tc := range []struct{ dir, want string }{
		{r.Dir, ""},
		{bare, ""},
		{filepath.Join(r.Dir, "sub"), "is not a git repository (it is inside " + r.Dir + ")"},
		{filepath.Join(bare, "refs"), "is not a git repository (it is inside " + bare + ")"},
		{filepath.Join(r.Dir, ".git"), "is not a git repository (it is the git directory of the work tree above it)"},
	} {
		s.Git = []GitTarget{{Name: "t", Path: tc.dir}}
		res := scan(t, s, &memState{})
		switch {
		case tc.want == "" && res[0].Err != nil:
			t.Errorf("%s: %v", tc.dir, res[0].Err)
		case tc.want != "" && (res[0].Err == nil || !strings.Contains(res[0].Err.Error(), tc.want)):
			t.Errorf("%s: err %v, want %q", tc.dir, res[0].Err, tc.want)
		}
		if err := Reachable(context.Background(), GitTarget{Path: tc.dir}); (err == nil) != (tc.want == "") {
			t.Errorf("Reachable(%s): %v", tc.dir, err)
		}
	}
}

func TestGitSinceScansOnlyLaterCommits(t *testing.T) {
	r := testenv.NewRepo(t)
	r.Commit("old", map[string]string{"a.txt": awsLine(testenv.FakeAWSKey())})
	base := r.Git("rev-parse", "HEAD")
	late := testenv.FakeAWSKey()
	r.Commit("new", map[string]string{"b.txt": awsLine(late)})
	s := newScanner(t)
	s.Git = []GitTarget{{Name: "r", Path: r.Dir, Since: base}}
	res := scan(t, s, &memState{})
	if res[0].Mode != scanners.Partial || res[0].State != "" || !equal(hashes(res[0].Findings), want(s.Engine.Hasher, late)) {
		t.Fatalf("since: mode %v state %q findings %d", res[0].Mode, res[0].State, len(res[0].Findings))
	}
}

func TestGitRepositoryGitleaksIgnoreAndConfig(t *testing.T) {
	r := testenv.NewRepo(t)
	k := testenv.FakeAWSKey()
	c := r.Commit("leak", map[string]string{"a.txt": awsLine(k)})
	r.Commit("ignore it", map[string]string{".gitleaksignore": c + ":a.txt:aws-access-token:1\n"})
	s := newScanner(t)
	s.Git = []GitTarget{{Name: "r", Path: r.Dir}}
	if res := scan(t, s, &memState{}); len(res[0].Findings) != 0 {
		t.Fatalf("ignored finding reported: %d", len(res[0].Findings))
	}
}

func TestGitBareMirrorAndURL(t *testing.T) {
	r := testenv.NewRepo(t)
	k := testenv.FakeAWSKey()
	r.Commit("leak", map[string]string{"a.txt": awsLine(k)})
	bare := t.TempDir() + "/mirror.git"
	r.Git("clone", "-q", "--mirror", r.Dir, bare)
	s := newScanner(t)
	// A bare mirror by path, and the same repository by URL (cloned into
	// the cache on first use, updated on the next).
	s.Git = []GitTarget{{Name: "bare", Path: bare}, {Name: "remote", URL: "file://" + r.Dir}}
	st := &memState{}
	for _, res := range scan(t, s, st) {
		if res.Err != nil || !equal(hashes(res.Findings), want(s.Engine.Hasher, k)) {
			t.Fatalf("%s: err %v, %d findings", res.Source, res.Err, len(res.Findings))
		}
	}
	k2 := testenv.FakeAWSKey()
	r.Commit("more", map[string]string{"b.txt": awsLine(k2)})
	res := scan(t, s, st)
	if res[1].Err != nil || res[1].Stats.Commits != 1 || !equal(hashes(res[1].Findings), want(s.Engine.Hasher, k2)) {
		t.Fatalf("URL target after a push: err %v, %d commits", res[1].Err, res[1].Stats.Commits)
	}
}

func TestFindingIDsDoNotDependOnTheHashKey(t *testing.T) {
	r := testenv.NewRepo(t)
	a, b := testenv.FakeAWSKey(), testenv.FakeAWSKey()
	r.Commit("two on one line", map[string]string{"a.txt": "keys: " + a + " " + b + "\n"})
	ids := func(key string) []string {
		s := newScanner(t)
		s.Engine.Hasher, _ = secrethash.New([]byte(strings.Repeat(key, 32)))
		s.Git = []GitTarget{{Name: "r", Path: r.Dir}}
		var out []string
		for _, f := range scan(t, s, &memState{})[0].Findings {
			out = append(out, f.ID)
		}
		sort.Strings(out)
		return out
	}
	x, y := ids("a"), ids("b")
	if len(x) != 2 || x[0] == x[1] {
		t.Fatalf("two secrets on one line need two ids: %v", x)
	}
	if !equal(x, y) {
		t.Fatalf("ids changed with the hash key: %v vs %v", x, y)
	}
}

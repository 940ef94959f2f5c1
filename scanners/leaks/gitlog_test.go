package leaks

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitleaks/go-gitdiff/gitdiff"
	"github.com/zricethezav/gitleaks/v8/sources"

	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/scanners"
)

// logFragment is what a finding takes from a fragment of git history.
type logFragment struct {
	sha, path, raw      string
	start               int
	author, email, date string
}

func (f logFragment) String() string {
	return fmt.Sprintf("%.12s %q:%d %s <%s> %s %q", f.sha, f.path, f.start, f.author, f.email, f.date, f.raw)
}

// viaGoGitdiff reads the commits' history as the gitleaks CLI does: git's
// default log format, parsed by go-gitdiff; hunks that add nothing left
// out (they cannot hold a finding).
func viaGoGitdiff(t *testing.T, dir string, commits []string) ([]logFragment, scanners.Stats) {
	t.Helper()
	cmd := exec.Command("git", "-C", dir, "log", "-p", "-U0", "--full-history", "--diff-filter=tuxdb",
		"--no-walk=unsorted", "--stdin")
	cmd.Stdin = strings.NewReader(strings.Join(commits, "\n") + "\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git log: %v", err)
	}
	files, err := gitdiff.Parse(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	var (
		frags []logFragment
		st    scanners.Stats
		last  = "none"
	)
	for f := range files {
		h := f.PatchHeader
		if h == nil {
			t.Fatalf("go-gitdiff gave %q no commit", f.NewName)
		}
		if h.SHA != last {
			last = h.SHA
			st.Commits++
		}
		if f.IsDelete || f.IsBinary {
			continue
		}
		st.Files++
		for _, tf := range f.TextFragments {
			raw := tf.Raw(gitdiff.OpAdd)
			if raw == "" {
				continue
			}
			st.Bytes += int64(len(raw))
			frags = append(frags, logFragment{h.SHA, f.NewName, raw, int(tf.NewPosition),
				h.Author.Name, h.Author.Email, h.AuthorDate.UTC().Format(time.RFC3339)})
		}
	}
	return frags, st
}

// viaReader reads them as a scan does.
func viaReader(t *testing.T, dir string, commits []string) ([]logFragment, scanners.Stats) {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir}, gitLogArgs...)...)
	cmd.Stdin = strings.NewReader(strings.Join(commits, "\n") + "\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git log: %v", err)
	}
	var frags []logFragment
	st, err := readGitLog(bytes.NewReader(out), nil, func() {}, func(f sources.Fragment) {
		ci := f.CommitInfo
		if ci.SHA != f.CommitSHA {
			t.Errorf("fragment of %s with the information of %s", f.CommitSHA, ci.SHA)
		}
		frags = append(frags, logFragment{f.CommitSHA, f.FilePath, f.Raw, f.StartLine, ci.AuthorName, ci.AuthorEmail, ci.Date})
	})
	if err != nil {
		t.Fatal(err)
	}
	return frags, st
}

// matchesGoGitdiff checks that the reader and go-gitdiff read the same
// fragments and stats from all of r's history, at least atLeast fragments
// (or the repository is not what the test means).
func matchesGoGitdiff(t *testing.T, r *testenv.Repo, atLeast int) {
	t.Helper()
	commits := strings.Fields(r.Git("rev-list", "--all"))
	want, wst := viaGoGitdiff(t, r.Dir, commits)
	got, gst := viaReader(t, r.Dir, commits)
	sameFragments(t, got, want)
	if gst != wst {
		t.Errorf("stats %+v, go-gitdiff's %+v", gst, wst)
	}
	if len(want) < atLeast {
		t.Fatalf("only %d fragments: the repository is not what the test means", len(want))
	}
}

func sameFragments(t *testing.T, got, want []logFragment) {
	t.Helper()
	for i := 0; i < max(len(got), len(want)); i++ {
		switch {
		case i >= len(got):
			t.Fatalf("fragment %d missing: %v", i, want[i])
		case i >= len(want):
			t.Fatalf("fragment %d more than go-gitdiff's: %v", i, got[i])
		case got[i] != want[i]:
			t.Fatalf("fragment %d:\n got  %v\n want %v", i, got[i], want[i])
		}
	}
}

// The history a scan reads is go-gitdiff's, fragment for fragment, on a
// repository made of what a diff can hold.
func TestGitLogReaderMatchesGoGitdiff(t *testing.T) {
	r := testenv.NewRepo(t)
	hostile := []string{"sp ace.txt", "trailing space .txt", "tab\there.txt", "new\nline.txt", `quo"te.txt`,
		`back\slash.txt`, "ünïcode/fïle.txt", "bad\xff\xfeutf8.txt", "b/a/b.txt", "-dash", "@@ -1 +1 @@",
		"diff --git a", "\x01ctrl\x7f.txt", "\"lead.txt"}
	files := map[string]string{}
	for i, n := range hostile {
		files[n] = fmt.Sprintf("line one of %d\nline two\n", i)
	}
	r.Commit("hostile names", files)
	for i, n := range hostile {
		files[n] = fmt.Sprintf("line one of %d\nchanged\nline three", i)
	}
	r.Commit("hostile names changed, no final newline", files)

	r.Commit("content that looks like a diff", map[string]string{"looks.txt": "diff --git a/x b/x\n" +
		"+++ b/evil\n--- a/evil\n@@ -1 +1 @@\n\\ No newline at end of file\ncommit 0123\nBinary files a and b differ\n" +
		"deleted file mode 100644\n"})
	r.Commit("crlf", map[string]string{"win.txt": "one\r\ntwo\r\n", "empty-lines.txt": "\n\n\n"})
	r.Commit("a long line", map[string]string{"long.txt": "start " + strings.Repeat("0123456789", 150_000) + " end\n"})
	r.Write("bin.dat", "\x00\x01binary\x00")
	r.Commit("binary", map[string]string{"empty.txt": ""})
	r.Commit("binary changed, text beside it", map[string]string{"bin.dat": "\x00\x02binary\x00", "side.txt": "x\n"})
	r.Commit("binary becomes text", map[string]string{"bin.dat": "now text\n"})

	base := strings.Repeat("a shared line of a file that moves\n", 20)
	r.Commit("to rename", map[string]string{"old/name.txt": base, "copy-src.txt": base})
	if err := os.MkdirAll(filepath.Join(r.Dir, "new"), 0o755); err != nil {
		t.Fatal(err)
	}
	r.Git("mv", "old/name.txt", "new/name.txt")
	r.Commit("pure rename", nil)
	r.Git("mv", "new/name.txt", "newer name.txt")
	r.Commit("rename with a change", map[string]string{"newer name.txt": base + "added after rename\n"})
	r.Commit("copy", map[string]string{"copy-dst.txt": base + "copied and changed\n"})

	r.Commit("to chmod", map[string]string{"run.sh": "#!/bin/sh\necho hi\n"})
	r.Git("update-index", "--chmod=+x", "run.sh")
	r.Git("commit", "-q", "-m", "mode only")
	if err := os.Symlink("run.sh", filepath.Join(r.Dir, "link")); err != nil {
		t.Fatal(err)
	}
	r.Commit("symlink", nil)
	r.Git("update-index", "--add", "--cacheinfo", "160000,"+r.Git("rev-parse", "HEAD")+",vendor/sub")
	r.Git("commit", "-q", "-m", "submodule")
	r.Git("update-index", "--add", "--cacheinfo", "160000,"+r.Git("rev-parse", "HEAD")+",vendor/sub")
	r.Git("commit", "-q", "-m", "submodule moved")
	os.Remove(filepath.Join(r.Dir, "side.txt"))
	if err := os.Symlink("win.txt", filepath.Join(r.Dir, "side.txt")); err != nil {
		t.Fatal(err)
	}
	r.Commit("type change and a deletion", map[string]string{"empty-lines.txt": ""})
	r.Git("rm", "-q", "looks.txt")
	r.Commit("deletion only", nil)
	r.Commit("empty", nil)

	r.Git("checkout", "-q", "-b", "side")
	r.Commit("side", map[string]string{"conflict.txt": "side\n"})
	r.Git("checkout", "-q", "main")
	r.Commit("main", map[string]string{"conflict.txt": "main\n"})
	if err := exec.Command("git", "-C", r.Dir, "merge", "-q", "side", "-m", "merge").Run(); err == nil {
		t.Fatal("the merge was meant to conflict")
	}
	r.Commit("merge, resolved", map[string]string{"conflict.txt": "resolved\nand a line of its own\n"})
	r.Git("checkout", "-q", "-b", "side2", "HEAD~1")
	r.Commit("side 2", map[string]string{"side2.txt": "clean\n"})
	r.Git("checkout", "-q", "main")
	r.Git("merge", "-q", "--no-ff", "side2", "-m", "clean merge")

	r.Write(".mailmap", "Mapped Name <mapped@example.test> <old@example.test>\n")
	r.Commit("mailmap", nil)
	r.Write("mapped.txt", "an author .mailmap renames\n")
	r.Git("add", "-A")
	r.Git("-c", "user.name=Öld Ñame", "-c", "user.email=old@example.test", "commit", "-q", "-m", "mapped")
	r.Write("dated.txt", "a date in another zone\n")
	r.Git("add", "-A")
	r.Git("commit", "-q", "--date", "2019-03-04T05:06:07+05:30", "--author", "Zoned Person <zone@example.test>", "-m", "dated")

	matchesGoGitdiff(t, r, 45)
}

// And on a history of random edits: hunks that remove, add and replace
// lines at the start, middle and end of files, which lose and regain their
// final newline, and many hunks to a file.
func TestGitLogReaderMatchesGoGitdiffOnRandomEdits(t *testing.T) {
	r := testenv.NewRepo(t)
	rng := rand.New(rand.NewSource(18))
	files := map[string][]string{}
	for c := 0; c < 150; c++ {
		change := map[string]string{}
		for k := 0; k < 1+rng.Intn(3); k++ {
			name := fmt.Sprintf("dir%d/file %d.txt", rng.Intn(3), rng.Intn(8))
			lines := files[name]
			for e := 0; e < 1+rng.Intn(6); e++ {
				at := rng.Intn(len(lines) + 1)
				switch rng.Intn(3) {
				case 0: // insert
					n := 1 + rng.Intn(4)
					ins := make([]string, n)
					for i := range ins {
						ins[i] = fmt.Sprintf("line %d.%d.%d %x\n", c, e, i, rng.Int63())
					}
					lines = append(lines[:at], append(ins, lines[at:]...)...)
				case 1: // delete
					if at < len(lines) {
						lines = append(lines[:at], lines[min(len(lines), at+1+rng.Intn(3)):]...)
					}
				default: // replace
					if at < len(lines) {
						lines[at] = fmt.Sprintf("replaced %d %x\n", c, rng.Int63())
					}
				}
			}
			files[name] = lines
			text := strings.Join(lines, "")
			if rng.Intn(4) == 0 {
				text = strings.TrimSuffix(text, "\n")
			}
			change[name] = text
		}
		r.Commit(fmt.Sprintf("edit %d", c), change)
	}
	matchesGoGitdiff(t, r, 300)
}

// The scan reads history the same whatever the user's git configuration
// makes of `git log`'s default output. Before the reader pinned its
// format, format.pretty or log.date left every finding without a commit,
// diff.noprefix or color.ui=always broke the file names, log.showRoot hid
// the first commit and diff.interHunkContext gave wrong line numbers. A
// file name that ends in a backslash is found too (go-gitdiff dropped that
// file, and the gitleaks CLI does not see it).
func TestGitScanIgnoresTheUsersGitConfig(t *testing.T) {
	r := testenv.NewRepo(t)
	a, b, c, d := testenv.FakeAWSKey(), testenv.FakeAWSKey(), testenv.FakeAWSKey(), testenv.FakeAWSKey()
	first := r.Commit("one", map[string]string{"conf/sp ace.env": "x\n" + awsLine(a)})
	r.Commit("three lines", map[string]string{"near.env": "l1\nl2\nl3\nl4\n"})
	second := r.Commit("two", map[string]string{`odd\`: awsLine(b), "ünï.env": "\n\n" + awsLine(c),
		"near.env": "l1\nnew\nl3\n" + awsLine(d)})

	cfg := filepath.Join(t.TempDir(), "gitconfig")
	if err := os.WriteFile(cfg, []byte("[format]\n\tpretty = oneline\n[log]\n\tdate = relative\n\tdecorate = full\n"+
		"\tabbrevCommit = true\n\tshowSignature = true\n\tshowRoot = false\n[diff]\n\tnoprefix = true\n\tmnemonicPrefix = true\n"+
		"\tinterHunkContext = 5\n\tsuppressBlankEmpty = true\n\tsubmodule = log\n\talgorithm = histogram\n\trenames = copies\n"+
		"[color]\n\tui = always\n[core]\n\tquotePath = false\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GIT_CONFIG_GLOBAL", cfg)

	s, res := scanRepo(t, r.Dir)
	h := s.Engine.Hasher
	where := map[string]string{}
	for _, f := range res.Findings {
		where[f.Evidence["secret_hash"].(string)] = fmt.Sprintf("%v %v:%v", f.Evidence["commit"], f.Evidence["file"], f.Evidence["line"])
	}
	for secret, at := range map[string]string{a: first + " conf/sp ace.env:2", b: second + ` odd\:1`, c: second + " ünï.env:3", d: second + " near.env:4"} {
		if got := where[h.Hash(secret)]; got != at {
			t.Errorf("found at %q, want %q", got, at)
		}
	}
	if len(where) != 4 {
		t.Errorf("%d findings, want 4", len(where))
	}
}

func TestGitLogMallocTrim(t *testing.T) {
	for _, c := range []struct{ in, want []string }{
		{[]string{"A=1"}, []string{"A=1", "GLIBC_TUNABLES=" + gitLogMallocTrim}},
		{[]string{"GLIBC_TUNABLES=glibc.malloc.arena_max=2", "B=2"},
			[]string{"GLIBC_TUNABLES=glibc.malloc.arena_max=2:" + gitLogMallocTrim, "B=2"}},
		{[]string{"GLIBC_TUNABLES=glibc.malloc.trim_threshold=1"}, []string{"GLIBC_TUNABLES=glibc.malloc.trim_threshold=1"}},
	} {
		if got := withMallocTrim(c.in); strings.Join(got, " ") != strings.Join(c.want, " ") {
			t.Errorf("withMallocTrim(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// A commit replaced by a pushed refs/replace/ ref is read as it is stored:
// `git log` shows the replacement in its place, and the secret it added
// was not seen (nor is it by the gitleaks CLI).
func TestGitScanReadsReplacedCommits(t *testing.T) {
	r := testenv.NewRepo(t)
	secret := testenv.FakeAWSKey()
	leak := r.Commit("leak", map[string]string{"s.env": awsLine(secret)})
	r.Commit("clean", map[string]string{"s.env": "AWS_ACCESS_KEY_ID=from-env\n"})
	r.Git("checkout", "-q", "--orphan", "cover")
	r.Git("rm", "-rfq", ".")
	cover := r.Commit("leak", map[string]string{"s.env": "nothing here\n"})
	r.Git("checkout", "-q", "main")
	r.Git("branch", "-q", "-D", "cover")
	r.Git("replace", leak, cover)

	s, res := scanRepo(t, r.Dir)
	if got := hashes(res.Findings); !equal(got, want(s.Engine.Hasher, secret)) {
		t.Fatalf("%d findings, want the replaced commit's secret", len(got))
	}
	if c := res.Findings[0].Evidence["commit"]; c != leak {
		t.Errorf("found in %v, want the replaced commit %s", c, leak)
	}
}

// vigil run from a git hook, where GIT_DIR and GIT_INDEX_FILE name the
// hook's repository, still reads the repository it was given.
func TestGitScanIgnoresTheCallersRepositoryVariables(t *testing.T) {
	hook := testenv.NewRepo(t)
	hookSecret := testenv.FakeAWSKey()
	hook.Commit("hook repo", map[string]string{"h.env": awsLine(hookSecret)})
	r := testenv.NewRepo(t)
	secret := testenv.FakeAWSKey()
	r.Commit("target", map[string]string{"t.env": awsLine(secret)})

	t.Setenv("GIT_DIR", filepath.Join(hook.Dir, ".git"))
	t.Setenv("GIT_INDEX_FILE", filepath.Join(hook.Dir, ".git", "index"))
	t.Setenv("GIT_CONFIG_COUNT", "1")
	t.Setenv("GIT_CONFIG_KEY_0", "core.bare")
	t.Setenv("GIT_CONFIG_VALUE_0", "true")
	s, res := scanRepo(t, r.Dir)
	if got := hashes(res.Findings); !equal(got, want(s.Engine.Hasher, secret)) {
		t.Fatalf("%d findings, want the target's secret alone", len(got))
	}
}

// scanRepo scans the repository at dir once, with a fresh state, and
// returns its one result, which must not be an error.
func scanRepo(t *testing.T, dir string) (*Scanner, scanners.Result) {
	t.Helper()
	s := gitScanner(t, dir)
	res := scan(t, s, &memState{})
	if len(res) != 1 || res[0].Err != nil {
		t.Fatalf("results: %+v", res)
	}
	return s, res[0]
}

// An error about a hunk header names its ranges, never the line of the
// file git writes after them (the function the hunk is in).
func TestHunkHeaderErrorHoldsNoContent(t *testing.T) {
	secret := testenv.FakeAWSKey()
	for _, h := range []string{"@@ -1,x +2 @@ key = " + secret + "\n", "@@ -1 2 @@ key = " + secret + "\n",
		"@@ -1,x key = " + secret + "\n"} {
		_, _, _, err := parseHunkHeader([]byte(h))
		if err == nil {
			t.Fatalf("%q parsed", h)
		}
		if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "key =") {
			t.Errorf("error %q holds the line after the ranges", err)
		}
	}
}

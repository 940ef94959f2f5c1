package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/xuri/excelize/v2"

	"github.com/vigilsec/vigil/internal/testenv"
)

var vigilBin string

func TestMain(m *testing.M) {
	// The binary lives in a world-readable directory so that a test can run
	// it as another user (see TestUnreadableFile).
	dir, err := os.MkdirTemp("", "vigil-bin-")
	if err != nil {
		panic(err)
	}
	os.Chmod(dir, 0o755)
	vigilBin = filepath.Join(dir, "vigil")
	if out, err := exec.Command("go", "build", "-o", vigilBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build vigil: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	code           int
	stdout, stderr string
}

func vigil(t *testing.T, dir string, args ...string) result {
	t.Helper()
	return vigilAs(t, dir, nil, args...)
}

func vigilAs(t *testing.T, dir string, cred *syscall.Credential, args ...string) result {
	t.Helper()
	cmd := exec.Command(vigilBin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "VIGIL_HASH_KEY=")
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code, o.String(), e.String()}
}

// fixture is a workspace with a repo, a config dir and logs, each holding
// planted secrets.
type fixture struct {
	dir     string
	secrets []string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	fx := &fixture{dir: t.TempDir()}
	plant := func(s string) string { fx.secrets = append(fx.secrets, s); return s }

	r := testenv.NewRepo(t)
	r.Commit("config", map[string]string{"settings.py": fmt.Sprintf("AWS_KEY = %q\n", plant(testenv.FakeAWSKey()))})
	r.Commit("rm", map[string]string{"settings.py": "AWS_KEY = os.environ['AWS_KEY']\n"})
	os.Rename(r.Dir, filepath.Join(fx.dir, "payments"))

	os.MkdirAll(filepath.Join(fx.dir, "conf"), 0o755)
	os.WriteFile(filepath.Join(fx.dir, "conf", "ci.env"), []byte("GITHUB_TOKEN="+plant(testenv.FakeGitHubToken())+"\n"), 0o644)

	os.MkdirAll(filepath.Join(fx.dir, "logs"), 0o755)
	os.WriteFile(filepath.Join(fx.dir, "logs", "app.log"), []byte("INFO start\nDEBUG key="+plant(testenv.FakeAWSKey())+"\n"), 0o644)
	f, _ := os.Create(filepath.Join(fx.dir, "logs", "app.log.1.gz"))
	zw := gzip.NewWriter(f)
	zw.Write([]byte("WARN token " + plant(testenv.FakeGitHubToken()) + "\n"))
	zw.Close()
	f.Close()

	fx.config(t, "")
	return fx
}

func (fx *fixture) config(t *testing.T, extra string) {
	t.Helper()
	cfg := `version: 1
db: state/vigil.db
sources:
  git:
    - name: payments
      path: payments
  dirs:
    - name: conf
      path: conf
  logs:
    - name: app
      paths: ["logs/*.log", "logs/*.gz"]
` + extra
	if err := os.WriteFile(filepath.Join(fx.dir, "vigil.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
}

// assertNoSecrets is the canary: no planted value in any output, report or
// database file.
func (fx *fixture) assertNoSecrets(t *testing.T, outputs ...string) {
	t.Helper()
	blobs := map[string]string{}
	for i, o := range outputs {
		blobs[fmt.Sprintf("output %d", i)] = o
	}
	for _, root := range []string{filepath.Join(fx.dir, "out"), filepath.Join(fx.dir, "state")} {
		filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
			if err == nil && fi.Mode().IsRegular() {
				b, _ := os.ReadFile(p)
				blobs[p] = string(b)
			}
			return nil
		})
	}
	if _, ok := blobs[filepath.Join(fx.dir, "state", "vigil.db")]; !ok {
		t.Fatal("canary: the database was not read")
	}
	for name, b := range blobs {
		for _, s := range fx.secrets {
			if strings.Contains(b, s) {
				t.Errorf("planted secret %s… found in %s", s[:6], name)
			}
		}
	}
}

func TestRunTwiceNewThenStillOpenAndNoSecretsAnywhere(t *testing.T) {
	fx := newFixture(t)
	first := vigil(t, fx.dir, "run", "--config", "vigil.yaml", "--out", "out")
	if first.code != exitFindings {
		t.Fatalf("exit %d, want 1 (high findings)\nstdout:\n%s\nstderr:\n%s", first.code, first.stdout, first.stderr)
	}
	if n := strings.Count(first.stdout, " new "); n != 4 {
		t.Fatalf("first run shows %d new findings, want 4:\n%s", n, first.stdout)
	}
	for _, f := range []string{"findings.json", "findings.sarif", "summary.md", "report.html"} {
		if _, err := os.Stat(filepath.Join(fx.dir, "out", f)); err != nil {
			t.Fatal(err)
		}
	}
	// `vigil report html` writes the same report on its own, private.
	if r := vigil(t, fx.dir, "report", "html", "--config", "vigil.yaml", "--out", "out/alone.html"); r.code != 0 {
		t.Fatalf("report html: %d %s", r.code, r.stderr)
	}
	if fi, err := os.Stat(filepath.Join(fx.dir, "out", "alone.html")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("report html: %v %v", fi, err)
	}
	if b, _ := os.ReadFile(filepath.Join(fx.dir, "out", "alone.html")); !strings.Contains(string(b), `id="findings-table"`) || strings.Count(string(b), `<tr data-status="open"`) != 4 {
		t.Errorf("report.html does not list the 4 open findings")
	}
	second := vigil(t, fx.dir, "run", "--config", "vigil.yaml", "--out", "out", "--format", "json", "--metrics", "out/vigil.prom")
	if second.code != exitFindings {
		t.Fatalf("second run exit %d: %s", second.code, second.stderr)
	}
	var fs []map[string]any
	if err := json.Unmarshal([]byte(second.stdout), &fs); err != nil {
		t.Fatalf("--format json stdout is not clean JSON: %v\n%s", err, second.stdout)
	}
	if len(fs) != 4 {
		t.Fatalf("%d open findings", len(fs))
	}
	md, _ := os.ReadFile(filepath.Join(fx.dir, "out", "summary.md"))
	if !strings.Contains(string(md), "**0 new**, 4 still open, 0 resolved, 0 regressed") {
		t.Fatalf("second run summary:\n%s", md)
	}
	kinds := map[string]int{}
	for _, f := range fs {
		kinds[f["kind"].(string)]++
		ev := f["evidence"].(map[string]any)
		if len(ev["secret_hash"].(string)) != 64 || !strings.Contains(ev["redacted"].(string), "****") {
			t.Errorf("evidence %v", ev)
		}
	}
	if kinds["leak.git"] != 1 || kinds["leak.file"] != 1 || kinds["leak.log"] != 2 {
		t.Errorf("kinds %v", kinds)
	}
	list := vigil(t, fx.dir, "findings", "list", "--config", "vigil.yaml", "--kind", "leak.log", "--format", "json")
	if list.code != 0 || strings.Count(list.stdout, `"kind":"leak.log"`) != 2 {
		t.Errorf("findings list: %d %s", list.code, list.stdout)
	}
	rep := vigil(t, fx.dir, "report", "sarif", "--config", "vigil.yaml")
	if rep.code != 0 || !strings.Contains(rep.stdout, `"version": "2.1.0"`) {
		t.Errorf("report sarif: %d %s", rep.code, rep.stderr)
	}
	audit := vigil(t, fx.dir, "audit", "verify", "--config", "vigil.yaml")
	if audit.code != 0 {
		t.Errorf("audit verify: %d %s %s", audit.code, audit.stdout, audit.stderr)
	}
	prom, _ := os.ReadFile(filepath.Join(fx.dir, "out", "vigil.prom"))
	if !strings.Contains(string(prom), `vigil_open_findings{kind="leak.log",severity="high"} 2`) ||
		!strings.Contains(string(prom), `vigil_last_run_status{command="run",status="ok"} 1`) {
		t.Errorf("metrics:\n%s", prom)
	}
	month := vigil(t, fx.dir, "report", "monthly", "--config", "vigil.yaml", "--out", "out/monthly.xlsx")
	if month.code != 0 {
		t.Fatalf("report monthly: %d %s", month.code, month.stderr)
	}
	// The workbook is zipped XML: read every cell for the canary.
	wb, err := excelize.OpenFile(filepath.Join(fx.dir, "out", "monthly.xlsx"))
	if err != nil {
		t.Fatal(err)
	}
	var cells strings.Builder
	for _, sheet := range wb.GetSheetList() {
		rows, _ := wb.GetRows(sheet)
		for _, r := range rows {
			cells.WriteString(strings.Join(r, "\t") + "\n")
		}
	}
	wb.Close()
	if !strings.Contains(cells.String(), "leak.log") {
		t.Fatalf("workbook has no findings:\n%s", cells.String())
	}
	empty := vigil(t, fx.dir, "report", "monthly", "--config", "vigil.yaml", "--month", "2020-01", "--out", "out/empty.xlsx")
	if empty.code != exitUsage || !strings.Contains(empty.stderr, "no runs in 2020-01") {
		t.Errorf("empty month: %d %s", empty.code, empty.stderr)
	}
	if _, err := os.Stat(filepath.Join(fx.dir, "out", "empty.xlsx")); !os.IsNotExist(err) {
		t.Errorf("a workbook was written for a month without runs")
	}
	fx.assertNoSecrets(t, first.stdout, first.stderr, second.stdout, second.stderr, list.stdout, rep.stdout, cells.String())

	// Fix the config dir leak: the next full scan resolves it.
	os.WriteFile(filepath.Join(fx.dir, "conf", "ci.env"), []byte("GITHUB_TOKEN=${{ secrets.GH }}\n"), 0o644)
	vigil(t, fx.dir, "run", "--config", "vigil.yaml", "--out", "out")
	md, _ = os.ReadFile(filepath.Join(fx.dir, "out", "summary.md"))
	if !strings.Contains(string(md), "**0 new**, 3 still open, 1 resolved, 0 regressed") {
		t.Fatalf("after fix:\n%s", md)
	}
}

func TestAuditVerifyFailsAfterTampering(t *testing.T) {
	fx := newFixture(t)
	vigil(t, fx.dir, "run", "--config", "vigil.yaml")
	db, err := sql.Open("sqlite", filepath.Join(fx.dir, "state", "vigil.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DELETE FROM audit_log WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	r := vigil(t, fx.dir, "audit", "verify", "--config", "vigil.yaml")
	if r.code != 1 || !strings.Contains(r.stdout, "missing (deleted)") {
		t.Fatalf("verify after delete: %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

func TestBadConfigExitsTwoNamingFileAndLine(t *testing.T) {
	fx := newFixture(t)
	os.WriteFile(filepath.Join(fx.dir, "vigil.yaml"), []byte("version: 1\nsources:\n  git:\n    - name: x\n      pth: repo\n"), 0o644)
	r := vigil(t, fx.dir, "run", "--config", "vigil.yaml")
	want := filepath.Join(fx.dir, "vigil.yaml") + ":5: field pth not found"
	if r.code != exitUsage || !strings.Contains(r.stderr, want) {
		t.Fatalf("exit %d, stderr %q, want %q", r.code, r.stderr, want)
	}
}

func TestBadGitleaksConfigExitsTwoNamingFileAndLine(t *testing.T) {
	fx := newFixture(t)
	os.WriteFile(filepath.Join(fx.dir, "rules.toml"), []byte("[extend]\nuseDefault = true\n\n[[rules]]\nid = \"x\"\nregex = '''[unclosed'''\n"), 0o644)
	fx.config(t, "rules:\n  gitleaks: rules.toml\n")
	r := vigil(t, fx.dir, "run", "--config", "vigil.yaml")
	if r.code != exitUsage || !strings.Contains(r.stderr, filepath.Join(fx.dir, "rules.toml")+":6: rule x: regex is not a valid regular expression") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	// Neither the RE2 engine's own log line nor the pattern is printed.
	if strings.Contains(r.stderr, "re2") || strings.Contains(r.stderr, "[unclosed") {
		t.Fatalf("stderr echoes the engine's log or the pattern: %q", r.stderr)
	}
}

func TestMissingRepoMakesRunPartialAndOthersAreStored(t *testing.T) {
	fx := newFixture(t)
	os.MkdirAll(filepath.Join(fx.dir, "not-a-repo"), 0o755)
	cfg, _ := os.ReadFile(filepath.Join(fx.dir, "vigil.yaml"))
	cfg = bytes.Replace(cfg, []byte("  dirs:"), []byte("    - name: ghost\n      path: does-not-exist\n    - name: plain\n      path: not-a-repo\n  dirs:"), 1)
	os.WriteFile(filepath.Join(fx.dir, "vigil.yaml"), cfg, 0o644)
	r := vigil(t, fx.dir, "run", "--config", "vigil.yaml", "--format", "json", "--out", "out")
	if r.code != exitPartial {
		t.Fatalf("exit %d, want 3\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"git ghost", "does-not-exist", "not-a-repo is not a git repository"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	var fs []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &fs); err != nil || len(fs) != 4 {
		t.Fatalf("the healthy sources' 4 findings were not all stored: %d, %v", len(fs), err)
	}
	md, _ := os.ReadFile(filepath.Join(fx.dir, "out", "summary.md"))
	if !strings.Contains(string(md), "Partial run") || !strings.Contains(string(md), "git:plain") {
		t.Errorf("summary does not report the partial run:\n%s", md)
	}
}

// TestUnreadableFile runs vigil as an unprivileged user (the tests run as
// root in CI, and root reads mode-000 files) so that a file really can't be
// read.
func TestUnreadableFile(t *testing.T) {
	fx := newFixture(t)
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		cred = &syscall.Credential{Uid: 65534, Gid: 65534}
		filepath.Walk(fx.dir, func(p string, fi os.FileInfo, err error) error {
			if err == nil {
				os.Chown(p, 65534, 65534)
			}
			return nil
		})
		for d := filepath.Dir(fx.dir); d != "/"; d = filepath.Dir(d) {
			os.Chmod(d, 0o755) // let the other user reach the workspace
		}
	}
	secret := filepath.Join(fx.dir, "conf", "secret.env")
	os.WriteFile(secret, []byte("x=1\n"), 0o000)
	os.Chown(secret, 0, 0)
	r := vigilAs(t, fx.dir, cred, "run", "--config", "vigil.yaml", "--format", "json")
	if r.code != exitPartial {
		t.Fatalf("exit %d, want 3\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, secret) || !strings.Contains(r.stderr, "permission denied") {
		t.Errorf("stderr does not name the unreadable file:\n%s", r.stderr)
	}
	var fs []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &fs); err != nil || len(fs) != 4 {
		t.Fatalf("findings of readable files: %d, %v", len(fs), err)
	}
}

func TestKilledRunLosesNothing(t *testing.T) {
	fx := newFixture(t)
	fx.bigLog(t)
	cmd := exec.Command(vigilBin, "run", "--config", "vigil.yaml", "--quiet")
	cmd.Dir = fx.dir
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	dbPath := filepath.Join(fx.dir, "state", "vigil.db")
	// Kill as soon as the git source is stored, while the logs are read.
	waitStored(t, cmd, dbPath, "git:payments")
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if ps := cmd.ProcessState; ps == nil || ps.Success() {
		t.Fatal("the run finished before it could be killed: make the big log bigger")
	}

	db, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	var ic string
	db.QueryRow(`PRAGMA integrity_check`).Scan(&ic)
	var running, lateStored int
	db.QueryRow(`SELECT COUNT(*) FROM runs WHERE status = 'running'`).Scan(&running)
	db.QueryRow(`SELECT COUNT(*) FROM findings WHERE resource LIKE '%big.log%'`).Scan(&lateStored)
	db.Close()
	if ic != "ok" {
		t.Fatalf("integrity_check after SIGKILL: %s", ic)
	}
	if running != 1 || lateStored != 0 {
		t.Fatalf("after kill: %d running runs, %d big.log findings (the kill came too late)", running, lateStored)
	}
	if n := count(t, dbPath, `SELECT COUNT(*) FROM findings WHERE kind = 'leak.git' AND status = 'open'`); n != 1 {
		t.Fatalf("the git finding stored before the kill is gone: %d", n)
	}

	r := vigil(t, fx.dir, "run", "--config", "vigil.yaml", "--format", "json", "--quiet")
	if r.code != exitFindings {
		t.Fatalf("rerun exit %d: %s", r.code, r.stderr)
	}
	var fs []map[string]any
	json.Unmarshal([]byte(r.stdout), &fs)
	if len(fs) != 5 {
		t.Fatalf("after rerun %d open findings, want 5 (4 fixtures + the late key)", len(fs))
	}
	if n := count(t, dbPath, `SELECT COUNT(*) FROM runs WHERE status = 'aborted'`); n != 1 {
		t.Errorf("the killed run is not marked aborted (%d)", n)
	}
	if n := count(t, dbPath, `SELECT COUNT(*) FROM runs WHERE status = 'running'`); n != 0 {
		t.Errorf("%d runs still running", n)
	}
	fx.assertNoSecrets(t, r.stdout, r.stderr)
}

// bigLog adds a log big enough that a run is still reading it when a test
// interrupts it, with a secret on its last line.
func (fx *fixture) bigLog(t *testing.T) {
	t.Helper()
	big := filepath.Join(fx.dir, "logs", "big.log")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	block := strings.Repeat("INFO GET /api/v1/orders?page=2 200 token=none user=svc-etl latency_ms=12\n", 10000)
	for n := 0; n < 60<<20; n += len(block) {
		f.WriteString(block)
	}
	late := testenv.FakeAWSKey()
	fx.secrets = append(fx.secrets, late)
	f.WriteString("ERROR leaked key=" + late + "\n")
	f.Close()
}

// waitStored waits until a run has stored source.
func waitStored(t *testing.T, cmd *exec.Cmd, dbPath, source string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for count(t, dbPath, `SELECT COUNT(*) FROM scan_state WHERE source = '`+source+`'`) != 1 {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("%s never stored", source)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestTerminatedRunExitsPartialAndIsRecorded(t *testing.T) {
	fx := newFixture(t)
	fx.bigLog(t)
	cmd := exec.Command(vigilBin, "run", "--config", "vigil.yaml", "--quiet")
	cmd.Dir = fx.dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	dbPath := filepath.Join(fx.dir, "state", "vigil.db")
	waitStored(t, cmd, dbPath, "git:payments")
	cmd.Process.Signal(syscall.SIGTERM)
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitPartial {
		t.Fatalf("exit after SIGTERM: %v, want %d\n%s", err, exitPartial, stderr.String())
	}
	if n := count(t, dbPath, `SELECT COUNT(*) FROM runs WHERE status = 'failed'`); n != 1 {
		t.Errorf("the interrupted run is not recorded as failed (%d)", n)
	}
	if n := count(t, dbPath, `SELECT COUNT(*) FROM findings WHERE kind = 'leak.git'`); n != 1 {
		t.Errorf("the finding stored before SIGTERM is gone (%d)", n)
	}
	if n := count(t, dbPath, `SELECT COUNT(*) FROM scan_state WHERE source LIKE '%big.log'`); n != 0 {
		t.Errorf("the interrupted log's offset was saved (%d): it would never be read", n)
	}
}

func count(t *testing.T, dbPath, q string) int {
	t.Helper()
	if _, err := os.Stat(dbPath); err != nil {
		return -1
	}
	db, err := sql.Open("sqlite", "file:"+dbPath+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(context.Background(), q).Scan(&n); err != nil {
		return -1 // schema not there yet
	}
	return n
}

func TestScanGitIncrementalFromCLI(t *testing.T) {
	r := testenv.NewRepo(t)
	r.Commit("a", map[string]string{"a.txt": "k=" + testenv.FakeAWSKey() + "\n"})
	dir := t.TempDir()
	first := vigil(t, dir, "scan", "git", r.Dir, "--db", "v.db", "--format", "json")
	if first.code != exitFindings || !strings.Contains(first.stderr, "commits=1") {
		t.Fatalf("first: %d %s", first.code, first.stderr)
	}
	again := vigil(t, dir, "scan", "git", r.Dir, "--db", "v.db")
	if again.code != exitFindings || !strings.Contains(again.stderr, "commits=0") || !strings.Contains(again.stdout, " open ") {
		t.Fatalf("rescan: %d %s %s", again.code, again.stdout, again.stderr)
	}
	bad := vigil(t, dir, "scan", "svn", r.Dir)
	if bad.code != exitUsage {
		t.Fatalf("unknown kind exit %d", bad.code)
	}
}

// Progress is drawn only on a terminal: under script(1) stderr is a real
// pseudo-terminal; in a pipe nothing but log lines may appear.
func TestProgressOnlyOnATerminal(t *testing.T) {
	testenv.Required(t, "script")
	r := testenv.NewRepo(t)
	for i := 0; i < 3; i++ {
		r.Commit(fmt.Sprint(i), map[string]string{fmt.Sprint(i, ".txt"): strings.Repeat("hello world\n", 20000)})
	}
	dir := t.TempDir()
	cmd := exec.Command("script", "-qefc", vigilBin+" scan git "+r.Dir+" --db "+filepath.Join(dir, "tty.db"), "/dev/null")
	out, _ := cmd.CombinedOutput()
	if !strings.Contains(string(out), "scanning") {
		t.Fatalf("no progress on a terminal:\n%q", out)
	}
	piped := vigil(t, dir, "scan", "git", r.Dir, "--db", filepath.Join(dir, "pipe.db"))
	if strings.Contains(piped.stderr, "scanning") || strings.Contains(piped.stderr, "\r") {
		t.Fatalf("progress drawn into a pipe:\n%q", piped.stderr)
	}
}

package main

import (
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/internal/testenv/pgtest"
)

// shardFixture is many repositories, each with one planted key, made with
// git fast-import (bare repositories: quick to make by the hundred).
type shardFixture struct {
	dir   string
	repos int
	keys  []string
}

func newShardFixture(t *testing.T, repos int) *shardFixture {
	fx := &shardFixture{dir: t.TempDir(), repos: repos}
	for i := 0; i < repos; i++ {
		fx.keys = append(fx.keys, testenv.FakeAWSKey())
		fx.commit(t, i, "init", fmt.Sprintf("aws_access_key_id = %q\n", fx.keys[i]), false)
	}
	return fx
}

// commit adds a commit to repository i with file conf.ini holding content.
func (fx *shardFixture) commit(t *testing.T, i int, msg, content string, from bool) {
	t.Helper()
	dir := filepath.Join(fx.dir, "repos", fmt.Sprintf("r%03d.git", i))
	if !from {
		if out, err := exec.Command("git", "init", "-q", "--bare", dir).CombinedOutput(); err != nil {
			t.Fatalf("%v %s", err, out)
		}
	}
	parent := ""
	if from {
		parent = "from refs/heads/main^0\n"
	}
	stream := fmt.Sprintf("commit refs/heads/main\ncommitter T <t@example.test> 1700000000 +0000\ndata %d\n%s\n%sM 644 inline conf.ini\ndata %d\n%s\n",
		len(msg), msg, parent, len(content), content)
	cmd := exec.Command("git", "-C", dir, "fast-import", "--quiet")
	cmd.Stdin = strings.NewReader(stream)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("fast-import: %v %s", err, out)
	}
	exec.Command("git", "-C", dir, "symbolic-ref", "HEAD", "refs/heads/main").Run()
}

// config writes NAME.yaml with db and every repository.
func (fx *shardFixture) config(t *testing.T, name, db string) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "version: 1\ndb: %s\nhash_key_file: key/vigil.key\nsources:\n  git:\n", db)
	for i := 0; i < fx.repos; i++ {
		fmt.Fprintf(&b, "    - {name: r%03d, path: repos/r%03d.git}\n", i, i)
	}
	if err := os.WriteFile(filepath.Join(fx.dir, name+".yaml"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// shardedSetup makes repos repositories, a config on SQLite (single.yaml)
// and one on a fresh PostgreSQL database (pg.yaml), and runs one process
// on SQLite: its finding ids are what the shards must find.
func shardedSetup(t *testing.T, repos int) (fx *shardFixture, dsn, want string) {
	t.Helper()
	fx = newShardFixture(t, repos)
	os.MkdirAll(filepath.Join(fx.dir, "key"), 0o700)
	fx.config(t, "single", "state/single.db")
	dsn = pgtest.Database(t)
	fx.config(t, "pg", dsn)
	if r := vigil(t, fx.dir, "run", "--config", "single.yaml", "--quiet"); r.code != exitFindings {
		t.Fatalf("single process: exit %d: %s", r.code, r.stderr)
	}
	return fx, dsn, ids(t, vigil(t, fx.dir, "findings", "list", "--config", "single.yaml", "--format", "json").stdout)
}

func pgQuery(t *testing.T, dsn, q string, args ...any) string {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var s string
	if err := db.QueryRow(q, args...).Scan(&s); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return s
}

// pgCount is a count, or -1 while the schema is not there yet.
func pgCount(dsn, q string) int {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return -1
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(q).Scan(&n); err != nil {
		return -1
	}
	return n
}

// TestShardedRunsOnPostgres: 4 shard processes at once over 200
// repositories on one PostgreSQL database make one run whose findings are
// exactly a single process's; the run is finished only when its last shard
// ends (and not before); a shard killed half way is started again and
// loses and doubles nothing; two unsharded runs started at once do not
// both run.
func TestShardedRunsOnPostgres(t *testing.T) {
	fx, dsn, want := shardedSetup(t, 200)
	if n := strings.Count(want, ",") + 1; n != 200 {
		t.Fatalf("single process found %d, want 200", n)
	}

	// Night 1: four shards at once.
	var wg sync.WaitGroup
	res := make([]result, 4)
	for i := range res {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			res[i] = vigil(t, fx.dir, "run", "--config", "pg.yaml", "--shard", fmt.Sprintf("%d/4", i), "--run-key", "night-1", "--quiet")
		}(i)
	}
	wg.Wait()
	for i, r := range res {
		if r.code != exitOK {
			t.Fatalf("shard %d: exit %d: %s", i, r.code, r.stderr)
		}
	}
	if got := ids(t, vigil(t, fx.dir, "findings", "list", "--config", "pg.yaml", "--format", "json").stdout); got != want {
		t.Fatalf("the shards' findings differ from one process's")
	}
	if st := pgQuery(t, dsn, `SELECT status || ' ' || shards || ' ' || (summary::jsonb->>'sources') || ' ' || (summary::jsonb->>'new') FROM runs WHERE run_key = 'night-1'`); st != "ok 4 200 200" {
		t.Errorf("the run as a whole: %q, want status ok, 4 shards, 200 sources, 200 new", st)
	}

	// Night 2: a new leak; shards 0-2 end, and the run is not finished
	// until shard 3 has.
	late := testenv.FakeGitHubToken()
	fx.commit(t, 7, "late", "token = "+late+"\n", true)
	for i := 0; i < 3; i++ {
		if r := vigil(t, fx.dir, "run", "--config", "pg.yaml", "--shard", fmt.Sprintf("%d/4", i), "--run-key", "night-2", "--quiet"); r.code != exitOK {
			t.Fatalf("night 2 shard %d: exit %d: %s", i, r.code, r.stderr)
		}
	}
	if st := pgQuery(t, dsn, `SELECT status FROM runs WHERE run_key = 'night-2'`); st != "running" {
		t.Fatalf("night 2 with three of four shards ended: %s", st)
	}
	if r := vigil(t, fx.dir, "run", "--finalize", "--config", "pg.yaml", "--run-key", "night-2"); r.code == exitOK || !strings.Contains(r.stderr, "shard(s) 3 of 4 not ended") {
		t.Fatalf("finalize before the last shard: exit %d: %s", r.code, r.stderr)
	}
	if r := vigil(t, fx.dir, "run", "--config", "pg.yaml", "--shard", "3/4", "--run-key", "night-2", "--quiet"); r.code != exitOK {
		t.Fatalf("night 2 shard 3: exit %d: %s", r.code, r.stderr)
	}
	if st := pgQuery(t, dsn, `SELECT status || ' ' || (summary::jsonb->>'new') FROM runs WHERE run_key = 'night-2'`); st != "ok 1" {
		t.Fatalf("night 2 after its last shard: %q, want ok with the one new leak", st)
	}

	// Night 3: shard 0 is killed half way (its pod died), started again,
	// and the run ends with nothing lost or doubled.
	for i := 0; i < 200; i += 3 {
		fx.commit(t, i, "more", fmt.Sprintf("aws_access_key_id = %q\n", testenv.FakeAWSKey()), true)
	}
	cmd := exec.Command(vigilBin, "run", "--config", "pg.yaml", "--shard", "0/4", "--run-key", "night-3", "--quiet")
	cmd.Dir = fx.dir
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for pgCount(dsn, `SELECT COUNT(*) FROM finding_events e JOIN runs r ON r.id = e.run_id WHERE r.run_key = 'night-3'`) < 1 {
		if time.Now().After(deadline) {
			t.Fatal("shard 0 stored nothing")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	// The retry takes the dead attempt's lease over (a dead process on this
	// host; from another host, once the lease has expired).
	for i := 0; i < 4; i++ {
		if r := vigil(t, fx.dir, "run", "--config", "pg.yaml", "--shard", fmt.Sprintf("%d/4", i), "--run-key", "night-3", "--quiet"); r.code != exitOK {
			t.Fatalf("night 3 shard %d: exit %d: %s", i, r.code, r.stderr)
		}
	}
	if st := pgQuery(t, dsn, `SELECT status || ' ' || (summary::jsonb->>'new') FROM runs WHERE run_key = 'night-3'`); st != "ok 67" {
		t.Errorf("night 3: %q, want ok with the 67 new leaks", st)
	}
	if a := pgQuery(t, dsn, `SELECT attempts::text FROM run_shards s JOIN runs r ON r.id = s.run_id WHERE r.run_key = 'night-3' AND s.shard = 0`); a != "2" {
		t.Errorf("shard 0 of night 3 ran %s times, want 2", a)
	}
	if n := pgQuery(t, dsn, `SELECT COUNT(*)::text FROM findings WHERE status = 'open'`); n != "268" {
		t.Errorf("%s open findings, want 268 (200 + 1 + 67, none doubled)", n)
	}
	if v := vigil(t, fx.dir, "audit", "verify", "--config", "pg.yaml"); v.code != exitOK {
		t.Fatalf("audit verify after sharded runs: %d %s%s", v.code, v.stdout, v.stderr)
	}

	// Two unsharded runs at once: one holds the lease, the other says so.
	var a, b result
	wg.Add(2)
	go func() { defer wg.Done(); a = vigil(t, fx.dir, "run", "--config", "pg.yaml", "--quiet") }()
	go func() { defer wg.Done(); b = vigil(t, fx.dir, "run", "--config", "pg.yaml", "--quiet") }()
	wg.Wait()
	codes := []int{a.code, b.code}
	if !(codes[0] == exitFindings && codes[1] == exitPartial || codes[0] == exitPartial && codes[1] == exitFindings) {
		t.Fatalf("two runs at once: exits %v\n%s\n%s", codes, a.stderr, b.stderr)
	}
	if !strings.Contains(a.stderr+b.stderr, "lock") {
		t.Errorf("the refused run does not name the lock: %s%s", a.stderr, b.stderr)
	}
}

// TestQueuedShardsTakeOverADeadShard: with --queue, shard processes claim
// sources one at a time from the database. Shard 0 is killed while it
// works; shard 1 takes the rest, and the source shard 0 had claimed but not
// stored is taken over (audited); shard 0, started again, finds nothing
// left and ends the run. The findings are one process's, none doubled.
func TestQueuedShardsTakeOverADeadShard(t *testing.T) {
	fx, dsn, want := shardedSetup(t, 60)

	cmd := exec.Command(vigilBin, "run", "--config", "pg.yaml", "--shard", "0/2", "--queue", "--run-key", "q", "--quiet")
	cmd.Dir = fx.dir
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for pgCount(dsn, `SELECT COUNT(*) FROM run_claims WHERE done_at IS NOT NULL`) < 5 {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("shard 0 stored too little")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	inFlight := pgQuery(t, dsn, `SELECT COUNT(*)::text FROM run_claims WHERE done_at IS NULL`)
	if pgQuery(t, dsn, `SELECT COUNT(*)::text FROM run_claims`) == "60" {
		t.Fatal("shard 0 claimed everything before it was killed: the fixture is too small")
	}

	if r := vigil(t, fx.dir, "run", "--config", "pg.yaml", "--shard", "1/2", "--queue", "--run-key", "q", "--quiet"); r.code != exitOK {
		t.Fatalf("shard 1: exit %d: %s", r.code, r.stderr)
	}
	if st := pgQuery(t, dsn, `SELECT status FROM runs WHERE run_key = 'q'`); st != "running" {
		t.Fatalf("the run ended with shard 0 dead: %s", st)
	}
	if r := vigil(t, fx.dir, "run", "--config", "pg.yaml", "--shard", "0/2", "--queue", "--run-key", "q", "--quiet"); r.code != exitOK {
		t.Fatalf("shard 0 again: exit %d: %s", r.code, r.stderr)
	}
	if st := pgQuery(t, dsn, `SELECT status || ' ' || (summary::jsonb->>'new') FROM runs WHERE run_key = 'q'`); st != "ok 60" {
		t.Fatalf("the run: %q, want ok with 60 new", st)
	}
	if n := pgQuery(t, dsn, `SELECT COUNT(*)::text FROM run_claims WHERE done_at IS NOT NULL`); n != "60" {
		t.Errorf("%s sources stored, want 60", n)
	}
	if got := pgQuery(t, dsn, `SELECT COUNT(*)::text FROM audit_log WHERE action = 'run.claim_taken_over'`); got != inFlight {
		t.Errorf("%s claims taken over, want the %s shard 0 held when it died", got, inFlight)
	}
	if got := ids(t, vigil(t, fx.dir, "findings", "list", "--config", "pg.yaml", "--format", "json").stdout); got != want {
		t.Fatalf("the queued shards' findings differ from one process's")
	}
}

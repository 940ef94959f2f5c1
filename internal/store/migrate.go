package store

import (
	"context"
	"fmt"
)

// migrations are applied in order, each once, each in its own transaction.
// Never edit a released migration: add a new one, so an old database is
// upgraded in place by replaying only what it lacks.
var migrations = []string{
	1: `
CREATE TABLE runs (
	id          TEXT PRIMARY KEY,
	command     TEXT NOT NULL,
	started_at  TEXT NOT NULL,
	finished_at TEXT,
	status      TEXT NOT NULL,          -- running | ok | partial | failed | aborted
	summary     TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE run_errors (
	run_id TEXT NOT NULL REFERENCES runs(id),
	source TEXT NOT NULL,
	error  TEXT NOT NULL,
	at     TEXT NOT NULL
);
CREATE TABLE findings (
	id              TEXT PRIMARY KEY,
	kind            TEXT NOT NULL,
	severity        TEXT NOT NULL,
	scanner         TEXT NOT NULL,
	source          TEXT NOT NULL,
	resource        TEXT NOT NULL,
	title           TEXT NOT NULL,
	detail          TEXT NOT NULL,
	status          TEXT NOT NULL,
	first_seen      TEXT NOT NULL,
	last_seen       TEXT NOT NULL,
	first_run_id    TEXT NOT NULL,
	last_run_id     TEXT NOT NULL,
	resolved_at     TEXT,
	resolved_run_id TEXT,
	regressions     INTEGER NOT NULL DEFAULT 0,
	evidence        TEXT NOT NULL DEFAULT '{}',
	controls        TEXT NOT NULL DEFAULT '[]',
	location        TEXT
);
CREATE INDEX findings_source_status ON findings(source, status);
CREATE INDEX findings_status_kind ON findings(status, kind);
CREATE TABLE finding_events (
	run_id     TEXT NOT NULL,
	finding_id TEXT NOT NULL,
	transition TEXT NOT NULL,           -- new | resolved | regressed
	at         TEXT NOT NULL,
	PRIMARY KEY (run_id, finding_id)
);
CREATE TABLE scan_state (
	source     TEXT PRIMARY KEY,
	state      TEXT NOT NULL,
	run_id     TEXT NOT NULL,
	updated_at TEXT NOT NULL
);
CREATE TABLE audit_log (
	seq       INTEGER PRIMARY KEY,
	at        TEXT NOT NULL,
	actor     TEXT NOT NULL,
	action    TEXT NOT NULL,
	subject   TEXT NOT NULL,
	detail    TEXT NOT NULL,
	prev_hash TEXT NOT NULL,
	hash      TEXT NOT NULL
);
CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);
CREATE TABLE locks (
	name        TEXT PRIMARY KEY,
	holder      TEXT NOT NULL,
	host        TEXT NOT NULL,
	pid         INTEGER NOT NULL,
	acquired_at TEXT NOT NULL
);`,
	// The credential ledger: every credential vigil mints for itself, from
	// the intent to issue it to its revocation and clean-up. Never the
	// credential: only its public id (access key id, token accessor).
	2: `
CREATE TABLE credentials (
	id            TEXT PRIMARY KEY,
	run_id        TEXT NOT NULL,
	issuer        TEXT NOT NULL,          -- aws:<account> | vault:<store>
	identity      TEXT NOT NULL,
	target        TEXT NOT NULL,          -- role ARN, or the Vault store's address
	credential_id TEXT NOT NULL DEFAULT '',
	scope         TEXT NOT NULL DEFAULT '{}',
	status        TEXT NOT NULL,          -- issuing | not_issued | issued | revoked | cleaned
	issued_at     TEXT,
	expires_at    TEXT,
	revoked_at    TEXT,
	cleaned_at    TEXT,
	revocation    TEXT NOT NULL DEFAULT '{}',
	probes        TEXT NOT NULL DEFAULT '[]',
	created_at    TEXT NOT NULL,
	updated_at    TEXT NOT NULL
);
CREATE INDEX credentials_status ON credentials(status);
CREATE INDEX credentials_created ON credentials(created_at);`,
	// Inventory snapshots for the monthly report: what each store held, as
	// of its last complete listing in each month. Never a value.
	3: `
CREATE TABLE inventory_snapshots (
	month         TEXT NOT NULL,          -- YYYY-MM of the listing
	source        TEXT NOT NULL,
	path          TEXT NOT NULL,
	run_id        TEXT NOT NULL,
	store         TEXT NOT NULL,
	location      TEXT NOT NULL DEFAULT '',
	owner         TEXT NOT NULL DEFAULT '',
	env           TEXT NOT NULL DEFAULT '',
	declared      INTEGER NOT NULL DEFAULT 0,
	rotation_days INTEGER NOT NULL DEFAULT 0,
	last_rotated  TEXT,
	last_accessed TEXT,
	listed_at     TEXT NOT NULL,
	PRIMARY KEY (month, source, path)
);`,
	// Remediation actions: what vigil planned and changed, with what it needs
	// to undo it (policy documents, version ids, key states; never a secret
	// value). Written before each change, so an interrupted apply is found
	// and rolled back by the next one.
	4: `
CREATE TABLE remediation_actions (
	id            TEXT PRIMARY KEY,
	plan_id       TEXT NOT NULL,
	kind          TEXT NOT NULL,          -- rotate.awssm | rotate.vault | iam.narrow | iam.deactivate_key | iam.quarantine
	target        TEXT NOT NULL,
	findings      TEXT NOT NULL DEFAULT '[]',
	title         TEXT NOT NULL,
	why           TEXT NOT NULL,
	spec          TEXT NOT NULL DEFAULT '{}', -- what to do, as planned
	state         TEXT NOT NULL DEFAULT '{}', -- steps done and what undoes them
	status        TEXT NOT NULL,          -- planned | applying | applied | rolling_back | rolled_back | failed
	error         TEXT NOT NULL DEFAULT '',
	caller        TEXT NOT NULL DEFAULT '',  -- the identity that made the change (AWS ARN, Vault token name)
	before_hash   TEXT NOT NULL DEFAULT '',
	after_hash    TEXT NOT NULL DEFAULT '',
	created_at    TEXT NOT NULL,
	updated_at    TEXT NOT NULL,
	applied_at    TEXT,
	rolled_back_at TEXT
);
CREATE INDEX remediation_plan ON remediation_actions(plan_id);
CREATE INDEX remediation_status ON remediation_actions(status);`,
	// Leases: a lock is held until expires_at and its holder renews it; an
	// expired lease is taken over from any host (a killed CronJob pod never
	// comes back under the same hostname).
	5: `
ALTER TABLE locks ADD COLUMN expires_at TEXT;
ALTER TABLE locks ADD COLUMN renewed_at TEXT;`,
	// Sharded runs: one run (its run_key shared by every shard) scanned by
	// several processes, each shard's progress in run_shards; the run is
	// finished when every shard is.
	6: `
ALTER TABLE runs ADD COLUMN run_key TEXT;
ALTER TABLE runs ADD COLUMN shards INTEGER NOT NULL DEFAULT 1;
CREATE UNIQUE INDEX runs_run_key ON runs(run_key) WHERE run_key IS NOT NULL;
CREATE TABLE run_shards (
	run_id      TEXT NOT NULL,
	shard       INTEGER NOT NULL,
	status      TEXT NOT NULL,          -- running | ok | partial | failed
	host        TEXT NOT NULL,
	pid         INTEGER NOT NULL,
	attempts    INTEGER NOT NULL DEFAULT 1,
	started_at  TEXT NOT NULL,
	finished_at TEXT,
	summary     TEXT NOT NULL DEFAULT '{}',
	PRIMARY KEY (run_id, shard)
);`,
	// Work taken from a queue: a shard of a queued run claims each source
	// before it scans it; a claim whose shard's lease is gone is taken over.
	7: `
CREATE TABLE run_claims (
	run_id     TEXT NOT NULL,
	source     TEXT NOT NULL,
	shard      INTEGER NOT NULL,
	claimed_at TEXT NOT NULL,
	done_at    TEXT,
	PRIMARY KEY (run_id, source)
);`,
}

// SchemaVersion is the version a fully migrated database has.
func SchemaVersion() int { return len(migrations) - 1 }

func (s *Store) migrate(ctx context.Context) error {
	// Under the store's write lock: two processes opening a new database at
	// once must not both create it.
	if err := s.tx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)`)
		return err
	}); err != nil {
		return err
	}
	var cur int
	if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&cur); err != nil {
		return err
	}
	if cur > SchemaVersion() {
		return fmt.Errorf("database schema is version %d, newer than this vigil knows (%d): upgrade vigil", cur, SchemaVersion())
	}
	for v := cur + 1; v <= SchemaVersion(); v++ {
		err := s.tx(ctx, func(tx *Tx) error {
			// Read again under the write lock: another process starting at
			// the same moment may have applied it already.
			var done int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, v).Scan(&done); err != nil {
				return err
			}
			if done > 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
				return fmt.Errorf("migration %d: %w", v, err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations(version, applied_at) VALUES (?, ?)`, v, ts(s.now())); err != nil {
				return err
			}
			if v == chainedFindingsVersion {
				// Findings stored before their transitions were chained get
				// one baseline row, so verify can hold the table to the chain.
				return s.chainBaseline(ctx, tx)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

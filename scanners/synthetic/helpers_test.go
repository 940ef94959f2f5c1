package synthetic

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/ledger"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/rules"
	"github.com/vigilsec/vigil/scanners"
)

// loadIdentities writes an identities file and loads it as vigil does.
func loadIdentities(t *testing.T, yaml string) []rules.Identity {
	t.Helper()
	p := filepath.Join(t.TempDir(), "identities.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	ids, err := rules.LoadIdentities(p)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// scan runs the scanner and returns its results by source.
func scan(t *testing.T, s *Scanner) map[string]scanners.Result {
	t.Helper()
	var mu sync.Mutex
	out := map[string]scanners.Result{}
	ctx := scanners.WithRunID(context.Background(), "run-test")
	if err := s.Scan(ctx, nil, func(r scanners.Result) {
		mu.Lock()
		defer mu.Unlock()
		out[r.Source.String()] = r
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func kinds(fs []finding.Finding) map[finding.Kind][]string {
	out := map[finding.Kind][]string{}
	for _, f := range fs {
		out[f.Kind] = append(out[f.Kind], f.Evidence["probe"].(string))
	}
	return out
}

func ledgerRows(t *testing.T, st *store.Store) map[string]ledger.Credential {
	t.Helper()
	rows, err := st.Credentials(context.Background(), ledger.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]ledger.Credential{}
	for _, r := range rows {
		out[r.Identity] = r
	}
	return out
}

// assertAbsent fails if any canary is in the store's files (database, WAL,
// shared memory): the ledger never holds a credential or a value.
func assertAbsent(t *testing.T, st *store.Store, canaries ...string) {
	t.Helper()
	for _, suffix := range []string{"", "-wal", "-shm"} {
		b, err := os.ReadFile(st.Path() + suffix)
		if err != nil {
			continue
		}
		for _, c := range canaries {
			if c != "" && bytes.Contains(b, []byte(c)) {
				t.Errorf("%s holds a secret (%s...)", filepath.Base(st.Path()+suffix), c[:4])
			}
		}
	}
}

// capture wraps an issuer to keep each credential it hands out, so tests
// can use it after revocation and look for its secret where it must not be.
type capture struct {
	Issuer
	mu    sync.Mutex
	creds map[string]Credential // by identity
	// sabotage turns Revoke into a no-op that claims success.
	sabotage bool
}

func (c *capture) Issue(ctx context.Context, id *rules.Identity, rec *ledger.Credential, ttl time.Duration, save func() error) (Credential, error) {
	cr, err := c.Issuer.Issue(ctx, id, rec, ttl, save)
	if err == nil {
		c.mu.Lock()
		if c.creds == nil {
			c.creds = map[string]Credential{}
		}
		c.creds[id.Name] = cr
		c.mu.Unlock()
	}
	return cr, err
}

func (c *capture) Revoke(ctx context.Context, rec *ledger.Credential) error {
	if c.sabotage {
		rec.Revocation = map[string]any{"method": "sabotaged by the test"}
		return nil
	}
	return c.Issuer.Revoke(ctx, rec)
}

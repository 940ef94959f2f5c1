package inventory

import (
	"fmt"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/snapshot"
	"github.com/vigilsec/vigil/rules"
	"github.com/vigilsec/vigil/stores"
)

// Comparer checks live secrets against the declared inventory.
type Comparer struct {
	Declared []rules.Declared
	// IdentityEnv gives the environment of a consumer identity (from the
	// declared identities), to catch a dev identity consuming a prod secret.
	IdentityEnv map[string]string
	Controls    rules.Controls
	Now         time.Time
	// DefaultRotationDays applies when neither the declaration nor the store says.
	DefaultRotationDays int
	DefaultUnusedDays   int
}

func (c *Comparer) mk(kind finding.Kind, sev finding.Severity, path, title, detail string, ev finding.Evidence) finding.Finding {
	ev["path"] = path
	// One name can live in several stores (the same secret name in two
	// regions): the store is part of the identity.
	store, _ := ev["store"].(string)
	return finding.Finding{
		ID: finding.Fingerprint(kind, store, path), Kind: kind, Severity: sev, Scanner: "inventory", Resource: path,
		Title: title, Detail: detail, Status: finding.StatusOpen, Evidence: ev, Controls: c.Controls.For(kind),
	}
}

// envOf reads the environment a path is scoped to from its segments.
func envOf(path string) string {
	for _, seg := range strings.FieldsFunc(strings.ToLower(path), func(r rune) bool { return strings.ContainsRune("/:#._-", r) }) {
		if env := rules.EnvOfWord(seg); env != "" {
			return env
		}
	}
	return ""
}

// effective applies the declaration d (nil: undeclared) over the store's own
// metadata, and the defaults under both.
func (c *Comparer) effective(s stores.Secret, d *rules.Declared) (owner, env string, rot, unused int) {
	owner, env, rot, unused = s.Owner, s.Env, s.RotationDays, c.DefaultUnusedDays
	if d != nil {
		if d.Owner != "" {
			owner = d.Owner
		}
		if d.Env != "" {
			env = d.Env
		}
		if d.RotationDays > 0 {
			rot = d.RotationDays
		}
		if d.UnusedDays > 0 {
			unused = d.UnusedDays
		}
	}
	if rot == 0 {
		rot = c.DefaultRotationDays
	}
	return owner, env, rot, unused
}

// Records returns the secrets as the monthly inventory shows them: with the
// declarations applied. Never a value.
func (c *Comparer) Records(source string, live []stores.Secret) []snapshot.Secret {
	declared := map[string]*rules.Declared{}
	for i := range c.Declared {
		declared[c.Declared[i].Path] = &c.Declared[i]
	}
	out := make([]snapshot.Secret, 0, len(live))
	for _, s := range live {
		d := declared[s.Path]
		owner, env, rot, _ := c.effective(s, d)
		out = append(out, snapshot.Secret{Source: source, Store: s.Store, Path: s.Path, Where: s.Where, Owner: owner, Env: env,
			Declared: d != nil, RotationDays: rot, LastRotated: s.LastSet(), LastAccessed: s.LastAccessed})
	}
	return out
}

// Compare returns the findings for the secrets listed. complete says, per
// declared-path prefix a store covers ("vault:", "github:org/acme/"), whether
// every store covering it listed completely: a declared secret is only
// "missing" when at least one store covers its path and all of them did.
func (c *Comparer) Compare(live []stores.Secret, complete map[string]bool) []finding.Finding {
	now := c.Now
	if now.IsZero() {
		now = time.Now()
	}
	declared := map[string]*rules.Declared{}
	for i := range c.Declared {
		declared[c.Declared[i].Path] = &c.Declared[i]
	}
	seen := map[string]bool{}
	var out []finding.Finding
	for _, s := range live {
		seen[s.Path] = true
		d := declared[s.Path]
		if d == nil && s.ManagedBy != "" {
			// A copy kept by something else (an ExternalSecret's target, an
			// unsealed SealedSecret) or the platform's own token: its
			// source is declared and checked where it lives. Declaring the
			// copy checks it here too.
			continue
		}
		where := s.Store
		if s.Where != "" {
			where = s.Where
		}
		ev := func() finding.Evidence { return finding.Evidence{"store": s.Store, "where": where} }
		if d == nil {
			out = append(out, c.mk(finding.KindInvUndeclared, finding.Medium, s.Path,
				"secret "+s.Path+" is not in the declared inventory",
				"It exists in "+where+" but nobody declared it: declare its owner, environment and rotation, or delete it.", ev()))
		}
		owner, env, rot, unused := c.effective(s, d)
		if owner == "" {
			out = append(out, c.mk(finding.KindInvNoOwner, finding.Medium, s.Path, "secret "+s.Path+" has no owner",
				"Neither the declared inventory nor the store's metadata names an owner; an unowned secret is never rotated.", ev()))
		}
		overdue := false
		if set := s.LastSet(); !set.IsZero() {
			days := int(now.Sub(set).Hours() / 24)
			if days > rot {
				overdue = true
				e := ev()
				e["last_set"], e["age_days"], e["rotation_days"] = set.UTC().Format(time.RFC3339), days, rot
				out = append(out, c.mk(finding.KindInvRotationOverdue, finding.High, s.Path,
					fmt.Sprintf("secret %s was last rotated %d days ago (limit %d)", s.Path, days, rot),
					fmt.Sprintf("Last set %s; rotate it (vigil remediate can).", set.UTC().Format("2006-01-02")), e))
			}
		}
		switch exp := s.Expires; {
		case exp.IsZero():
		case exp.Before(now) && !s.Disabled:
			// Key Vault and Secret Manager keep serving a value past an
			// expiry that is only a date on it: the consumers still use a
			// credential whose life was meant to be over.
			e := ev()
			e["expires"] = exp.UTC().Format(time.RFC3339)
			out = append(out, c.mk(finding.KindInvExpired, finding.High, s.Path,
				fmt.Sprintf("secret %s expired on %s and is still enabled", s.Path, exp.UTC().Format("2006-01-02")),
				"Its expiry date has passed, but the store still serves it: rotate it (and set a new expiry), or disable it if nothing uses it.", e))
		case !overdue && exp.Sub(now) < time.Duration(rot)*24*time.Hour && !s.Disabled:
			e := ev()
			e["expires"], e["rotation_days"] = exp.UTC().Format(time.RFC3339), rot
			out = append(out, c.mk(finding.KindInvRotationOverdue, finding.High, s.Path,
				fmt.Sprintf("secret %s expires on %s, within its %d-day rotation window", s.Path, exp.UTC().Format("2006-01-02"), rot),
				"Rotate it before it expires: a rotation now is planned work, one after expiry is an outage.", e))
		}
		if !s.LastAccessed.IsZero() {
			if days := int(now.Sub(s.LastAccessed).Hours() / 24); days > unused {
				e := ev()
				e["last_accessed"], e["unused_days"] = s.LastAccessed.UTC().Format(time.RFC3339), days
				out = append(out, c.mk(finding.KindInvUnused, finding.Low, s.Path,
					fmt.Sprintf("secret %s unused for %d days", s.Path, days),
					"The store has not seen it read for longer than the limit: if nothing uses it, delete it.", e))
			}
		}
		if pathEnv := envOf(s.Path); env == "prod" && pathEnv != "" && pathEnv != "prod" {
			e := ev()
			e["declared_env"], e["path_env"] = env, pathEnv
			out = append(out, c.mk(finding.KindInvEnvMismatch, finding.High, s.Path,
				fmt.Sprintf("prod secret %s lives under a %s path", s.Path, pathEnv),
				"A production secret stored in a non-production scope is readable by whatever can read that scope.", e))
		}
		if d != nil && env == "prod" {
			for _, consumer := range d.Consumers {
				if ce := c.IdentityEnv[consumer]; ce != "" && ce != "prod" {
					e := ev()
					e["consumer"], e["consumer_env"] = consumer, ce
					out = append(out, c.mk(finding.KindInvEnvMismatch, finding.High, s.Path+"#"+consumer,
						fmt.Sprintf("%s identity %s consumes prod secret %s", ce, consumer, s.Path),
						"A non-production identity should never hold a production secret.", e))
				}
			}
		}
	}
	for _, d := range c.Declared {
		if seen[d.Path] || !coveredCompletely(d.Path, complete) {
			continue
		}
		out = append(out, c.mk(finding.KindInvMissing, finding.Medium, d.Path,
			"declared secret "+d.Path+" does not exist",
			fmt.Sprintf("%s:%d declares it, but its store has no such secret: a job expecting it will fail, or the declaration is stale.", d.File, d.Line),
			finding.Evidence{"declared_in": fmt.Sprintf("%s:%d", d.File, d.Line)}))
	}
	return out
}

// References checks the copies stores reported (ExternalSecrets) against
// what the stores listed: a copy of a path no store has, where every store
// covering that path listed completely, is a dangling reference
// (inventory.missing); a copy in a production namespace of a source under
// a non-production path is inventory.env_mismatch.
func (c *Comparer) References(refs []stores.Reference, live []stores.Secret, complete map[string]bool) []finding.Finding {
	seen := map[string]bool{}
	for _, s := range live {
		seen[s.Path] = true
	}
	var out []finding.Finding
	for _, r := range refs {
		if !seen[r.Path] && coveredCompletely(r.Path, complete) {
			f := c.mk(finding.KindInvMissing, finding.High, r.Path,
				"secret "+r.Path+" that "+r.From+" is synced from does not exist",
				r.Where+" copies it into "+r.From+", but its store has no such secret: the sync fails, and pods starting now get no credential (or a stale one).",
				finding.Evidence{"referenced_by": r.From, "where": r.Where})
			f.ID = finding.Fingerprint(finding.KindInvMissing, r.Store, r.From, r.Path)
			out = append(out, f)
		}
		if fromEnv, pathEnv := envOf(r.From), envOf(r.Path); fromEnv == "prod" && pathEnv != "" && pathEnv != "prod" {
			f := c.mk(finding.KindInvEnvMismatch, finding.High, r.From,
				fmt.Sprintf("production %s is synced from a %s path, %s", r.From, pathEnv, r.Path),
				r.Where+" fills a production Secret from a non-production secret: production then runs on a credential that non-production identities can read.",
				finding.Evidence{"store": r.Store, "source": r.Path, "where": r.Where, "path_env": pathEnv})
			f.ID = finding.Fingerprint(finding.KindInvEnvMismatch, r.Store, r.From, r.Path)
			out = append(out, f)
		}
	}
	return out
}

// coveredCompletely reports whether some store covers path and every store
// that covers it was listed completely.
func coveredCompletely(path string, complete map[string]bool) bool {
	covered := false
	for p, ok := range complete {
		if strings.HasPrefix(path, p) {
			if !ok {
				return false
			}
			covered = true
		}
	}
	return covered
}

package inventory

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/scanners"
	"github.com/vigilsec/vigil/stores"
)

// Leak is an open leak finding whose secret hash can be matched.
type Leak struct {
	FindingID string
	Kind      finding.Kind
	Resource  string
}

// LeakHashes returns open leak findings by secret hash. The run wiring reads
// them from the store after the leak scanner ran.
type LeakHashes func(ctx context.Context) (map[string][]Leak, error)

// Reporter is a store that also reports problems it saw while listing:
// plaintext credentials where references belong.
type Reporter interface {
	Reported() []finding.Finding
}

// Referrer is a store whose secrets are copies of other stores' secrets
// (the Kubernetes store's ExternalSecrets): the references are checked
// against every store's listing.
type Referrer interface {
	References() []stores.Reference
}

// Scanner is the inventory scanner.
type Scanner struct {
	Stores   []stores.Store
	Comparer *Comparer
	Leaks    LeakHashes // nil: no correlation
	Log      *slog.Logger
	// Progress counts secrets as stores list them (thousands take minutes).
	Progress scanners.Progress
}

// Name implements scanners.Scanner.
func (s *Scanner) Name() string { return "inventory" }

func prefix(store string) string {
	p, _, _ := strings.Cut(store, ":")
	return p
}

// Scan lists every store and emits one result per store (its secrets'
// findings), one per store type for declared secrets that are missing, and
// one for leak correlation. A store that fails is partial: its previous
// findings stay as they were, and no declared secret of its type is called
// missing on the strength of an incomplete listing.
func (s *Scanner) Scan(ctx context.Context, _ scanners.StateReader, emit func(scanners.Result)) error {
	if s.Log == nil {
		s.Log = slog.New(slog.DiscardHandler)
	}
	var live []stores.Secret
	byName := map[string][]stores.Secret{}
	complete := map[string]bool{} // covered prefix -> every store covering it listed completely
	failed := map[string]error{}
	progress := scanners.ProgressOrNop(s.Progress)
	for _, st := range s.Stores {
		n := 0
		err := st.List(ctx, func(sec stores.Secret) {
			live = append(live, sec)
			byName[st.Name()] = append(byName[st.Name()], sec)
			n++
			progress.Items("secrets listed", 1)
		})
		for _, p := range st.Covers() {
			if _, ok := complete[p]; !ok {
				complete[p] = true
			}
			if err != nil {
				complete[p] = false
			}
		}
		if err != nil {
			failed[st.Name()] = err
		}
		s.Log.Debug("store listed", "store", st.Name(), "secrets", n, "err", err)
	}
	// The "missing" findings are stored per store type (the declared
	// path's scheme); a type is settled only when all its stores listed.
	typeComplete := map[string]bool{}
	for p, ok := range complete {
		t := prefix(p)
		if prev, seen := typeComplete[t]; !seen || prev {
			typeComplete[t] = ok
		}
	}
	byStore := map[string][]finding.Finding{}
	var missing = map[string][]finding.Finding{}
	var refs []stores.Reference
	for _, st := range s.Stores {
		if r, ok := stores.Unwrap(st).(Referrer); ok {
			refs = append(refs, r.References()...)
		}
	}
	found := s.Comparer.Compare(live, complete)
	for _, f := range append(found, s.Comparer.References(refs, live, complete)...) {
		if f.Kind == finding.KindInvMissing {
			p := prefix(f.Resource)
			missing[p] = append(missing[p], f)
			continue
		}
		st := f.Evidence.String(finding.EvStore)
		byStore[st] = append(byStore[st], f)
	}
	for _, st := range s.Stores {
		res := scanners.Result{Source: scanners.Source{Scanner: "inventory", Name: st.Name()}, Mode: scanners.Full, Findings: byStore[st.Name()]}
		if r, ok := stores.Unwrap(st).(Reporter); ok {
			res.Findings = append(res.Findings, r.Reported()...)
		}
		if err := failed[st.Name()]; err != nil {
			res.Mode, res.Err = scanners.Partial, fmt.Errorf("inventory %s: %w", st.Name(), err)
		} else {
			res.Secrets = s.Comparer.Records(res.Source.String(), byName[st.Name()])
		}
		emit(res)
	}
	for t, ok := range typeComplete {
		if ok {
			emit(scanners.Result{Source: scanners.Source{Scanner: "inventory", Name: "missing", Part: t}, Mode: scanners.Full, Findings: missing[t]})
		}
	}
	if s.Leaks != nil {
		res := scanners.Result{Source: scanners.Source{Scanner: "inventory", Name: "leak.live"}, Mode: scanners.Full}
		if len(failed) > 0 {
			res.Mode = scanners.Partial // a leak matching a store we could not read is unknown, not resolved
		}
		leaks, err := s.Leaks(ctx)
		if err != nil {
			res.Mode, res.Err = scanners.Partial, fmt.Errorf("inventory: read leak findings: %w", err)
		}
		res.Findings = s.correlate(live, leaks)
		emit(res)
	}
	return nil
}

// correlate matches leaked values with store values by keyed hash.
func (s *Scanner) correlate(live []stores.Secret, leaks map[string][]Leak) []finding.Finding {
	var out []finding.Finding
	for _, sec := range live {
		for _, h := range sec.Hashes {
			for _, l := range leaks[h.Hash] {
				state := "the current value"
				if !h.Current {
					state = "a previous version (" + h.Version + ")"
				}
				field := ""
				if h.Field != "" {
					field = " (field " + h.Field + ")"
				}
				owner := sec.Owner
				if owner == "" {
					owner = "nobody (no owner declared)"
				}
				out = append(out, finding.Finding{
					ID:       finding.Fingerprint(finding.KindLeakLive, l.FindingID, sec.Store, sec.Path, h.Version, h.Field),
					Kind:     finding.KindLeakLive,
					Severity: finding.Critical,
					Scanner:  "inventory",
					Resource: sec.Path,
					Title:    fmt.Sprintf("leaked value is %s of %s%s", state, sec.Path, field),
					Detail: fmt.Sprintf("The secret leaked at %s equals %s of %s%s in %s, owned by %s. Rotate it now; a leak of a live value is an incident.",
						l.Resource, state, sec.Path, field, sec.Store, owner),
					Status: finding.StatusOpen,
					Evidence: finding.Evidence{
						"leak_finding": l.FindingID, "leak_kind": l.Kind, "leak_resource": l.Resource, "store": sec.Store,
						"path": sec.Path, "version": h.Version, "field": h.Field, "current": h.Current, "owner": sec.Owner,
						"secret_hash": h.Hash,
					},
					Controls: s.Comparer.Controls.For(finding.KindLeakLive),
				})
			}
		}
	}
	return out
}

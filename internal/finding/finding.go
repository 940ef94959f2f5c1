// Package finding holds vigil's one result type, its stable identity and its
// severities. Scanners produce Findings, the store persists them and reports
// format them; none of them needs to know about the others.
package finding

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// Severity orders findings for --fail-on and for reports.
type Severity string

// The severities, from most to least urgent.
const (
	Critical Severity = "critical"
	High     Severity = "high"
	Medium   Severity = "medium"
	Low      Severity = "low"
	Info     Severity = "info"
)

// Rank returns a number that grows with urgency (info=0 ... critical=4), or -1
// for an unknown severity.
func (s Severity) Rank() int {
	switch s {
	case Critical:
		return 4
	case High:
		return 3
	case Medium:
		return 2
	case Low:
		return 1
	case Info:
		return 0
	}
	return -1
}

// ParseSeverity validates a severity name given by a user (e.g. --fail-on).
func ParseSeverity(s string) (Severity, error) {
	sev := Severity(strings.ToLower(strings.TrimSpace(s)))
	if sev.Rank() < 0 {
		// The value is not echoed: a config typo can hold anything, a
		// pasted secret included.
		return "", fmt.Errorf("not a severity (want critical, high, medium, low or info)")
	}
	return sev, nil
}

// AtLeast reports whether s is as urgent as min or more.
func (s Severity) AtLeast(min Severity) bool { return s.Rank() >= min.Rank() }

// Status is where a finding stands in its lifecycle.
type Status string

// Statuses. A resolved finding seen again goes back to open and is counted as
// regressed for that run (see Transition).
const (
	StatusOpen       Status = "open"
	StatusResolved   Status = "resolved"
	StatusSuppressed Status = "suppressed"
)

// Transition says what a run did to a finding, for "compared with last night".
type Transition string

// Transitions recorded per run.
const (
	New       Transition = "new"
	StillOpen Transition = "open"
	Resolved  Transition = "resolved"
	Regressed Transition = "regressed"
	// Suppressed: an open finding was accepted as a risk (not per run).
	Suppressed Transition = "suppressed"
)

// Kinds of findings (see the design contract). Only the ones a scanner emits
// today are listed; the others arrive with their scanners.
const (
	KindLeakGit  = "leak.git"
	KindLeakFile = "leak.file"
	KindLeakLog  = "leak.log"
	KindLeakLive = "leak.live"
)

// Evidence is what supports a finding. It is free-form per kind, but by
// contract never holds a secret: only redactions and keyed hashes.
type Evidence map[string]any

// Finding is one problem found by a scanner.
type Finding struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`
	Severity  Severity  `json:"severity"`
	Scanner   string    `json:"scanner"`
	Resource  string    `json:"resource"`
	Title     string    `json:"title"`
	Detail    string    `json:"detail"`
	Status    Status    `json:"status"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	RunID     string    `json:"run_id"`
	Evidence  Evidence  `json:"evidence"`
	Controls  []string  `json:"controls"`
	// Transition is what the run being reported did to the finding (new,
	// regressed, resolved); set only in a run's own output, where "status"
	// alone would call a first sighting merely "open".
	Transition Transition `json:"transition,omitempty"`

	// Source names the unit that was scanned (a repo, a directory, a log
	// file). A full scan of a source resolves that source's findings it did
	// not see again. It is stored but not part of the JSON contract.
	Source string `json:"-"`
	// Location is where a person goes to look; reports (SARIF) use it.
	Location *Location `json:"-"`
}

// Location points into a file, optionally at a commit.
type Location struct {
	Repo    string // repository name or path, for git findings
	Commit  string
	Path    string // file path, relative to the repository or scan root where possible
	Line    int
	EndLine int
	Column  int
}

// Fingerprint returns the stable id of a problem: the hex SHA-256 of its kind
// and the parts that make it distinct. Callers pass the parts that identify
// the problem and nothing that changes from run to run (no timestamps, no run
// ids), so the same problem keeps its id forever.
func Fingerprint(kind string, parts ...string) string {
	h := sha256.New()
	h.Write([]byte(kind))
	for _, p := range parts {
		// A separator that can't appear in the parts keeps ("a","bc") and
		// ("ab","c") apart.
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// IAM drift kinds.
const (
	KindIAMExcessGrant         = "iam.excess_grant"
	KindIAMMissingGrant        = "iam.missing_grant"
	KindIAMWildcard            = "iam.wildcard"
	KindIAMAdmin               = "iam.admin"
	KindIAMUndeclaredPrincipal = "iam.undeclared_principal"
	KindIAMOldKey              = "iam.old_key"
	KindIAMUnusedKey           = "iam.unused_key"
	KindIAMUnparsablePolicy    = "iam.unparsable_policy"
)

// Inventory kinds.
const (
	KindInvUndeclared        = "inventory.undeclared"
	KindInvMissing           = "inventory.missing"
	KindInvNoOwner           = "inventory.no_owner"
	KindInvRotationOverdue   = "inventory.rotation_overdue"
	KindInvUnused            = "inventory.unused"
	KindInvEnvMismatch       = "inventory.env_mismatch"
	KindInvPlaintextVariable = "inventory.plaintext_variable"
	KindInvPlaintextConfig   = "inventory.plaintext_config"
)

// Synthetic check kinds.
const (
	KindSynDeniedAllowed = "synthetic.denied_allowed"
	KindSynAllowedDenied = "synthetic.allowed_denied"
	KindSynNotRevoked    = "synthetic.not_revoked"
)

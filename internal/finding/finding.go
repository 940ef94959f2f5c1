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

// Coverage says what a scan's findings prove about the findings of the same
// source that they lack. Scanners decide it; the store acts on it.
type Coverage int

const (
	// Full: the whole source was read, so an open finding of the source
	// that is not among them is gone and becomes resolved.
	Full Coverage = iota
	// Incremental: only what is new since the stored state was read, and
	// the scanner checked that what it read before is unchanged (no history
	// rewrite, no log rotation, the same rule set): open findings not among
	// them are still present and their last_seen advances.
	Incremental
	// Partial: the source failed part way or could not be read whole: the
	// findings are real, but nothing is resolved or carried forward, and the
	// scan state does not advance.
	Partial
)

// Kind is what sort of problem a finding is ("leak.git"): the part before
// the dot names the scanner that emits it.
type Kind string

// Kinds of findings (the design contract's table). Only the ones a scanner
// emits are listed; the others arrive with their scanners.
const (
	KindLeakGit  Kind = "leak.git"
	KindLeakFile Kind = "leak.file"
	KindLeakLog  Kind = "leak.log"
	KindLeakLive Kind = "leak.live"
	// KindLeakGitHubAlert is a GitHub secret-scanning alert that no vigil
	// finding stands at the location of (one that does is carried by it).
	KindLeakGitHubAlert Kind = "leak.github_alert"
	// KindLeakRepoDeleted marks a scanned repository that left its
	// organisation: its findings are kept, not resolved by the absence.
	KindLeakRepoDeleted Kind = "leak.repo_deleted"

	KindIAMExcessGrant         Kind = "iam.excess_grant"
	KindIAMMissingGrant        Kind = "iam.missing_grant"
	KindIAMWildcard            Kind = "iam.wildcard"
	KindIAMAdmin               Kind = "iam.admin"
	KindIAMUndeclaredPrincipal Kind = "iam.undeclared_principal"
	KindIAMOldKey              Kind = "iam.old_key"
	KindIAMUnusedKey           Kind = "iam.unused_key"
	KindIAMUnparsablePolicy    Kind = "iam.unparsable_policy"
	KindIAMTrustTooBroad       Kind = "iam.trust_too_broad"
	KindIAMUndeclaredTrust     Kind = "iam.undeclared_trust"
	KindIAMResourcePolicy      Kind = "iam.resource_policy_too_broad"
	KindIAMLongLivedKeyInCI    Kind = "iam.long_lived_key_in_ci"
	// Kubernetes RBAC of a declared service account, both ways.
	KindIAMRBACExcess  Kind = "iam.rbac_excess_grant"
	KindIAMRBACMissing Kind = "iam.rbac_missing_grant"

	KindInvUndeclared        Kind = "inventory.undeclared"
	KindInvMissing           Kind = "inventory.missing"
	KindInvNoOwner           Kind = "inventory.no_owner"
	KindInvRotationOverdue   Kind = "inventory.rotation_overdue"
	KindInvUnused            Kind = "inventory.unused"
	KindInvEnvMismatch       Kind = "inventory.env_mismatch"
	KindInvPlaintextVariable Kind = "inventory.plaintext_variable"
	KindInvPlaintextConfig   Kind = "inventory.plaintext_config"
	KindInvExpired           Kind = "inventory.expired"
	// A Kubernetes Secret made by hand among ones External Secrets
	// Operator manages; an ExternalSecret or PushSecret that fails to sync.
	KindInvUnmanaged  Kind = "inventory.unmanaged"
	KindInvSyncFailed Kind = "inventory.sync_failed"
	// A credential in a CI/CD variable that is masked but not protected
	// (GitLab): every branch's pipeline gets it.
	KindInvUnprotectedVariable Kind = "inventory.unprotected_variable"
	// An access or service token that never expires (GitLab, Doppler).
	KindInvTokenNoExpiry Kind = "inventory.token_no_expiry"

	KindSynDeniedAllowed Kind = "synthetic.denied_allowed"
	KindSynAllowedDenied Kind = "synthetic.allowed_denied"
	KindSynNotRevoked    Kind = "synthetic.not_revoked"
)

// LeakKinds are the kinds of a secret found where it leaked: their evidence
// carries the keyed hash that leak.live and remediation match on.
var LeakKinds = []Kind{KindLeakGit, KindLeakFile, KindLeakLog, KindLeakGitHubAlert}

// Strings returns kinds as strings, for store filters.
func Strings(kinds ...Kind) []string {
	out := make([]string, len(kinds))
	for i, k := range kinds {
		out[i] = string(k)
	}
	return out
}

// Evidence is what supports a finding. It is free-form per kind, but by
// contract never holds a secret: only redactions and keyed hashes. The keys
// other packages read have names here and typed accessors below, so a
// misspelt key or a value of another type reads as absent, never a panic.
type Evidence map[string]any

// Evidence keys read across packages.
const (
	EvRule            = "rule"             // leaks: the gitleaks rule id
	EvRedacted        = "redacted"         // leaks: the value, redacted
	EvSecretHash      = "secret_hash"      // leaks, leak.live: the keyed hash of the value
	EvCommit          = "commit"           // leak.git
	EvStore           = "store"            // inventory: the store instance
	EvPath            = "path"             // inventory: the declared-style path
	EvCurrent         = "current"          // leak.live: the current value (true) or an earlier one
	EvLeakFinding     = "leak_finding"     // leak.live: the leak it matched
	EvPolicy          = "policy"           // iam: the policy that grants
	EvVia             = "via"              // iam: the group it is granted through
	EvSuggestedPolicy = "suggested_policy" // iam.excess_grant: the narrowed document
	EvSuggestedTrust  = "suggested_trust"  // iam.trust_too_broad, iam.undeclared_trust: the trust policy cut to the declaration
	EvNarrowRefused   = "narrow_refused"   // why no suggested_trust
	EvAccessKeyID     = "access_key_id"    // iam.old_key, iam.unused_key
	EvAccount         = "account"          // iam: the AWS account id
	EvAccountName     = "account_name"     // iam: the aws.accounts entry it was read with
)

// String returns the string at key, or "".
func (e Evidence) String(key string) string {
	s, _ := e[key].(string)
	return s
}

// Bool returns the bool at key and whether there is one.
func (e Evidence) Bool(key string) (v, ok bool) {
	v, ok = e[key].(bool)
	return v, ok
}

// Finding is one problem found by a scanner.
type Finding struct {
	ID        string    `json:"id"`
	Kind      Kind      `json:"kind"`
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

// ShortID is the form of an id tables and messages print: its first 12
// characters, which commands accept back as a unique prefix.
func ShortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// Fingerprint returns the stable id of a problem: the hex SHA-256 of its kind
// and the parts that make it distinct. Callers pass the parts that identify
// the problem and nothing that changes from run to run (no timestamps, no run
// ids), so the same problem keeps its id forever.
func Fingerprint(kind Kind, parts ...string) string {
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

// TextSecret is a secret a detector found in a value (a CI variable, a
// config value): its rule, a redaction and the keyed hash, never the value.
// It lives here, beside Finding, so that the leak scanner and the stores
// that ask it (GitHub's variables) share it without either importing the
// other.
type TextSecret struct {
	Rule     string
	Redacted string
	Hash     string
}

// Package ledger holds the credential ledger's rows: every credential vigil
// mints for itself (synthetic checks, remediation's probes), from the intent
// to issue it to its revocation and clean-up. Never the credential: only its
// public id (an access key id, a token accessor). The store persists these
// rows; the synthetic scanner writes them through its Ledger interface.
package ledger

import "time"

// Credential ledger statuses. A row is written before the credential is
// asked for (issuing), so a crash at any later point leaves a row that the
// next run finds and revokes.
const (
	Issuing   = "issuing"    // asked for; the answer may not have been recorded
	NotIssued = "not_issued" // the issuer refused: nothing exists
	Issued    = "issued"     // exists and is in use
	Revoked   = "revoked"    // revoked; the issuer may still need a clean-up
	Cleaned   = "cleaned"    // revoked and every trace of the revocation removed
)

// Credential is one ledger row. It never holds the credential itself.
type Credential struct {
	ID       string
	RunID    string
	Issuer   string // aws:<account> or vault:<store>
	Identity string
	Target   string
	// CredentialID is the public handle: an access key id or a token
	// accessor.
	CredentialID string
	Scope        map[string]any
	Status       string
	IssuedAt     time.Time
	ExpiresAt    time.Time
	RevokedAt    time.Time
	CleanedAt    time.Time
	// Revocation says how it was revoked and whether that was verified.
	Revocation map[string]any
	Probes     []ProbeRecord
	CreatedAt  time.Time
}

// ProbeRecord is one probe a credential ran and what happened.
type ProbeRecord struct {
	Probe   string    `json:"probe"`
	Expect  string    `json:"expect"`
	Outcome string    `json:"outcome"` // allowed | denied | inconclusive
	Error   string    `json:"error,omitempty"`
	At      time.Time `json:"at"`
}

// Open reports whether the row still needs work: revocation, or the
// clean-up that follows it.
func (c *Credential) Open() bool {
	return c.Status == Issuing || c.Status == Issued || c.Status == Revoked
}

// Filter selects ledger rows.
type Filter struct {
	// Open selects rows that still need revocation or clean-up.
	Open bool
	// From and To bound created_at ([From, To)); zero is an open end.
	From, To time.Time
}

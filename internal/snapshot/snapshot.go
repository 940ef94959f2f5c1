// Package snapshot holds the inventory snapshot's rows: what each secret
// store held, as of a complete listing, with the declared inventory applied.
// The inventory scanner produces them, the store keeps one snapshot per
// store and month, and the monthly report reads them. Never a value.
package snapshot

import "time"

// Secret is one secret as a complete inventory listing saw it, with the
// declared inventory applied (owner, env, rotation). Never a value.
type Secret struct {
	Source       string
	Store        string
	Path         string
	Where        string
	Owner        string
	Env          string
	Declared     bool
	RotationDays int
	LastRotated  time.Time
	LastAccessed time.Time
	ListedAt     time.Time
}

package rules

import (
	"fmt"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/vigilsec/vigil/internal/config"
)

// Probes declares what the synthetic check proves for an identity: calls the
// job must be able to make (Allow) and calls it must be refused (Deny). Each
// is one real, read-only API call made with a short-lived credential vigil
// mints for the check. Write probes are allowed only on a Canary target,
// which exists for nothing else.
type Probes struct {
	Allow  []Probe  `yaml:"allow"`
	Deny   []Probe  `yaml:"deny"`
	Canary []string `yaml:"canary"`
	// Duration is how long the check is expected to take; the credential
	// lives this plus a margin (and at least what the issuer requires).
	Duration time.Duration `yaml:"duration"`
	Line     int           `yaml:"-"`
}

// Probe is "action target", e.g. "secretsmanager:GetSecretValue prod/db" or
// "read secret/data/dev/etl". The target may be empty for actions on no
// resource ("iam:ListUsers").
type Probe struct {
	Action string
	Target string
	// Expect is "allow" or "deny", from the list the probe is in.
	Expect string
	Line   int
}

// Probe expectations.
const (
	ExpectAllow = "allow"
	ExpectDeny  = "deny"
)

// String is the probe as declared.
func (p Probe) String() string { return strings.TrimSpace(p.Action + " " + p.Target) }

// UnmarshalYAML reads the "action target" scalar form.
func (p *Probe) UnmarshalYAML(n *yaml.Node) error {
	// A TypeError, so that yaml.v3 reports it with the others and its line
	// is shifted like theirs.
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: a probe is a string \"action target\"", n.Line)}}
	}
	f := strings.Fields(n.Value)
	if len(f) == 0 || len(f) > 2 {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: a probe is \"action target\" (e.g. \"s3:ListBucket warehouse/exports\")", n.Line)}}
	}
	// Line is set by LoadIdentities from the file's own nodes: n here is a
	// re-encoded copy whose lines are relative.
	p.Action = f[0]
	if len(f) == 2 {
		p.Target = f[1]
	}
	return nil
}

// UnmarshalYAML decodes strictly and marks each probe with the list it is
// in. Lines are set by LoadIdentities (see Probe.UnmarshalYAML).
func (p *Probes) UnmarshalYAML(n *yaml.Node) error {
	type plain Probes
	var v plain
	if err := config.DecodeStrict(n, &v); err != nil {
		return err
	}
	*p = Probes(v)
	for i := range p.Allow {
		p.Allow[i].Expect = ExpectAllow
	}
	for i := range p.Deny {
		p.Deny[i].Expect = ExpectDeny
	}
	return nil
}

// All returns the allow probes then the deny probes.
func (p *Probes) All() []Probe {
	if p == nil {
		return nil
	}
	return append(append([]Probe(nil), p.Allow...), p.Deny...)
}

// IsCanary reports whether target is declared as a canary.
func (p *Probes) IsCanary(target string) bool {
	for _, c := range p.Canary {
		if c == target {
			return true
		}
	}
	return false
}

package rules

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"

	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/internal/policy"
	"github.com/vigilsec/vigil/internal/trust"
)

// Identity is a job identity and what it is declared to need: its
// least-privilege grants (an IAM policy JSON file, a short YAML list of
// actions and resources, or both) and key hygiene limits.
type Identity struct {
	Name string `yaml:"name"`
	// Kind is role or user (AWS IAM), vault (a Vault/OpenBao token with
	// Policies, checked only by the synthetic scanner), or kubernetes (a
	// service account: Cluster, Namespace, ServiceAccount).
	Kind string `yaml:"kind"`
	// ARN identifies the live principal; without it, Kind and Name do (in
	// every account scanned).
	ARN          string  `yaml:"arn"`
	Account      string  `yaml:"account"`
	Owner        string  `yaml:"owner"`
	Env          string  `yaml:"env"`
	RotationDays int     `yaml:"rotation_days"`
	UnusedDays   int     `yaml:"unused_days"`
	PolicyFile   string  `yaml:"policy"`
	Grants       []Grant `yaml:"grants"`
	// Vault names the inventory.vault store a vault identity lives in;
	// Policies are the Vault policies its token carries.
	Vault    string   `yaml:"vault"`
	Policies []string `yaml:"policies"`
	// Cluster names the inventory.kubernetes cluster a kubernetes
	// identity lives in; Namespace and ServiceAccount name it there. RBAC
	// is what it is declared to be allowed, compared with the Roles and
	// ClusterRoles bound to it, both ways.
	Cluster        string     `yaml:"cluster"`
	Namespace      string     `yaml:"namespace"`
	ServiceAccount string     `yaml:"service_account"`
	RBAC           []RBACRule `yaml:"rbac"`
	// Probes are the synthetic check's expected-allow and expected-deny
	// calls; without them the identity is not checked.
	Probes *Probes `yaml:"probes"`
	// Trust declares who may assume a role (principals, accounts, OIDC
	// subjects); without it only too-wide trust is reported.
	Trust *trust.Declared `yaml:"trust"`

	// Policy is the declared grants as one document (policy file and grants).
	Policy *policy.Document `yaml:"-"`
	// PolicyName names the declaration in findings: the policy file, or
	// "<identities file>#<name>" for YAML grants.
	PolicyName string `yaml:"-"`
	File       string `yaml:"-"`
	Line       int    `yaml:"-"`
}

// RBACRule is one declared Kubernetes permission: verbs on resources (of
// api_groups, default the core group), by name or all, in a namespace
// (default the identity's own; "*" for cluster-wide).
type RBACRule struct {
	Verbs     []string `yaml:"verbs"`
	Resources []string `yaml:"resources"`
	APIGroups []string `yaml:"api_groups"`
	Names     []string `yaml:"names"`
	Namespace string   `yaml:"namespace"`
}

// Identity kinds.
const (
	KindRole       = "role"
	KindUser       = "user"
	KindVault      = "vault"
	KindKubernetes = "kubernetes"
)

// probeLines sets the probes' lines from the identity's own node: decoding
// goes through a re-encoded copy whose lines are relative (and lose blank
// lines), while errors about a probe must name the file's line.
func probeLines(n *yaml.Node, p *Probes) {
	v := mapValue(n, "probes")
	if v == nil {
		return
	}
	p.Line = v.Line
	for _, l := range []struct {
		key    string
		probes []Probe
	}{{"allow", p.Allow}, {"deny", p.Deny}} {
		if seq := mapValue(v, l.key); seq != nil {
			for i := range l.probes {
				if i < len(seq.Content) {
					l.probes[i].Line = seq.Content[i].Line
				}
			}
		}
	}
}

func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// Grant is the short YAML form of one Allow statement.
type Grant struct {
	Actions   []string                          `yaml:"actions"`
	Resources []string                          `yaml:"resources"`
	Condition map[string]map[string]policy.List `yaml:"condition"`
	// Effect defaults to Allow; Deny declares what must never be granted.
	Effect string `yaml:"effect"`
}

type identitiesFile struct {
	Identities []yaml.Node `yaml:"identities"`
}

// Defaults for key hygiene when an identity does not set them.
const (
	DefaultRotationDays = 90
	DefaultUnusedDays   = 90
)

// LoadIdentities reads a declared identities file. Policy files are relative
// to it. Every error names the file and line: of the YAML entry, or of the
// JSON inside a policy file.
func LoadIdentities(path string) ([]Identity, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &FileError{File: path, Msg: err.Error()}
	}
	var f identitiesFile
	if err := config.DecodeDocument(path, data, &f); err != nil {
		return nil, err
	}
	var out []Identity
	var errs []error
	seen := map[string]int{}
	for _, n := range f.Identities {
		var id Identity
		if err := config.DecodeStrict(&n, &id); err != nil {
			errs = append(errs, config.YAMLError(path, err))
			continue
		}
		id.File, id.Line = path, n.Line
		bad := func(format string, a ...any) {
			errs = append(errs, &FileError{File: path, Line: n.Line, Msg: fmt.Sprintf(format, a...)})
		}
		if id.Name == "" {
			bad("identity needs a name")
			continue
		}
		if prev, ok := seen[id.Name]; ok {
			bad("identity %q is already declared on line %d", id.Name, prev)
		}
		seen[id.Name] = n.Line
		switch id.Kind {
		case KindRole, KindUser:
		case KindVault:
			if id.Vault == "" || len(id.Policies) == 0 {
				bad("identity %q: kind vault needs vault (a store name) and policies", id.Name)
			}
		case KindKubernetes:
			if id.Cluster == "" || id.Namespace == "" || id.ServiceAccount == "" {
				bad("identity %q: kind kubernetes needs cluster (an inventory.kubernetes name), namespace and service_account", id.Name)
			}
			for i, r := range id.RBAC {
				if len(r.Verbs) == 0 || len(r.Resources) == 0 {
					bad("identity %q: rbac[%d] needs verbs and resources", id.Name, i)
				}
				if id.RBAC[i].Namespace == "" {
					id.RBAC[i].Namespace = id.Namespace
				}
				if len(r.APIGroups) == 0 {
					id.RBAC[i].APIGroups = []string{""}
				}
			}
		case "":
			bad("identity %q: kind is required (role, user, vault or kubernetes)", id.Name)
		default:
			bad("identity %q: kind is not role, user, vault or kubernetes", id.Name)
		}
		if id.RBAC != nil && id.Kind != KindKubernetes {
			bad("identity %q: rbac is declared for kubernetes identities only", id.Name)
		}
		if id.Probes != nil {
			probeLines(&n, id.Probes)
			if id.Kind == KindUser {
				bad("identity %q: probes need a role or a vault identity (vigil mints credentials by AssumeRole or a Vault token, never by creating user keys)", id.Name)
			}
			if len(id.Probes.All()) == 0 {
				bad("identity %q: probes lists no allow or deny probe", id.Name)
			}
			if id.Probes.Duration < 0 {
				bad("identity %q: probes.duration is negative", id.Name)
			}
		}
		if id.Trust != nil && id.Kind != KindRole {
			bad("identity %q: trust is declared for roles only (who may assume them)", id.Name)
		}
		if id.Trust != nil {
			for i, o := range id.Trust.OIDC {
				if o.Provider == "" {
					bad("identity %q: trust.oidc[%d] needs a provider (the issuer, e.g. token.actions.githubusercontent.com)", id.Name, i)
				}
			}
		}
		if id.RotationDays == 0 {
			id.RotationDays = DefaultRotationDays
		}
		if id.UnusedDays == 0 {
			id.UnusedDays = DefaultUnusedDays
		}
		doc := &policy.Document{Version: "2012-10-17"}
		if id.PolicyFile != "" {
			p := id.PolicyFile
			if !filepath.IsAbs(p) {
				p = filepath.Join(filepath.Dir(path), p)
			}
			b, err := os.ReadFile(p)
			if err != nil {
				bad("identity %q: policy: %v", id.Name, err)
				continue
			}
			d, err := policy.Parse(string(b))
			if err != nil {
				var se *policy.SyntaxError
				if errors.As(err, &se) {
					errs = append(errs, &FileError{File: p, Line: se.Line, Msg: fmt.Sprintf("policy of identity %q: %s", id.Name, se.Msg)})
				} else {
					errs = append(errs, &FileError{File: p, Msg: err.Error()})
				}
				continue
			}
			doc.Statement = append(doc.Statement, d.Statement...)
			id.PolicyName = p
		}
		for i, g := range id.Grants {
			eff := g.Effect
			if eff == "" {
				eff = "Allow"
			}
			if len(g.Actions) == 0 || len(g.Resources) == 0 {
				bad("identity %q: grants[%d] needs actions and resources", id.Name, i)
				continue
			}
			doc.Statement = append(doc.Statement, policy.Statement{
				Sid: fmt.Sprintf("grant%d", i), Effect: eff, Action: g.Actions, Resource: g.Resources, Condition: g.Condition,
			})
		}
		if id.PolicyName == "" {
			id.PolicyName = path + "#" + id.Name
		}
		if len(doc.Statement) > 0 {
			if err := doc.Validate(); err != nil {
				bad("identity %q: %v", id.Name, err)
				continue
			}
		}
		id.Policy = doc
		out = append(out, id)
	}
	return out, errors.Join(errs...)
}

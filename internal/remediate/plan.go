package remediate

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/rules"
)

// Plan is what remediation would do: actions, and the findings it leaves to
// a person, each with the reason.
type Plan struct {
	ID      string         `json:"id"`
	Actions []store.Action `json:"actions"`
	Skipped []Skip         `json:"skipped"`
}

// Skip is a finding the plan does not act on.
type Skip struct {
	Finding  string       `json:"finding"`
	Kind     finding.Kind `json:"kind"`
	Resource string       `json:"resource"`
	Reason   string       `json:"reason"`
}

// KeyOwner is the principal an access key belongs to.
type KeyOwner struct {
	Account string
	User    string // user name
	ARN     string
	KeyID   string
	Active  bool
}

// Planner turns open findings into a plan.
type Planner struct {
	Store  *store.Store
	Engine *Engine
	// Declared is the declared inventory; a secret is rotated only when its
	// declaration says how (rotation:).
	Declared []rules.Declared
	// Identities are the declared identities; a narrowing is verified with
	// the matching one's probes.
	Identities []rules.Identity
	// VaultMounts lists each Vault store's KV mounts, to split a path into
	// mount and secret.
	VaultMounts map[string][]string
	// Keys returns the live access keys by keyed hash of the key id, to
	// find the principal whose key leaked; nil: no quarantine is planned.
	Keys func(ctx context.Context) (map[string]KeyOwner, error)
}

type candidate struct {
	kind, target string
	findings     []finding.Finding
	title, why   string
	spec         any
}

// Plan builds and stores a plan for the open findings (only those in ids,
// when given).
func (p *Planner) Plan(ctx context.Context, ids []string) (*Plan, error) {
	fs, err := p.Store.Findings(ctx, store.Filter{Status: []string{string(finding.StatusOpen)}, IDs: ids})
	if err != nil {
		return nil, err
	}
	if len(ids) > 0 {
		if fs, err = p.withPrincipalFindings(ctx, fs); err != nil {
			return nil, err
		}
	}
	plan := &Plan{ID: newID("plan-")}
	found := map[string]bool{}
	for _, f := range fs {
		found[f.ID] = true
	}
	for _, id := range ids {
		if !found[id] {
			plan.Skipped = append(plan.Skipped, Skip{Finding: id, Reason: "no open finding has this id"})
		}
	}
	skip := func(f finding.Finding, format string, a ...any) {
		plan.Skipped = append(plan.Skipped, Skip{Finding: f.ID, Kind: f.Kind, Resource: f.Resource, Reason: fmt.Sprintf(format, a...)})
	}

	byTarget := map[string]*candidate{}
	var order []string
	add := func(c candidate, f finding.Finding) {
		key := c.kind + " " + c.target
		if have, ok := byTarget[key]; ok {
			// Same target, same spec (a narrowing's is shared and filled in
			// as its findings come).
			have.findings = append(have.findings, f)
			return
		}
		c.findings = []finding.Finding{f}
		byTarget[key] = &c
		order = append(order, key)
	}
	var keys map[string]KeyOwner
	if p.Keys != nil {
		if keys, err = p.Keys(ctx); err != nil {
			return nil, fmt.Errorf("list IAM access keys to match leaks: %w", err)
		}
	}
	narrow := map[string]*NarrowSpec{}
	for _, f := range fs {
		switch f.Kind {
		case finding.KindLeakLive, finding.KindInvRotationOverdue:
			if cur, ok := f.Evidence.Bool(finding.EvCurrent); ok && !cur {
				skip(f, "the leaked value is a previous version, not the current one: nothing to rotate (it expires with the version)")
				continue
			}
			c, reason := p.rotation(f)
			if reason != "" {
				skip(f, "%s", reason)
				continue
			}
			add(c, f)
		case finding.KindIAMExcessGrant, finding.KindIAMAdmin, finding.KindIAMWildcard:
			acct := f.Evidence.String(finding.EvAccountName)
			ps, err := PrincipalFromARN(acct, f.Resource)
			if err != nil {
				skip(f, "%v", err)
				continue
			}
			if via := f.Evidence.String(finding.EvVia); via != "" {
				skip(f, "granted through %s, which other principals share: narrow the group by hand", via)
				continue
			}
			ns := narrow[ps.ARN]
			if ns == nil {
				ns = &NarrowSpec{PrincipalSpec: ps, Identity: p.identity(ps)}
				ns.Unverified = !p.hasProbes(ns.Identity)
				narrow[ps.ARN] = ns
			}
			if s := f.Evidence.String(finding.EvSuggestedPolicy); s != "" {
				ns.Suggested = s
			}
			if pol := f.Evidence.String(finding.EvPolicy); pol != "" && !slices.Contains(ns.Policies, pol) {
				ns.Policies = append(ns.Policies, pol)
			}
			title, why := fmt.Sprintf("narrow %s %s to its declared grants", ps.Kind, ps.Name), "live grants beyond the declaration"
			if ns.Unverified {
				title += " (UNVERIFIED)"
				why += "; UNVERIFIED: the identity declares no probes, so nothing proves the job still works afterwards (apply needs --allow-unverified)"
			}
			add(candidate{kind: KindNarrow, target: ps.ARN, title: title, why: why, spec: ns}, f)
		case finding.KindIAMTrustTooBroad, finding.KindIAMUndeclaredTrust:
			ps, err := PrincipalFromARN(f.Evidence.String(finding.EvAccountName), f.Resource)
			if err != nil {
				skip(f, "%v", err)
				continue
			}
			sug := f.Evidence.String(finding.EvSuggestedTrust)
			if sug == "" {
				skip(f, "vigil can't narrow who may assume %s: %s", ps.Name, f.Evidence.String(finding.EvNarrowRefused))
				continue
			}
			add(candidate{kind: KindNarrowTrust, target: ps.ARN,
				title: fmt.Sprintf("narrow who may assume role %s to its declared trust (UNVERIFIED)", ps.Name),
				why: "its trust policy lets in more than is declared; UNVERIFIED: STS can't be asked here whether the declared CI jobs still get in " +
					"(vigil can't mint their issuers' tokens), so the written policy is read back and checked, not exercised (apply needs --allow-unverified)",
				spec: TrustSpec{PrincipalSpec: ps, Suggested: sug, Unverified: true}}, f)
		case finding.KindIAMOldKey, finding.KindIAMUnusedKey:
			acct := f.Evidence.String(finding.EvAccountName)
			ps, err := PrincipalFromARN(acct, f.Resource)
			key := f.Evidence.String(finding.EvAccessKeyID)
			if err != nil || key == "" || ps.Kind != "user" {
				skip(f, "the finding does not name a user's access key")
				continue
			}
			add(candidate{kind: KindDeactivateKey, target: ps.ARN + "#" + key, title: fmt.Sprintf("deactivate access key %s of %s", key, ps.Name),
				why: f.Title, spec: KeySpec{PrincipalSpec: ps, KeyID: key}}, f)
		case finding.KindLeakGit, finding.KindLeakFile, finding.KindLeakLog:
			h := f.Evidence.String(finding.EvSecretHash)
			k, ok := keys[h]
			if !ok {
				why := "it matches no active access key"
				if p.Keys == nil {
					why = "no AWS account is configured to match it against access keys"
				}
				skip(f, "%s; a leaked store value is rotated through its leak.live finding: revoke it where it was issued and purge it from where it leaked", why)
				continue
			}
			if !k.Active {
				skip(f, "the leaked access key %s of %s is already inactive", k.KeyID, k.User)
				continue
			}
			// The leaked id is named redacted, as the leak finding names it:
			// the action needs the user, not the key.
			ps := PrincipalSpec{Account: k.Account, ARN: k.ARN, Kind: "user", Name: k.User}
			add(candidate{kind: KindQuarantine, target: ps.ARN, title: fmt.Sprintf("quarantine user %s (deny everything) until its leaked key %s is rotated", k.User, redactKey(k.KeyID)),
				why: "its access key leaked at " + f.Resource + " and is active", spec: KeySpec{PrincipalSpec: ps}}, f)
		default:
			skip(f, "vigil has no automatic remediation for %s", f.Kind)
		}
	}
	for _, key := range order {
		c := byTarget[key]
		if c.kind == KindNarrow {
			ns := c.spec.(*NarrowSpec)
			if ns.Suggested == "" || len(ns.Policies) == 0 {
				for _, f := range c.findings {
					skip(f, "the drift scanner suggested no narrowed policy for %s (re-run vigil iam drift)", ns.ARN)
				}
				continue
			}
			sort.Strings(ns.Policies)
		}
		fids := findingIDs(c.findings)
		if by, err := p.Engine.Superseded(ctx, fids, ""); err != nil {
			return nil, err
		} else if by != "" {
			for _, f := range c.findings {
				skip(f, "already remediated by action %s since it was last seen; the next scan confirms it", by)
			}
			continue
		}
		why := c.why
		if len(c.findings) > 1 {
			why = fmt.Sprintf("%s (%d findings)", why, len(c.findings))
		}
		a := store.Action{ID: newID("act-"), PlanID: plan.ID, Kind: c.kind, Target: c.target, Findings: fids,
			Title: c.title, Why: why, Spec: encode(c.spec), State: map[string]any{}, Status: store.ActPlanned}
		if err := p.Store.SaveAction(ctx, &a); err != nil {
			return nil, err
		}
		plan.Actions = append(plan.Actions, a)
	}
	return plan, nil
}

// rotation plans the rotation a leak.live or rotation_overdue finding calls
// for, or says why it can't.
func (p *Planner) rotation(f finding.Finding) (candidate, string) {
	path := f.Resource
	if s := f.Evidence.String(finding.EvPath); s != "" {
		path = s
	}
	st := f.Evidence.String(finding.EvStore)
	var decl *rules.Declared
	for i := range p.Declared {
		if p.Declared[i].Path == path {
			decl = &p.Declared[i]
		}
	}
	if decl == nil || decl.Rotation == nil {
		return candidate{}, fmt.Sprintf("%s declares no rotation: add rotation: (a generator or a command, and a validation) to its inventory entry so vigil can rotate it safely", path)
	}
	why := f.Title
	if f.Kind == finding.KindLeakLive {
		why = "its current value leaked: " + f.Title
	}
	spec := RotateSpec{Store: st, Path: path, Rotation: decl.Rotation}
	kind := ""
	switch name, rest, _ := strings.Cut(path, ":"); name {
	case "awssm":
		kind, spec.Secret = KindRotateAWSSM, rest
		if !strings.HasPrefix(st, "awssm:") {
			return candidate{}, fmt.Sprintf("the finding does not say which Secrets Manager store holds %s", path)
		}
	case "azkv":
		// azkv:VAULT/NAME in the store azkv:VAULT
		kind = KindRotateAzureKV
		_, spec.Secret, _ = strings.Cut(rest, "/")
		if spec.Secret == "" || !strings.HasPrefix(st, "azkv:") {
			return candidate{}, fmt.Sprintf("%s names no secret of a configured Key Vault", path)
		}
	case "gcpsm":
		// gcpsm:PROJECT/NAME in the store gcpsm:PROJECT
		project, name, _ := strings.Cut(rest, "/")
		if name == "" || !strings.HasPrefix(st, "gcpsm:") {
			return candidate{}, fmt.Sprintf("%s names no secret of a configured Secret Manager project", path)
		}
		kind, spec.Secret = KindRotateGCPSM, "projects/"+project+"/secrets/"+name
	case "doppler":
		// doppler:PROJECT/CONFIG/NAME in the store doppler:NAME
		kind, spec.Secret = KindRotateDoppler, rest
		if strings.Count(rest, "/") != 2 || strings.Contains(rest, "/token:") || !strings.HasPrefix(st, "doppler:") {
			return candidate{}, fmt.Sprintf("%s names no secret of a configured Doppler workplace", path)
		}
	case "vault":
		kind = KindRotateVault
		mounts := p.VaultMounts[st]
		spec.Mount, spec.Secret, _ = strings.Cut(rest, "/")
		for _, m := range mounts {
			m = strings.Trim(m, "/")
			if strings.HasPrefix(rest, m+"/") && len(m) > len(spec.Mount) {
				spec.Mount, spec.Secret = m, strings.TrimPrefix(rest, m+"/")
			}
		}
		if spec.Secret == "" {
			return candidate{}, fmt.Sprintf("%s names no secret under a mount", path)
		}
	default:
		return candidate{}, fmt.Sprintf("vigil rotates Secrets Manager, Vault KV, Azure Key Vault, Google Secret Manager and Doppler secrets only, not %s", path)
	}
	return candidate{kind: kind, target: path, title: "rotate " + path, why: why, spec: spec}, ""
}

// identity finds the declared identity of a principal.
// hasProbes reports whether the declared identity name has synthetic
// probes that can verify a change to it.
func (p *Planner) hasProbes(name string) bool {
	for _, id := range p.Identities {
		if id.Name == name && name != "" {
			return id.Probes != nil && len(id.Probes.Allow)+len(id.Probes.Deny) > 0
		}
	}
	return false
}

// withPrincipalFindings adds, for each iam.admin or iam.wildcard finding
// asked for, the other open grant findings of the same principal: only
// iam.excess_grant findings carry the narrowed policy the drift scanner
// suggests, and a narrowing is planned per principal anyway.
func (p *Planner) withPrincipalFindings(ctx context.Context, fs []finding.Finding) ([]finding.Finding, error) {
	have := map[string]bool{}
	want := map[string]bool{} // source + resource of the principals asked about
	for _, f := range fs {
		have[f.ID] = true
		if f.Kind == finding.KindIAMAdmin || f.Kind == finding.KindIAMWildcard {
			want[f.Source+"\x00"+f.Resource] = true
		}
	}
	if len(want) == 0 {
		return fs, nil
	}
	more, err := p.Store.Findings(ctx, store.Filter{Status: []string{string(finding.StatusOpen)},
		Kind: []finding.Kind{finding.KindIAMExcessGrant, finding.KindIAMAdmin, finding.KindIAMWildcard}})
	if err != nil {
		return nil, err
	}
	for _, f := range more {
		if !have[f.ID] && want[f.Source+"\x00"+f.Resource] {
			have[f.ID] = true
			fs = append(fs, f)
		}
	}
	return fs, nil
}

func (p *Planner) identity(ps PrincipalSpec) string {
	for _, id := range p.Identities {
		if id.ARN == ps.ARN || (id.ARN == "" && id.Kind == ps.Kind && id.Name == ps.Name) {
			return id.Name
		}
	}
	return ""
}

// redactKey keeps an access key id's prefix and last four characters.
func redactKey(id string) string {
	if len(id) < 8 {
		return "****"
	}
	return id[:4] + "****" + id[len(id)-4:]
}

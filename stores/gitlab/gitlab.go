// Package gitlab inventories GitLab CI/CD variables (of a group, its
// subgroups and their projects, or of the instance) and the group and
// project access tokens, through GitLab's official client-go.
//
// A variable's value is plaintext to the API (masking only hides it in job
// logs), so with hash_values on it is hashed at once for leak.live, and it is
// always scanned with the leak rules: a credential in an unmasked variable
// is inventory.plaintext_variable (it is printed by any job that echoes
// it), one in a masked variable that is not protected is
// inventory.unprotected_variable (any branch's pipeline gets it, so anyone
// who can push a branch can read it). Hidden variables return no value.
//
// Declared paths: gitlab:GROUP/KEY, gitlab:GROUP/PROJECT/KEY (full paths,
// subgroups included), with @SCOPE after the key for a variable limited to
// an environment scope (keys are [A-Za-z0-9_], so @ can't be part of one);
// gitlab:-/instance/KEY for instance variables ("-" is reserved by GitLab,
// no group can be called so); gitlab:PATH/token:NAME for access tokens.
package gitlab

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	gl "gitlab.com/gitlab-org/api/client-go/v2"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/rules"
	"github.com/vigilsec/vigil/stores"
)

// InstancePath is the declared-path prefix of instance variables.
const InstancePath = "gitlab:-/instance/"

// Store is one top-level group (with everything under it), or the
// instance's own variables when Group is "".
type Store struct {
	client   *gl.Client
	group    string
	hasher   stores.Hasher
	detector stores.TextDetector
	controls rules.Controls
	// tokens: list group and project access tokens too.
	tokens   bool
	reported []finding.Finding
	creds    []Credential
	// Calls counts API requests.
	Calls atomic.Int64
}

// Options are a store's settings besides its client.
type Options struct {
	Group    string // full path of the group; "" for instance variables
	Hasher   stores.Hasher
	Detector stores.TextDetector
	Controls rules.Controls
	Tokens   bool
}

// New returns the store of one group (or the instance) behind client.
func New(client *gl.Client, o Options) *Store {
	return &Store{client: client, group: o.Group, hasher: o.Hasher, detector: o.Detector, controls: o.Controls, tokens: o.Tokens}
}

// Name implements stores.Store.
func (s *Store) Name() string {
	if s.group == "" {
		return "gitlab:instance"
	}
	return "gitlab:" + s.group
}

// Covers implements stores.Store.
func (s *Store) Covers() []string {
	if s.group == "" {
		return []string{InstancePath}
	}
	return []string{"gitlab:" + s.group + "/"}
}

// Reported returns the variable findings of the last List.
func (s *Store) Reported() []finding.Finding { return s.reported }

// Credential is a credential a CI variable holds, as the last List saw it:
// the keyed hash of what the leak rules found in its value, or only its
// key when GitLab does not return the value (a hidden variable). The IAM
// scanner matches them with live access keys (long-lived keys in CI).
type Credential struct {
	Where, Name, Hash string
}

// Credentials returns the CI credentials of the last List.
func (s *Store) Credentials() []Credential { return s.creds }

// Issuer is this GitLab's OIDC issuer as AWS names it (host, and path for
// an instance under one): what its CI jobs could federate through.
func (s *Store) Issuer() string {
	u := s.client.BaseURL()
	return strings.TrimSuffix(u.Host+strings.TrimSuffix(u.Path, "/api/v4/"), "/")
}

// perPage is GitLab's largest page.
const perPage = 100

// pages calls list with page 1, 2, ... until GitLab says there is no next.
func (s *Store) pages(list func(opt gl.ListOptions) (*gl.Response, error)) error {
	opt := gl.ListOptions{PerPage: perPage, Page: 1}
	for {
		s.Calls.Add(1)
		resp, err := list(opt)
		if err != nil {
			return err
		}
		if resp == nil || resp.NextPage == 0 {
			return nil
		}
		opt.Page = resp.NextPage
	}
}

// variable is what the three kinds of variable have in common.
type variable struct {
	Key, Value, Scope, Type, Description string
	Masked, Protected, Hidden, Raw       bool
}

// List implements stores.Store.
func (s *Store) List(ctx context.Context, emit func(stores.Secret)) error {
	s.reported, s.creds = nil, nil
	if s.group == "" {
		return s.pages(func(opt gl.ListOptions) (*gl.Response, error) {
			vs, resp, err := s.client.InstanceVariables.ListVariables(&gl.ListInstanceVariablesOptions{ListOptions: opt}, gl.WithContext(ctx))
			if err != nil {
				return resp, s.errorf(err, "instance variables")
			}
			for _, v := range vs {
				s.variable(ctx, emit, InstancePath, "instance", variable{Key: v.Key, Value: v.Value, Type: string(v.VariableType),
					Description: v.Description, Masked: v.Masked, Protected: v.Protected, Raw: v.Raw, Scope: "*"})
			}
			return resp, nil
		})
	}

	// The group itself and every group under it.
	groups := []string{s.group}
	err := s.pages(func(opt gl.ListOptions) (*gl.Response, error) {
		gs, resp, err := s.client.Groups.ListDescendantGroups(s.group, &gl.ListDescendantGroupsOptions{ListOptions: opt}, gl.WithContext(ctx))
		if err != nil {
			return resp, s.errorf(err, "subgroups of %s", s.group)
		}
		for _, g := range gs {
			groups = append(groups, g.FullPath)
		}
		return resp, nil
	})
	if err != nil {
		return err
	}
	for _, g := range groups {
		if err := s.groupVariables(ctx, emit, g); err != nil {
			return err
		}
		if s.tokens {
			if err := s.groupTokens(ctx, emit, g); err != nil {
				return err
			}
		}
	}

	var projects []string
	// Subgroups' projects, and not the projects other groups share with
	// this one (GitLab lists those by default): they live, and are
	// declared, under their own group's path.
	yes, no := true, false
	err = s.pages(func(opt gl.ListOptions) (*gl.Response, error) {
		ps, resp, err := s.client.Groups.ListGroupProjects(s.group, &gl.ListGroupProjectsOptions{ListOptions: opt, IncludeSubGroups: &yes, WithShared: &no}, gl.WithContext(ctx))
		if err != nil {
			return resp, s.errorf(err, "projects of %s", s.group)
		}
		for _, p := range ps {
			projects = append(projects, p.PathWithNamespace)
		}
		return resp, nil
	})
	if err != nil {
		return err
	}
	for _, p := range projects {
		if err := s.projectVariables(ctx, emit, p); err != nil {
			return err
		}
		if s.tokens {
			if err := s.projectTokens(ctx, emit, p); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Store) groupVariables(ctx context.Context, emit func(stores.Secret), group string) error {
	return s.pages(func(opt gl.ListOptions) (*gl.Response, error) {
		vs, resp, err := s.client.GroupVariables.ListVariables(group, &gl.ListGroupVariablesOptions{ListOptions: opt}, gl.WithContext(ctx))
		if err != nil {
			return resp, s.errorf(err, "variables of group %s", group)
		}
		for _, v := range vs {
			s.variable(ctx, emit, "gitlab:"+group+"/", "group "+group, variable{Key: v.Key, Value: v.Value, Scope: v.EnvironmentScope,
				Type: string(v.VariableType), Description: v.Description, Masked: v.Masked, Protected: v.Protected, Hidden: v.Hidden, Raw: v.Raw})
		}
		return resp, nil
	})
}

func (s *Store) projectVariables(ctx context.Context, emit func(stores.Secret), project string) error {
	return s.pages(func(opt gl.ListOptions) (*gl.Response, error) {
		vs, resp, err := s.client.ProjectVariables.ListVariables(project, &gl.ListProjectVariablesOptions{ListOptions: opt}, gl.WithContext(ctx))
		if err != nil {
			return resp, s.errorf(err, "variables of project %s", project)
		}
		for _, v := range vs {
			s.variable(ctx, emit, "gitlab:"+project+"/", "project "+project, variable{Key: v.Key, Value: v.Value, Scope: v.EnvironmentScope,
				Type: string(v.VariableType), Description: v.Description, Masked: v.Masked, Protected: v.Protected, Hidden: v.Hidden, Raw: v.Raw})
		}
		return resp, nil
	})
}

func (s *Store) groupTokens(ctx context.Context, emit func(stores.Secret), group string) error {
	var all []accessToken
	err := s.pages(func(opt gl.ListOptions) (*gl.Response, error) {
		ts, resp, err := s.client.GroupAccessTokens.ListGroupAccessTokens(group, &gl.ListGroupAccessTokensOptions{ListOptions: opt}, gl.WithContext(ctx))
		if err != nil {
			return resp, s.errorf(err, "access tokens of group %s", group)
		}
		for _, t := range ts {
			all = append(all, accessToken{t.PersonalAccessToken, int(t.AccessLevel)})
		}
		return resp, nil
	})
	s.emitTokens(emit, group, "group "+group, all)
	return err
}

func (s *Store) projectTokens(ctx context.Context, emit func(stores.Secret), project string) error {
	var all []accessToken
	err := s.pages(func(opt gl.ListOptions) (*gl.Response, error) {
		ts, resp, err := s.client.ProjectAccessTokens.ListProjectAccessTokens(project, &gl.ListProjectAccessTokensOptions{ListOptions: opt}, gl.WithContext(ctx))
		if err != nil {
			return resp, s.errorf(err, "access tokens of project %s", project)
		}
		for _, t := range ts {
			all = append(all, accessToken{t.PersonalAccessToken, int(t.AccessLevel)})
		}
		return resp, nil
	})
	s.emitTokens(emit, project, "project "+project, all)
	return err
}

type accessToken struct {
	gl.PersonalAccessToken
	level int
}

// emitTokens lists a group's or project's access tokens that still work;
// two with one name are named by name and id, so neither hides the other.
func (s *Store) emitTokens(emit func(stores.Secret), path, where string, ts []accessToken) {
	names := map[string]int{}
	for _, t := range ts {
		if !t.Revoked && t.Active {
			names[t.Name]++
		}
	}
	for _, t := range ts {
		name := t.Name
		if names[t.Name] > 1 {
			name = fmt.Sprintf("%s (%d)", t.Name, t.ID)
		}
		s.token(emit, path, where, name, t.PersonalAccessToken, t.level)
	}
}

// token lists an access token that still works: a revoked or deactivated
// one (GitLab deactivates a token when it expires) is history the API keeps,
// not a credential to declare.
func (s *Store) token(emit func(stores.Secret), path, where, name string, t gl.PersonalAccessToken, level int) {
	if t.Revoked || !t.Active {
		return
	}
	sec := stores.Secret{
		Path:  "gitlab:" + path + "/token:" + name,
		Store: s.Name(),
		Where: fmt.Sprintf("%s access token %d (scopes %s, access level %d)", where, t.ID, strings.Join(t.Scopes, ","), level),
	}
	if t.CreatedAt != nil {
		sec.Created = *t.CreatedAt
	}
	if t.LastUsedAt != nil {
		sec.LastAccessed = *t.LastUsedAt
	}
	if t.ExpiresAt != nil {
		// expires_at is a date: the token stops working as that day begins (UTC).
		sec.Expires = time.Time(*t.ExpiresAt)
	}
	emit(sec)
	if t.ExpiresAt == nil {
		// GitLab 16 requires an expiry of new tokens; older ones may have none.
		kind := finding.KindInvTokenNoExpiry
		s.reported = append(s.reported, finding.Finding{
			ID: finding.Fingerprint(kind, s.Name(), sec.Path), Kind: kind, Severity: finding.Medium, Scanner: "inventory", Resource: sec.Path,
			Title:  fmt.Sprintf("GitLab access token %s never expires", t.Name),
			Detail: fmt.Sprintf("The %s has no expiry: a copy of it works until someone revokes it. Rotate it to one with an expiry.", sec.Where),
			Status: finding.StatusOpen, Evidence: finding.Evidence{"store": s.Name(), "path": sec.Path, "token_id": t.ID, "scopes": strings.Join(t.Scopes, ",")},
			Controls: s.controls.For(kind),
		})
	}
}

// variable emits one variable and scans its value with the leak rules. The
// value is hashed (when asked) and scanned, then dropped.
func (s *Store) variable(ctx context.Context, emit func(stores.Secret), prefix, where string, v variable) {
	path := prefix + v.Key
	if v.Scope != "" && v.Scope != "*" {
		path += "@" + v.Scope
	}
	var flags []string
	for _, f := range []struct {
		name string
		on   bool
	}{{"masked", v.Masked}, {"protected", v.Protected}, {"hidden", v.Hidden}} {
		if f.on {
			flags = append(flags, f.name)
		}
	}
	sec := stores.Secret{Path: path, Store: s.Name(), Where: fmt.Sprintf("%s %s variable %s", where, v.Type, v.Key)}
	if len(flags) > 0 {
		sec.Where += " (" + strings.Join(flags, ", ") + ")"
	}
	if v.Scope != "" && v.Scope != "*" {
		sec.Env = v.Scope
	}
	// A hidden variable's value never comes back: there is nothing to hash.
	if s.hasher != nil && !v.Hidden && v.Value != "" {
		sec.Hashes = []stores.ValueHash{{Current: true, Hash: s.hasher.Hash(v.Value)}}
	}
	emit(sec)
	if v.Hidden {
		s.creds = append(s.creds, Credential{Where: path, Name: v.Key})
	}
	if s.detector == nil || v.Hidden || v.Value == "" {
		return
	}
	for _, ts := range s.detector.DetectText(ctx, path, v.Value) {
		s.creds = append(s.creds, Credential{Where: path, Name: v.Key, Hash: ts.Hash})
		if v.Masked && v.Protected {
			continue // masked and protected: where a CI credential belongs
		}
		kind, why := finding.KindInvPlaintextVariable, "It is not masked, so any job that prints it puts it in the job log for everyone who can read the pipeline: "+
			"mask it (and protect it), then rotate the credential."
		if v.Masked {
			kind, why = finding.KindInvUnprotectedVariable, "It is masked but not protected, so the pipeline of any branch gets it and anyone "+
				"who can push a branch can read it: protect it (protected branches and tags only), then rotate the credential."
		}
		s.reported = append(s.reported, finding.Finding{
			ID:       finding.Fingerprint(kind, path, ts.Rule, ts.Hash),
			Kind:     kind,
			Severity: finding.High,
			Scanner:  "inventory",
			Resource: path,
			Title:    fmt.Sprintf("GitLab variable %s holds a credential (%s)", v.Key, ts.Rule),
			Detail:   fmt.Sprintf("The CI/CD variable %s (%s) contains %s, matched by %s. %s", path, where, ts.Redacted, ts.Rule, why),
			Status:   finding.StatusOpen,
			Evidence: finding.Evidence{"rule": ts.Rule, "redacted": ts.Redacted, "secret_hash": ts.Hash, "store": s.Name(), "path": path,
				"masked": v.Masked, "protected": v.Protected},
			Controls: s.controls.For(kind),
		})
	}
}

// errorf names the store and what was being read; a 401/403 says which
// permission is missing rather than looking like an empty group.
func (s *Store) errorf(err error, what string, args ...any) error {
	msg := fmt.Sprintf(what, args...)
	if r, ok := err.(*gl.ErrorResponse); ok && r.Response != nil {
		switch r.Response.StatusCode {
		case 401:
			return fmt.Errorf("%s: %s: the token was refused (401): %w", s.Name(), msg, err)
		case 403:
			return fmt.Errorf("%s: %s: forbidden (403; variables need the Maintainer role, instance variables an administrator, tokens read_api): %w", s.Name(), msg, err)
		}
	}
	return fmt.Errorf("%s: %s: %w", s.Name(), msg, err)
}

// Check reads one page of the first thing the listing reads: a pre-flight
// for `vigil doctor`.
func (s *Store) Check(ctx context.Context) error {
	s.Calls.Add(1)
	if s.group == "" {
		_, _, err := s.client.InstanceVariables.ListVariables(&gl.ListInstanceVariablesOptions{ListOptions: gl.ListOptions{PerPage: 1}}, gl.WithContext(ctx))
		if err != nil {
			return s.errorf(err, "instance variables")
		}
		return nil
	}
	if _, _, err := s.client.GroupVariables.ListVariables(s.group, &gl.ListGroupVariablesOptions{ListOptions: gl.ListOptions{PerPage: 1}}, gl.WithContext(ctx)); err != nil {
		return s.errorf(err, "variables of group %s", s.group)
	}
	return nil
}

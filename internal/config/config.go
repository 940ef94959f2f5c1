// Package config loads and validates vigil.yaml. Every error names the file
// and, where the YAML gives one, the line, because the file is usually edited
// by someone other than the person reading the nightly job's log.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/vigilsec/vigil/internal/finding"
)

// Config is a validated vigil.yaml with every path made absolute.
type Config struct {
	// File is the absolute path of the file this was loaded from.
	File string `yaml:"-"`
	// Dir is the directory relative paths are resolved against.
	Dir string `yaml:"-"`

	Version int `yaml:"version"`
	// DB is the SQLite database (default vigil.db beside the config), or a
	// PostgreSQL database shared by several vigil processes
	// (postgres://USER@HOST:PORT/DATABASE, the password from PGPASSWORD).
	DB string `yaml:"db"`
	// HashKeyFile holds the HMAC key; default vigil.key beside the database.
	HashKeyFile string `yaml:"hash_key_file"`
	// CacheDir holds mirrors of git repositories given by URL.
	CacheDir string `yaml:"cache_dir"`
	// FailOn is the lowest severity that makes `vigil run` exit 1.
	FailOn string `yaml:"fail_on"`
	// LeaseTTL is how long a run's lease on the database lives without
	// renewal (default 2m): a killed run blocks the next for at most this.
	LeaseTTL time.Duration `yaml:"lease_ttl"`

	Rules   Rules   `yaml:"rules"`
	Sources Sources `yaml:"sources"`
	// AWS is where IAM drift and Secrets Manager are read; nil: none.
	AWS *AWS `yaml:"aws"`
	// Inventory lists the secret stores; nil: no inventory.
	Inventory *Inventory `yaml:"inventory"`
	// Synthetic tunes the synthetic checks (which run for every declared
	// identity with probes); nil: defaults.
	Synthetic *Synthetic `yaml:"synthetic"`
	// Remediate tunes `vigil remediate`; nil: defaults.
	Remediate *Remediate `yaml:"remediate"`
}

// Remediate tunes remediation.
type Remediate struct {
	// Settle is how long to wait after changing IAM before re-running an
	// identity's probes (IAM is eventually consistent; default 10s).
	Settle time.Duration `yaml:"settle"`
}

// Synthetic tunes the synthetic least-privilege checks.
type Synthetic struct {
	// Margin is added to a check's expected length for its credential's
	// life (default 5m).
	Margin time.Duration `yaml:"margin"`
	// RevokeWait is how long a revoked credential may keep working before
	// synthetic.not_revoked (default 60s: IAM changes propagate in seconds).
	RevokeWait time.Duration `yaml:"revoke_wait"`
	// Workers checks this many identities at once (default 4).
	Workers int `yaml:"workers"`
	// SourceIdentity marks vigil's AWS sessions in CloudTrail (default
	// "vigil"); the roles' trust policies must allow sts:SetSourceIdentity
	// and sts:TagSession for vigil.
	SourceIdentity string `yaml:"source_identity"`
}

// Inventory configures the secret stores and the comparison.
type Inventory struct {
	// HashValues reads store values to match leaked values against them
	// (hashed at once, never kept). Off, only metadata is read.
	HashValues   bool           `yaml:"hash_values"`
	RotationDays int            `yaml:"rotation_days"`
	UnusedDays   int            `yaml:"unused_days"`
	Vault        []VaultStore   `yaml:"vault"`
	AWSSM        *AWSSMStore    `yaml:"awssm"`
	Files        *FilesStore    `yaml:"files"`
	GitHub       []GitHubSource `yaml:"github"`
	// AzureKeyVault lists Azure Key Vaults (credentials: azidentity's
	// default chain).
	AzureKeyVault []AzureKeyVault `yaml:"azure_keyvault"`
	// GCPSecretManager lists Google Cloud projects (credentials:
	// Application Default Credentials).
	GCPSecretManager []GCPProject `yaml:"gcp_secret_manager"`
	// SOPS is secrets in SOPS-encrypted files.
	SOPS *SOPSFiles `yaml:"sops"`
	// SealedSecrets is Bitnami SealedSecret manifests in files.
	SealedSecrets *SealedFiles `yaml:"sealed_secrets"`
	// Kubernetes lists clusters' Secrets and External Secrets Operator's
	// objects (metadata only unless hash_values is on).
	Kubernetes []KubernetesCluster `yaml:"kubernetes"`
	// GitLab lists GitLab CI/CD variables and access tokens.
	GitLab []GitLab `yaml:"gitlab"`
	// OnePassword lists 1Password vaults through a Connect server.
	OnePassword []OnePassword `yaml:"onepassword"`
	// Doppler lists Doppler workplaces' projects, configs, secret names
	// and service tokens.
	Doppler []Doppler `yaml:"doppler"`
}

// Doppler is one Doppler workplace as its token sees it: its name in
// findings (doppler:NAME), the API (default https://api.doppler.com), the
// variable holding the token (default DOPPLER_TOKEN; a service account
// token with read access to the projects), and the projects to list by
// slug (globs; default all).
type Doppler struct {
	Name     string   `yaml:"name"`
	APIURL   string   `yaml:"api_url"`
	TokenEnv string   `yaml:"token_env"`
	Projects []string `yaml:"projects"`
}

// GitLab is one GitLab (gitlab.com by default, or a self-managed one at
// URL): the top-level groups whose variables and access tokens are listed
// (subgroups and their projects included), and, with instance, the
// instance's own variables (an administrator's token). The token is read
// from TokenEnv (default GITLAB_TOKEN; read_api, Maintainer on the groups).
type GitLab struct {
	URL      string   `yaml:"url"`
	TokenEnv string   `yaml:"token_env"`
	Groups   []string `yaml:"groups"`
	Instance bool     `yaml:"instance"`
	// AccessTokens lists group and project access tokens (default true).
	AccessTokens *bool `yaml:"access_tokens"`
}

// OnePassword is one 1Password Connect server: its name in findings
// (1password:NAME), its URL, the variable holding its token (default
// OP_CONNECT_TOKEN) and the vaults to list by name (globs; default every
// vault the token may read).
type OnePassword struct {
	Name     string   `yaml:"name"`
	URL      string   `yaml:"url"`
	TokenEnv string   `yaml:"token_env"`
	Vaults   []string `yaml:"vaults"`
}

// KubernetesCluster is one cluster: its name in findings (kubernetes:NAME),
// how to reach it (a kubeconfig file and context, the pod's own service
// account with in_cluster, or neither: $KUBECONFIG or ~/.kube/config), and
// the namespaces to list (globs; default all).
type KubernetesCluster struct {
	Name       string   `yaml:"name"`
	Kubeconfig string   `yaml:"kubeconfig"`
	Context    string   `yaml:"context"`
	InCluster  bool     `yaml:"in_cluster"`
	Namespaces []string `yaml:"namespaces"`
	// ReportGenerated lists the platform's own Secrets (service-account
	// tokens, Helm release records, bootstrap tokens) as secrets to declare.
	ReportGenerated bool `yaml:"report_generated"`
}

func sopsPaths(s *SOPSFiles) []string {
	if s == nil {
		return nil
	}
	return append([]string{}, s.Paths...)
}

func sealedPaths(s *SealedFiles) []string {
	if s == nil {
		return nil
	}
	return append([]string{}, s.Paths...)
}

// SealedFiles are SealedSecret manifests by glob (relative to the config),
// and the controller's private key that unseals them when values are hashed.
type SealedFiles struct {
	Paths          []string `yaml:"paths"`
	PrivateKeyFile string   `yaml:"private_key_file"`
}

// SOPSFiles are SOPS-encrypted files by glob (relative to the config, and
// to the top of each repository in Repos), and the age key file that
// decrypts them when values are hashed.
type SOPSFiles struct {
	Paths []string `yaml:"paths"`
	// Repos are sources.git repositories whose files at HEAD their globs
	// match: declared paths sops:git:REPO/PATH#KEY.
	Repos      []SOPSRepo `yaml:"repos"`
	AgeKeyFile string     `yaml:"age_key_file"`
}

// SOPSRepo is a sources.git repository (by name) and globs of its files
// (relative to its top, path.Match).
type SOPSRepo struct {
	Name  string   `yaml:"name"`
	Paths []string `yaml:"paths"`
}

// GCPProject is one project's Secret Manager (declared paths
// gcpsm:PROJECT/SECRET).
type GCPProject struct {
	Project string `yaml:"project"`
}

// AzureKeyVault is one vault: its name in declared paths (azkv:NAME/SECRET)
// and its URL.
type AzureKeyVault struct {
	Name     string `yaml:"name"`
	VaultURL string `yaml:"vault_url"`
}

// AppRole names the variables holding an AppRole login's role and secret ids.
type AppRole struct {
	Mount       string `yaml:"mount"`
	RoleIDEnv   string `yaml:"role_id_env"`
	SecretIDEnv string `yaml:"secret_id_env"`
}

// VaultStore is a Vault or OpenBao server.
type VaultStore struct {
	Name    string   `yaml:"name"`
	Address string   `yaml:"address"`
	Mounts  []string `yaml:"mounts"`
	// TokenEnv names the variable holding the token (default VAULT_TOKEN).
	TokenEnv string `yaml:"token_env"`
	// AppRole, when set, logs in with a role id and secret id read from
	// the named variables.
	AppRole *AppRole `yaml:"approle"`
}

// AWSSMStore is Secrets Manager in the aws: accounts, in these regions.
type AWSSMStore struct {
	Regions []string `yaml:"regions"`
}

// FilesStore is secrets kept in files, by glob relative to the config.
type FilesStore struct {
	Env        []string `yaml:"env"`
	Kubernetes []string `yaml:"kubernetes"`
	Pipelines  []string `yaml:"pipelines"`
}

// GitHubSource is one organisation's Actions, Dependabot and Codespaces
// secrets and Actions variables.
type GitHubSource struct {
	Org string `yaml:"org"`
	// BaseURL is the API root of GitHub Enterprise Server (default github.com).
	BaseURL string `yaml:"base_url"`
	// TokenEnv names the variable holding the token (default GITHUB_TOKEN).
	TokenEnv string `yaml:"token_env"`
}

// AWS configures access to AWS accounts. Credentials come from the default
// chain; each account may be reached by assuming a role.
type AWS struct {
	Region string `yaml:"region"`
	// Endpoint overrides AWS's endpoints (an emulator such as moto).
	Endpoint string       `yaml:"endpoint"`
	Accounts []AWSAccount `yaml:"accounts"`
	// IgnorePrincipals are role/user name globs that are not job identities
	// (break-glass, SSO) and are not reported as undeclared.
	IgnorePrincipals []string `yaml:"ignore_principals"`
	// Organization names the account (one of accounts, or "default" when
	// there are none) whose credentials read AWS Organizations: the
	// management account or a delegated administrator. With it, SCPs cut
	// the effective permissions and the organisation's accounts are not
	// third parties; without it, SCPs are not evaluated and each IAM
	// result says so.
	Organization string `yaml:"organization"`
	// KnownAccounts are more of the organisation's account ids (the ones
	// in accounts are known once read): a role trusting one of them is not
	// trusting a third party.
	KnownAccounts []string `yaml:"known_accounts"`
}

// AWSAccount is one account to read.
type AWSAccount struct {
	Name       string `yaml:"name"`
	RoleARN    string `yaml:"role_arn"`
	ExternalID string `yaml:"external_id"`
	// RemediateRoleARN is the role `vigil remediate` assumes to change
	// things, so the nightly audit role can stay read-only (default:
	// RoleARN).
	RemediateRoleARN string `yaml:"remediate_role_arn"`
	Line             int    `yaml:"-"`
}

// UnmarshalYAML records the line of the entry.
func (a *AWSAccount) UnmarshalYAML(n *yaml.Node) error {
	type plain AWSAccount
	if err := DecodeStrict(n, (*plain)(a)); err != nil {
		return err
	}
	a.Line = n.Line
	return nil
}

// Rules points at the user's rule files.
type Rules struct {
	// Gitleaks is a gitleaks TOML config. Without one the embedded default
	// rules are used; a repository's own .gitleaks.toml is honoured too.
	Gitleaks string `yaml:"gitleaks"`
	// GitleaksIgnore lists fingerprints to ignore, in gitleaks' format.
	GitleaksIgnore string `yaml:"gitleaksignore"`
	// Identities declares job identities and their least-privilege grants.
	Identities string `yaml:"identities"`
	// Inventory is the declared inventory (YAML, or the seed secrets.json).
	Inventory string `yaml:"inventory"`
}

// Sources lists what the leak scanner reads.
type Sources struct {
	Git  []GitSource `yaml:"git"`
	Dirs []DirSource `yaml:"dirs"`
	Logs []LogSource `yaml:"logs"`
	// GitHub lists organisations whose every repository is scanned.
	GitHub []GitHubOrg `yaml:"github"`
}

// GitHubOrg is every repository of a GitHub organisation, discovered each
// run: new ones are picked up, deleted and renamed ones noticed.
type GitHubOrg struct {
	Org string `yaml:"org"`
	// APIURL is GitHub Enterprise Server's root (default api.github.com).
	APIURL string `yaml:"api_url"`
	// TokenEnv names the variable holding a token (default GITHUB_TOKEN),
	// unless App is given.
	TokenEnv string `yaml:"token_env"`
	// App authenticates as a GitHub App installation; its tokens are
	// re-minted before they expire.
	App *GitHubApp `yaml:"app"`
	// Include and Exclude are globs over repository names (not the owner).
	Include []string `yaml:"include"`
	Exclude []string `yaml:"exclude"`
	// Forks scans forks too (default false); Archived scans archived
	// repositories (default true: an archived repository's leak is still a
	// leak); Visibility is all (default), public or private.
	Forks      *bool  `yaml:"forks"`
	Archived   *bool  `yaml:"archived"`
	Visibility string `yaml:"visibility"`
	// Alerts imports the organisation's secret-scanning alerts (default
	// true; needs the "secret scanning alerts: read" permission).
	Alerts *bool `yaml:"alerts"`
	// Workers is how many repositories are checked and scanned at once
	// (default 4); MaxRequests caps concurrent API requests (default 4).
	Workers     int `yaml:"workers"`
	MaxRequests int `yaml:"max_requests"`
	// RateLimitWait is the longest wait for a primary rate limit's reset
	// (default 15m); beyond it the repositories left are partial.
	RateLimitWait time.Duration `yaml:"rate_limit_wait"`
	Line          int           `yaml:"-"`
}

// IsPostgres says whether db names a PostgreSQL database (a URL) rather
// than a SQLite file.
func IsPostgres(db string) bool {
	return strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://")
}

// GitHubLogin is what a GitHub organisation's login may be.
var GitHubLogin = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,38}$`)

// GitHubApp is a GitHub App installation.
type GitHubApp struct {
	AppID          int64  `yaml:"app_id"`
	InstallationID int64  `yaml:"installation_id"`
	PrivateKeyFile string `yaml:"private_key_file"`
}

// Flag returns *b, or def when b is unset.
func Flag(b *bool, def bool) bool {
	if b == nil {
		return def
	}
	return *b
}

// GitSource is a repository given by a local path or a clone URL.
type GitSource struct {
	Name string `yaml:"name"`
	Path string `yaml:"path"`
	URL  string `yaml:"url"`
	Line int    `yaml:"-"`
}

// DirSource is a directory tree scanned as files.
type DirSource struct {
	Name string `yaml:"name"`
	Path string `yaml:"path"`
	Line int    `yaml:"-"`
}

// LogSource is a set of log files given by glob patterns. Plain files are
// resumed at the last offset; *.gz files are read whole once.
type LogSource struct {
	Name  string   `yaml:"name"`
	Paths []string `yaml:"paths"`
	// FollowSymlinks lets a matched symlink lead out of its glob's
	// directory (off: such links are skipped with a warning).
	FollowSymlinks bool `yaml:"follow_symlinks"`
	Line           int  `yaml:"-"`
}

// Error is a problem at a place in a file: vigil.yaml, or a rule file.
type Error struct {
	File string
	Line int // 0 when unknown
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// UnmarshalYAML records the line of each source entry for later errors.
func (g *GitSource) UnmarshalYAML(n *yaml.Node) error {
	type plain GitSource
	if err := DecodeStrict(n, (*plain)(g)); err != nil {
		return err
	}
	g.Line = n.Line
	return nil
}

// UnmarshalYAML records the line of the entry.
func (o *GitHubOrg) UnmarshalYAML(n *yaml.Node) error {
	type plain GitHubOrg
	if err := DecodeStrict(n, (*plain)(o)); err != nil {
		return err
	}
	o.Line = n.Line
	return nil
}

// UnmarshalYAML records the line of the entry.
func (d *DirSource) UnmarshalYAML(n *yaml.Node) error {
	type plain DirSource
	if err := DecodeStrict(n, (*plain)(d)); err != nil {
		return err
	}
	d.Line = n.Line
	return nil
}

// UnmarshalYAML records the line of the entry.
func (l *LogSource) UnmarshalYAML(n *yaml.Node) error {
	type plain LogSource
	if err := DecodeStrict(n, (*plain)(l)); err != nil {
		return err
	}
	l.Line = n.Line
	return nil
}

// DecodeStrict decodes a node with unknown fields refused. yaml.v3's
// Node.Decode has no KnownFields switch of its own, so the node is checked
// against v's yaml tags first; decoding the node itself (not a re-encoded
// copy) keeps anchors, aliases and merge keys that span entries working, and
// line numbers are the file's.
func DecodeStrict(n *yaml.Node, v any) error {
	if err := checkFields(n, reflect.TypeOf(v), true); err != nil {
		return err
	}
	return n.Decode(v)
}

var (
	unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
	nodeType        = reflect.TypeOf(yaml.Node{})
)

// checkFields walks n against type t: a mapping key that names no field of
// the struct is an error, and so is a key with no value where a list or a
// section belongs (an indentation slip that would otherwise configure
// nothing, silently). top is false below the first level, where a type that
// decodes itself (UnmarshalYAML) is left to do its own checking.
func checkFields(n *yaml.Node, t reflect.Type, top bool) error {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nodeType || (!top && reflect.PointerTo(t).Implements(unmarshalerType)) {
		return nil // decoded later, and checked then
	}
	switch {
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		fields := map[string]reflect.Type{}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "-" || !f.IsExported() {
				continue
			}
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			fields[name] = f.Type
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if k.Value == "<<" && k.Tag == "!!merge" {
				if err := checkMerge(val, t); err != nil {
					return err
				}
				continue
			}
			ft, ok := fields[k.Value]
			if !ok {
				return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: field %s not found", k.Line, k.Value)}}
			}
			if val.Kind == yaml.ScalarNode && val.Tag == "!!null" && isSection(ft) {
				return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %s has no value: give its entries, or remove the key", k.Line, k.Value)}}
			}
			if err := checkFields(val, ft, false); err != nil {
				return err
			}
		}
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for _, item := range n.Content {
			if item.Kind == yaml.ScalarNode && item.Tag == "!!null" && isSection(t.Elem()) {
				return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: empty list entry", item.Line)}}
			}
			if err := checkFields(item, t.Elem(), false); err != nil {
				return err
			}
		}
	case t.Kind() == reflect.Map && n.Kind == yaml.MappingNode:
		for i := 1; i < len(n.Content); i += 2 {
			if err := checkFields(n.Content[i], t.Elem(), false); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkMerge checks the mappings a merge key (<<) brings in.
func checkMerge(val *yaml.Node, t reflect.Type) error {
	for val.Kind == yaml.AliasNode && val.Alias != nil {
		val = val.Alias
	}
	if val.Kind == yaml.SequenceNode {
		for _, m := range val.Content {
			if err := checkMerge(m, t); err != nil {
				return err
			}
		}
		return nil
	}
	return checkFields(val, t, true)
}

// isSection reports whether t is a list, section or mapping: something a
// key with no value can't have meant to leave empty.
func isSection(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Map:
		return true
	case reflect.Struct:
		return t != reflect.TypeOf(time.Time{})
	}
	return false
}

// DecodeDocument decodes a whole YAML file into v strictly: exactly one
// document that is not empty (a file of only "---", or a second document
// after it, would otherwise configure nothing or be ignored without a word).
func DecodeDocument(file string, data []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return &Error{File: file, Msg: "file is empty"}
		}
		return YAMLError(file, err)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return &Error{File: file, Line: root.Line, Msg: "the document is empty: nothing is configured"}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return &Error{File: file, Line: extra.Line, Msg: "a second YAML document: vigil reads one document per file (remove the extra ---)"}
	} else if !errors.Is(err, io.EOF) {
		return YAMLError(file, err)
	}
	if err := DecodeStrict(root, v); err != nil {
		return YAMLError(file, err)
	}
	return nil
}

var (
	// yaml.v3 names Go types ("in type config.plain") and quotes values
	// ("cannot unmarshal !!str `hunter2...` into int"): neither belongs in
	// a message for the person editing the file, and a value may be secret.
	inTypeRE    = regexp.MustCompile(` in type [\w.*\[\]]+`)
	unmarshalRE = regexp.MustCompile("cannot unmarshal !!(\\w+)(?: `[^`]*`)? into (\\S+)")
)

func friendlyYAML(msg string) string {
	msg = inTypeRE.ReplaceAllString(msg, "")
	return unmarshalRE.ReplaceAllStringFunc(msg, func(m string) string {
		sm := unmarshalRE.FindStringSubmatch(m)
		return fmt.Sprintf("expected %s, found %s", goKind(sm[2]), yamlKind(sm[1]))
	})
}

func goKind(t string) string {
	switch {
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case strings.HasPrefix(t, "map["):
		return "a mapping"
	case strings.HasPrefix(t, "int") || strings.HasPrefix(t, "uint"):
		return "a whole number"
	case strings.HasPrefix(t, "float"):
		return "a number"
	case t == "bool":
		return "true or false"
	case t == "string":
		return "a string"
	case t == "time.Duration":
		return "a duration such as 90s or 5m"
	}
	return "a section"
}

func yamlKind(tag string) string {
	switch tag {
	case "str":
		return "a string"
	case "int", "float":
		return "a number"
	case "bool":
		return "true or false"
	case "seq":
		return "a list"
	case "map":
		return "a mapping"
	}
	return "a value of another type"
}

// Load reads and validates a vigil.yaml.
func Load(path string) (*Config, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	f, err := os.Open(abs)
	if err != nil {
		return nil, &Error{File: path, Msg: err.Error()}
	}
	defer f.Close()
	return parse(f, abs)
}

func parse(r io.Reader, abs string) (*Config, error) {
	cfg := &Config{File: abs, Dir: filepath.Dir(abs)}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, &Error{File: abs, Msg: err.Error()}
	}
	if err := DecodeDocument(abs, data, cfg); err != nil {
		return nil, err
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

var yamlLineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// YAMLError turns yaml.v3's messages ("yaml: line 3: mapping values are not
// allowed", "line 7: field x not found") into file:line errors. Rule files
// use it too.
func YAMLError(file string, err error) error {
	var msgs []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{err.Error()}
	}
	var errs []error
	for _, m := range msgs {
		m = friendlyYAML(strings.TrimSpace(m))
		if sm := yamlLineRE.FindStringSubmatch(m); sm != nil {
			var line int
			fmt.Sscanf(sm[1], "%d", &line)
			errs = append(errs, &Error{File: file, Line: line, Msg: sm[2]})
			continue
		}
		errs = append(errs, &Error{File: file, Msg: strings.TrimPrefix(m, "yaml: ")})
	}
	return errors.Join(errs...)
}

func (c *Config) resolve(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	if strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, p[2:])
		}
	}
	return filepath.Join(c.Dir, p)
}

func (c *Config) validate() error {
	var errs []error
	bad := func(line int, format string, a ...any) {
		errs = append(errs, &Error{File: c.File, Line: line, Msg: fmt.Sprintf(format, a...)})
	}
	if c.Version != 0 && c.Version != 1 {
		bad(0, "version %d is not supported (this vigil reads version 1)", c.Version)
	}
	if c.DB == "" {
		c.DB = "vigil.db"
	}
	// A PostgreSQL database is a URL, not a path; the key and the cache
	// then default to the config's directory.
	beside := c.Dir
	if IsPostgres(c.DB) {
		if u, err := url.Parse(c.DB); err != nil || u.Host == "" && u.Query().Get("host") == "" {
			bad(0, "db: not a PostgreSQL URL (postgres://USER@HOST:PORT/DATABASE; give the password as PGPASSWORD)")
		}
	} else {
		c.DB = c.resolve(c.DB)
		beside = filepath.Dir(c.DB)
	}
	if c.HashKeyFile == "" {
		c.HashKeyFile = filepath.Join(beside, "vigil.key")
	}
	c.HashKeyFile = c.resolve(c.HashKeyFile)
	if c.CacheDir == "" {
		c.CacheDir = filepath.Join(beside, ".vigil-cache")
	}
	c.CacheDir = c.resolve(c.CacheDir)
	if c.FailOn == "" {
		c.FailOn = string(finding.High)
	}
	if _, err := finding.ParseSeverity(c.FailOn); err != nil {
		bad(0, "fail_on: %v", err)
	}
	if c.LeaseTTL < 0 || (c.LeaseTTL > 0 && c.LeaseTTL < time.Second) {
		bad(0, "lease_ttl must be at least 1s")
	}
	if sy := c.Synthetic; sy != nil {
		if sy.Workers < 0 {
			bad(0, "synthetic.workers must not be negative")
		}
		if sy.Margin < 0 || sy.RevokeWait < 0 {
			bad(0, "synthetic.margin and synthetic.revoke_wait must not be negative")
		}
	}
	if r := c.Remediate; r != nil && r.Settle < 0 {
		bad(0, "remediate.settle must not be negative")
	}
	if inv := c.Inventory; inv != nil && (inv.RotationDays < 0 || inv.UnusedDays < 0) {
		bad(0, "inventory.rotation_days and inventory.unused_days must not be negative")
	}
	c.Rules.Gitleaks = c.resolve(c.Rules.Gitleaks)
	c.Rules.GitleaksIgnore = c.resolve(c.Rules.GitleaksIgnore)
	c.Rules.Identities = c.resolve(c.Rules.Identities)
	c.Rules.Inventory = c.resolve(c.Rules.Inventory)
	if inv := c.Inventory; inv != nil {
		for i, v := range inv.Vault {
			if v.Address == "" {
				bad(0, "inventory.vault[%d]: address is required", i)
			}
			if v.Name == "" {
				inv.Vault[i].Name = "vault"
				if len(inv.Vault) > 1 {
					inv.Vault[i].Name = fmt.Sprintf("vault%d", i)
				}
			}
		}
		if inv.AWSSM != nil && c.AWS == nil {
			bad(0, "inventory.awssm needs an aws: section (credentials, accounts)")
		}
		for i, g := range inv.GitHub {
			if g.Org == "" {
				bad(0, "inventory.github[%d]: org is required", i)
			}
		}
		for i, p := range inv.GCPSecretManager {
			if p.Project == "" || strings.ContainsAny(p.Project, "/ ") {
				bad(0, "inventory.gcp_secret_manager[%d]: project is required (the project id, as in gcpsm:PROJECT/SECRET)", i)
			}
		}
		if inv.SOPS != nil {
			inv.SOPS.AgeKeyFile = c.resolve(inv.SOPS.AgeKeyFile)
		}
		if inv.SealedSecrets != nil {
			inv.SealedSecrets.PrivateKeyFile = c.resolve(inv.SealedSecrets.PrivateKeyFile)
		}
		for section, paths := range map[string][]string{"sops": sopsPaths(inv.SOPS), "sealed_secrets": sealedPaths(inv.SealedSecrets)} {
			if paths == nil {
				continue
			}
			if len(paths) == 0 && (section != "sops" || len(inv.SOPS.Repos) == 0) {
				bad(0, "inventory.%s: paths is required (globs of files)", section)
			}
			for i, p := range paths {
				if _, err := filepath.Match(p, ""); err != nil {
					bad(0, "inventory.%s.paths[%d]: bad glob %q: %v", section, i, p, err)
				}
			}
		}
		seenCluster := map[string]bool{}
		for i := range inv.Kubernetes {
			k := &inv.Kubernetes[i]
			switch {
			case k.Name == "" || strings.ContainsAny(k.Name, "/: "):
				bad(0, "inventory.kubernetes[%d]: name is required (a word: findings name the store kubernetes:NAME)", i)
			case seenCluster[k.Name]:
				bad(0, "inventory.kubernetes[%d]: name %q is used twice", i, k.Name)
			case k.InCluster && (k.Kubeconfig != "" || k.Context != ""):
				bad(0, "inventory.kubernetes[%d] (%s): in_cluster uses the pod's service account; give no kubeconfig or context with it", i, k.Name)
			}
			seenCluster[k.Name] = true
			k.Kubeconfig = c.resolve(k.Kubeconfig)
			for j, p := range k.Namespaces {
				if _, err := path.Match(p, ""); err != nil || p == "" {
					bad(0, "inventory.kubernetes[%d].namespaces[%d]: bad glob %q", i, j, p)
				}
			}
		}
		seenGroup := map[string]bool{}
		for i, g := range inv.GitLab {
			if u, err := url.Parse(g.URL); g.URL != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil) {
				bad(0, "inventory.gitlab[%d]: url must be an http(s) URL without credentials (the token comes from token_env)", i)
			}
			if len(g.Groups) == 0 && !g.Instance {
				bad(0, "inventory.gitlab[%d]: give groups (full paths) or instance: true", i)
			}
			for j, grp := range g.Groups {
				switch {
				case grp == "" || strings.ContainsAny(grp, " @:") || strings.HasPrefix(grp, "/") || strings.HasSuffix(grp, "/") || grp == "-":
					bad(0, "inventory.gitlab[%d].groups[%d] is not a group's full path (as in gitlab:GROUP/PROJECT/KEY)", i, j)
				case seenGroup[grp]:
					bad(0, "inventory.gitlab[%d].groups[%d]: group %q is listed twice", i, j, grp)
				}
				seenGroup[grp] = true
			}
		}
		seenDoppler := map[string]bool{}
		for i, d := range inv.Doppler {
			switch u, err := url.Parse(d.APIURL); {
			case d.Name == "" || strings.ContainsAny(d.Name, "/: #"):
				bad(0, "inventory.doppler[%d]: name is required (a word: findings name the store doppler:NAME)", i)
			case seenDoppler[d.Name]:
				bad(0, "inventory.doppler[%d]: name %q is used twice", i, d.Name)
			case d.APIURL != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil):
				bad(0, "inventory.doppler[%d] (%s): api_url must be an http(s) URL without credentials", i, d.Name)
			}
			seenDoppler[d.Name] = true
			for j, p := range d.Projects {
				if _, err := path.Match(p, ""); err != nil || p == "" {
					bad(0, "inventory.doppler[%d].projects[%d]: bad glob %q", i, j, p)
				}
			}
		}
		seenOP := map[string]bool{}
		for i, o := range inv.OnePassword {
			switch u, err := url.Parse(o.URL); {
			case o.Name == "" || strings.ContainsAny(o.Name, "/: #"):
				bad(0, "inventory.onepassword[%d]: name is required (a word: findings name the store 1password:NAME)", i)
			case seenOP[o.Name]:
				bad(0, "inventory.onepassword[%d]: name %q is used twice", i, o.Name)
			case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil:
				bad(0, "inventory.onepassword[%d] (%s): url must be the Connect server's http(s) URL without credentials", i, o.Name)
			}
			seenOP[o.Name] = true
			for j, p := range o.Vaults {
				if _, err := path.Match(p, ""); err != nil || p == "" {
					bad(0, "inventory.onepassword[%d].vaults[%d]: bad glob %q", i, j, p)
				}
			}
		}
		seenVault := map[string]bool{}
		for i, v := range inv.AzureKeyVault {
			switch u, err := url.Parse(v.VaultURL); {
			case v.Name == "":
				bad(0, "inventory.azure_keyvault[%d]: name is required (declared paths are azkv:NAME/SECRET)", i)
			case seenVault[v.Name]:
				bad(0, "inventory.azure_keyvault[%d]: name %q is used twice", i, v.Name)
			case err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil:
				bad(0, "inventory.azure_keyvault[%d] (%s): vault_url must be https://NAME.vault.azure.net/", i, v.Name)
			}
			seenVault[v.Name] = true
		}
	}

	names := map[string]int{}
	name := func(kind, n string, line int) {
		key := kind + ":" + n
		if prev, ok := names[key]; ok {
			bad(line, "%s source name %q is already used on line %d", kind, n, prev)
		}
		names[key] = line
	}
	for i := range c.Sources.Git {
		g := &c.Sources.Git[i]
		switch {
		case g.Path == "" && g.URL == "":
			bad(g.Line, "sources.git[%d]: give a path or a url", i)
		case g.Path != "" && g.URL != "":
			bad(g.Line, "sources.git[%d]: give a path or a url, not both", i)
		}
		g.Path = c.resolve(g.Path)
		if g.Name == "" {
			g.Name = defaultName(g.Path, g.URL)
		}
		name("git", g.Name, g.Line)
	}
	if inv := c.Inventory; inv != nil && inv.SOPS != nil {
		for i, r := range inv.SOPS.Repos {
			if _, ok := names["git:"+r.Name]; !ok {
				bad(0, "inventory.sops.repos[%d]: %q is not the name of a sources.git repository", i, r.Name)
			}
			if len(r.Paths) == 0 {
				bad(0, "inventory.sops.repos[%d] (%s): paths is required (globs of the repository's files)", i, r.Name)
			}
			for j, g := range r.Paths {
				if _, err := path.Match(g, ""); err != nil {
					bad(0, "inventory.sops.repos[%d].paths[%d]: bad glob %q: %v", i, j, g, err)
				}
			}
		}
	}
	for i := range c.Sources.Dirs {
		d := &c.Sources.Dirs[i]
		if d.Path == "" {
			bad(d.Line, "sources.dirs[%d]: path is required", i)
		}
		d.Path = c.resolve(d.Path)
		if d.Name == "" {
			d.Name = defaultName(d.Path, "")
		}
		name("dir", d.Name, d.Line)
	}
	for i := range c.Sources.Logs {
		l := &c.Sources.Logs[i]
		if len(l.Paths) == 0 {
			bad(l.Line, "sources.logs[%d]: paths needs at least one glob", i)
		}
		for j, p := range l.Paths {
			if _, err := filepath.Match(p, ""); err != nil {
				bad(l.Line, "sources.logs[%d].paths[%d]: bad glob %q: %v", i, j, p, err)
			}
			l.Paths[j] = c.resolve(p)
		}
		if l.Name == "" && len(l.Paths) > 0 {
			l.Name = defaultName(filepath.Dir(l.Paths[0]), "")
		}
		name("logs", l.Name, l.Line)
	}
	for i := range c.Sources.GitHub {
		o := &c.Sources.GitHub[i]
		where := fmt.Sprintf("sources.github[%d]", i)
		if !GitHubLogin.MatchString(o.Org) {
			bad(o.Line, "%s: org must be the organisation's login (letters, digits and hyphens)", where)
		}
		name("github", o.Org, o.Line)
		for _, g := range append(append([]string{}, o.Include...), o.Exclude...) {
			if _, err := filepath.Match(g, ""); err != nil {
				bad(o.Line, "%s: bad glob %q: %v", where, g, err)
			}
		}
		switch o.Visibility {
		case "":
			o.Visibility = "all"
		case "all", "public", "private":
		default:
			bad(o.Line, "%s: visibility %q (want all, public or private)", where, o.Visibility)
		}
		if o.App != nil {
			if o.TokenEnv != "" {
				bad(o.Line, "%s: give token_env or app, not both", where)
			}
			if o.App.AppID <= 0 || o.App.InstallationID <= 0 || o.App.PrivateKeyFile == "" {
				bad(o.Line, "%s.app: app_id, installation_id and private_key_file are required", where)
			}
			o.App.PrivateKeyFile = c.resolve(o.App.PrivateKeyFile)
		} else if o.TokenEnv == "" {
			o.TokenEnv = "GITHUB_TOKEN"
		}
		if o.APIURL != "" {
			if u, err := url.Parse(o.APIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil {
				bad(o.Line, "%s: api_url must be an http(s) URL without credentials", where)
			}
		}
		if o.Workers < 0 || o.MaxRequests < 0 || o.RateLimitWait < 0 {
			bad(o.Line, "%s: workers, max_requests and rate_limit_wait must not be negative", where)
		}
		if o.Workers == 0 {
			o.Workers = 4
		}
		if o.MaxRequests == 0 {
			o.MaxRequests = 4
		}
		if o.RateLimitWait == 0 {
			o.RateLimitWait = 15 * time.Minute
		}
	}
	if c.AWS != nil {
		if c.AWS.Region == "" {
			c.AWS.Region = "us-east-1"
		}
		for i, a := range c.AWS.Accounts {
			if a.Name == "" {
				bad(a.Line, "aws.accounts[%d]: name is required", i)
			}
			name("aws account", a.Name, a.Line)
		}
		if o := c.AWS.Organization; o != "" {
			ok := o == "default" && len(c.AWS.Accounts) == 0
			for _, a := range c.AWS.Accounts {
				ok = ok || a.Name == o
			}
			if !ok {
				bad(0, "aws.organization: %q is not one of aws.accounts", o)
			}
		}
	}
	return errors.Join(errs...)
}

func defaultName(path, url string) string {
	s := path
	if url != "" {
		s = url
	}
	s = strings.TrimSuffix(strings.TrimRight(s, "/"), ".git")
	if i := strings.LastIndexAny(s, "/:"); i >= 0 {
		s = s[i+1:]
	}
	return s
}

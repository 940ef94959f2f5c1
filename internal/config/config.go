// Package config loads and validates vigil.yaml. Every error names the file
// and, where the YAML gives one, the line, because the file is usually edited
// by someone other than the person reading the nightly job's log.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
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
	// DB is the SQLite database; default vigil.db beside the config.
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
	Line  int      `yaml:"-"`
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

// DecodeStrict re-encodes a node and decodes it with unknown fields refused:
// yaml.v3's Node.Decode has no KnownFields switch of its own.
func DecodeStrict(n *yaml.Node, v any) error {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	if err := enc.Encode(n); err != nil {
		return err
	}
	dec := yaml.NewDecoder(&buf)
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		// Line numbers from the re-encoded copy are relative to the node;
		// shift them back to the file.
		return shiftLines(err, n.Line-1)
	}
	return nil
}

var lineRE = regexp.MustCompile(`line (\d+):`)

func shiftLines(err error, by int) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	out := make([]string, len(te.Errors))
	for i, e := range te.Errors {
		out[i] = lineRE.ReplaceAllStringFunc(e, func(m string) string {
			var n int
			fmt.Sscanf(m, "line %d:", &n)
			return fmt.Sprintf("line %d:", n+by)
		})
	}
	return &yaml.TypeError{Errors: out}
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
	dec := yaml.NewDecoder(r)
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{File: abs, Msg: "file is empty"}
		}
		return nil, YAMLError(abs, err)
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
		m = strings.TrimSpace(m)
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
	c.DB = c.resolve(c.DB)
	if c.HashKeyFile == "" {
		c.HashKeyFile = filepath.Join(filepath.Dir(c.DB), "vigil.key")
	}
	c.HashKeyFile = c.resolve(c.HashKeyFile)
	if c.CacheDir == "" {
		c.CacheDir = filepath.Join(filepath.Dir(c.DB), ".vigil-cache")
	}
	c.CacheDir = c.resolve(c.CacheDir)
	if c.FailOn == "" {
		c.FailOn = string(finding.High)
	}
	if _, err := finding.ParseSeverity(c.FailOn); err != nil {
		bad(0, "fail_on: %v", err)
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

package sops

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"filippo.io/age"
	gsops "github.com/getsops/sops/v3"
	"github.com/getsops/sops/v3/aes"
	sopsage "github.com/getsops/sops/v3/age"
	"github.com/getsops/sops/v3/cmd/sops/common"
	"github.com/getsops/sops/v3/config"
	"github.com/getsops/sops/v3/stores/dotenv"
	"github.com/getsops/sops/v3/stores/json"
	"github.com/getsops/sops/v3/stores/yaml"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/secrethash"
	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/rules"
	"github.com/vigilsec/vigil/stores"
	"github.com/vigilsec/vigil/stores/storetest"
)

type format interface {
	LoadPlainFile([]byte) (gsops.TreeBranches, error)
	EmitEncryptedFile(gsops.Tree) ([]byte, error)
}

// encrypt writes plain, encrypted by the sops library for recipient, to
// path (its extension picks the format), as `sops -e` would.
func encrypt(t *testing.T, path, plain string, recipient *age.X25519Recipient, meta gsops.Metadata) {
	t.Helper()
	var f format = yaml.NewStore(&config.YAMLStoreConfig{})
	switch filepath.Ext(path) {
	case ".json":
		f = json.NewStore(&config.JSONStoreConfig{})
	case ".env":
		f = dotenv.NewStore(&config.DotenvStoreConfig{})
	}
	branches, err := f.LoadPlainFile([]byte(plain))
	if err != nil {
		t.Fatal(err)
	}
	mk, err := sopsage.MasterKeyFromRecipient(recipient.String())
	if err != nil {
		t.Fatal(err)
	}
	meta.KeyGroups = []gsops.KeyGroup{{mk}}
	meta.Version = "3.13.3"
	tree := gsops.Tree{Branches: branches, Metadata: meta}
	dataKey := make([]byte, 32)
	rand.Read(dataKey)
	if errs := tree.Metadata.UpdateMasterKeys(dataKey); len(errs) > 0 {
		t.Fatal(errs)
	}
	if err := common.EncryptTree(common.EncryptTreeOpts{Tree: &tree, Cipher: aes.NewCipher(), DataKey: dataKey}); err != nil {
		t.Fatal(err)
	}
	out, err := f.EmitEncryptedFile(tree)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
}

func identity(t *testing.T) *age.X25519Identity {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestConformance(t *testing.T) {
	dir := t.TempDir()
	id := identity(t)
	storetest.Run(t, storetest.Harness{
		Open: func(t *testing.T, h stores.Hasher) stores.Store {
			return New(dir, []string{filepath.Join(dir, "*.enc.yaml")}, []age.Identity{id}, h, rules.DefaultControls())
		},
		Seed: func(t *testing.T, name, value string) string {
			encrypt(t, filepath.Join(dir, name+".enc.yaml"), "token: "+value+"\n", id.Recipient(), gsops.Metadata{UnencryptedSuffix: "_unencrypted"})
			return "sops:" + name + ".enc.yaml#token"
		},
		Broken: func(t *testing.T) stores.Store {
			bad := t.TempDir()
			os.WriteFile(filepath.Join(bad, "x.enc.yaml"), []byte("token: not encrypted at all\n"), 0o600)
			return New(bad, []string{filepath.Join(bad, "*.enc.yaml")}, nil, nil, rules.DefaultControls())
		},
	})
}

// Every format, metadata without a key, hashes with one, a wrong key, and
// a value left in plaintext against the file's rules.
func TestFormatsKeysAndPlaintext(t *testing.T) {
	dir := t.TempDir()
	id, other := identity(t), identity(t)
	pw, tok, key := testenv.FakeAWSKey(), testenv.FakeGitHubToken(), testenv.FakeAWSKey()
	encrypt(t, filepath.Join(dir, "db.yaml"), "db:\n  user: etl\n  password: "+pw+"\nport_unencrypted: 5432\n", id.Recipient(),
		gsops.Metadata{UnencryptedSuffix: "_unencrypted"})
	encrypt(t, filepath.Join(dir, "ci.json"), `{"deploy": {"token": "`+tok+`"}}`, id.Recipient(), gsops.Metadata{UnencryptedSuffix: "_unencrypted"})
	encrypt(t, filepath.Join(dir, "app.env"), "API_KEY="+key+"\n", id.Recipient(), gsops.Metadata{UnencryptedSuffix: "_unencrypted"})
	globs := []string{filepath.Join(dir, "*.yaml"), filepath.Join(dir, "*.json"), filepath.Join(dir, "*.env")}

	got := storetest.List(t, New(dir, globs, nil, nil, rules.DefaultControls()))
	var paths []string
	for _, s := range got {
		paths = append(paths, s.Path)
		if s.Updated.IsZero() || !strings.Contains(s.Where, "age:age1") || len(s.Hashes) > 0 {
			t.Errorf("%s: %+v", s.Path, s)
		}
	}
	want := "sops:app.env#API_KEY sops:ci.json#deploy.token sops:db.yaml#db.password sops:db.yaml#db.user sops:db.yaml#port_unencrypted"
	if strings.Join(paths, " ") != want {
		t.Fatalf("paths %v", paths)
	}

	h, _ := secrethash.New([]byte(strings.Repeat("k", 32)))
	hashed := map[string]string{}
	for _, s := range storetest.List(t, New(dir, globs, []age.Identity{id}, h, rules.DefaultControls())) {
		for _, vh := range s.Hashes {
			hashed[s.Path] = vh.Hash
		}
	}
	if hashed["sops:db.yaml#db.password"] != h.Hash(pw) || hashed["sops:ci.json#deploy.token"] != h.Hash(tok) || hashed["sops:app.env#API_KEY"] != h.Hash(key) {
		t.Fatalf("hashes %v", hashed)
	}
	err := New(dir, globs, []age.Identity{other}, h, rules.DefaultControls()).List(t.Context(), func(stores.Secret) {})
	if err == nil || !strings.Contains(err.Error(), "db.yaml") || !strings.Contains(err.Error(), "no age identity") {
		t.Fatalf("wrong key: %v", err)
	}

	// Someone pastes a new password in plaintext into the encrypted file.
	leaked := testenv.FakeAWSKey()
	b, _ := os.ReadFile(filepath.Join(dir, "db.yaml"))
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		if strings.Contains(l, "password: ENC[") {
			lines[i] = "    password: " + leaked
		}
	}
	os.WriteFile(filepath.Join(dir, "db.yaml"), []byte(strings.Join(lines, "\n")), 0o600)
	s := New(dir, globs, nil, nil, rules.DefaultControls())
	storetest.List(t, s)
	fs := s.Reported()
	if len(fs) != 1 || fs[0].Kind != finding.KindInvPlaintextConfig || fs[0].Resource != "sops:db.yaml#db.password" {
		t.Fatalf("reported %+v", fs)
	}
	if strings.Contains(fs[0].Title+fs[0].Detail, leaked) {
		t.Fatal("the plaintext value is in the finding")
	}
	// With the key, the tampered file is not decrypted, and its error (the
	// library's quotes the value) names no part of the plaintext.
	err = New(dir, globs, []age.Identity{id}, h, rules.DefaultControls()).List(t.Context(), func(stores.Secret) {})
	if err == nil || !strings.Contains(err.Error(), "db.yaml") || strings.Contains(err.Error(), leaked) {
		t.Fatalf("tampered file: %v", err)
	}
	// A file whose metadata was changed after encryption (its lastmodified,
	// which the MAC covers) fails the MAC and is not hashed.
	encrypt(t, filepath.Join(dir, "db.yaml"), "db:\n  password: "+pw+"\n", id.Recipient(), gsops.Metadata{UnencryptedSuffix: "_unencrypted"})
	b, _ = os.ReadFile(filepath.Join(dir, "db.yaml"))
	tampered := regexp.MustCompile(`lastmodified: "?\d{4}`).ReplaceAllString(string(b), `lastmodified: "2001`)
	os.WriteFile(filepath.Join(dir, "db.yaml"), []byte(tampered), 0o600)
	err = New(dir, globs, []age.Identity{id}, h, rules.DefaultControls()).List(t.Context(), func(stores.Secret) {})
	if err == nil || !strings.Contains(err.Error(), "MAC mismatch") {
		t.Fatalf("changed metadata: %v", err)
	}
	// A file the library can't read is named, with no line of it quoted.
	os.WriteFile(filepath.Join(dir, "bad.env"), []byte(leaked+"\n"), 0o600)
	err = New(dir, globs, nil, nil, rules.DefaultControls()).List(t.Context(), func(stores.Secret) {})
	if err == nil || !strings.Contains(err.Error(), "bad.env") || strings.Contains(err.Error(), leaked) {
		t.Fatalf("unreadable file: %v", err)
	}
}

// A glob whose directory is missing is an error, never an empty listing
// (its declared secrets would be called missing), as for the files store.
func TestMissingDirectoryIsAnError(t *testing.T) {
	dir := t.TempDir()
	err := New(dir, []string{"secrets/*.enc.yaml"}, nil, nil, rules.DefaultControls()).List(t.Context(), func(stores.Secret) {})
	if err == nil || !strings.Contains(err.Error(), "secrets") {
		t.Fatalf("%v", err)
	}
}

// SOPS files in a git repository are read at HEAD (a work tree or a bare
// mirror, as the leaks scanner keeps URL sources), matched by globs of
// repository paths; what is only in the work tree is not read, and a
// hostile file name is only a name.
func TestFilesInARepository(t *testing.T) {
	id := identity(t)
	pw, later := testenv.FakeAWSKey(), testenv.FakeAWSKey()
	tmp := t.TempDir()
	enc := func(plain string) string {
		p := filepath.Join(tmp, "f.yaml")
		encrypt(t, p, plain, id.Recipient(), gsops.Metadata{UnencryptedSuffix: "_unencrypted"})
		b, _ := os.ReadFile(p)
		return string(b)
	}
	r := testenv.NewRepo(t)
	r.Commit("secrets", map[string]string{
		"secrets/prod.enc.yaml":          enc("db:\n  password: " + pw + "\n"),
		"secrets/-x --output=y.enc.yaml": enc("token: " + testenv.FakeGitHubToken() + "\n"),
		"README.md":                      "not a secret\n",
	})
	// Uncommitted: not at HEAD, not read.
	os.WriteFile(filepath.Join(r.Dir, "secrets", "wip.enc.yaml"), []byte(enc("k: "+later+"\n")), 0o600)
	mirror := filepath.Join(t.TempDir(), "etl.git")
	r.Git("clone", "--quiet", "--mirror", r.Dir, mirror)
	// vigil run from a git hook: GIT_DIR names the hook's repository,
	// which is not the one read.
	hook := testenv.NewRepo(t)
	hook.Commit("other", map[string]string{"secrets/hook.enc.yaml": enc("k: " + testenv.FakeAWSKey() + "\n")})
	t.Setenv("GIT_DIR", filepath.Join(hook.Dir, ".git"))

	h, _ := secrethash.New([]byte(strings.Repeat("k", 32)))
	for _, dir := range []string{r.Dir, mirror} {
		s := New(t.TempDir(), nil, []age.Identity{id}, h, rules.DefaultControls()).WithRepos(Repo{Name: "etl", Dir: dir, Paths: []string{"secrets/*.enc.yaml"}})
		got := storetest.List(t, s)
		var paths []string
		for _, sec := range got {
			paths = append(paths, sec.Path)
			if sec.Path == "sops:git:etl/secrets/prod.enc.yaml#db.password" && (len(sec.Hashes) != 1 || sec.Hashes[0].Hash != h.Hash(pw)) {
				t.Errorf("%s: not hashed with the key", sec.Path)
			}
		}
		if want := "sops:git:etl/secrets/-x --output=y.enc.yaml#token sops:git:etl/secrets/prod.enc.yaml#db.password"; strings.Join(paths, " ") != want {
			t.Errorf("%s: paths %q", dir, paths)
		}
	}
	s := New(t.TempDir(), nil, nil, nil, rules.DefaultControls()).WithRepos(Repo{Name: "gone", Dir: filepath.Join(tmp, "nowhere"), Paths: []string{"*"}})
	if err := s.List(context.Background(), func(stores.Secret) {}); err == nil || !strings.Contains(err.Error(), "sops git:gone") {
		t.Fatalf("a missing repository: %v", err)
	}
}

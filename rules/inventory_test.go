package rules

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRotationDeclarations(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "secrets.yaml")
	good := `secrets:
  - path: awssm:prod/db/password
    owner: data
    rotation:
      field: password
      length: 32
      charset: hex
      validate:
        command: [./check.sh]
        timeout: 30s
`
	os.WriteFile(p, []byte(good), 0o644)
	d, err := LoadInventory(p)
	if err != nil || d[0].Rotation == nil || d[0].Rotation.Field != "password" || d[0].Rotation.Validate.Command[0] != "./check.sh" {
		t.Fatalf("good: %v %+v", err, d)
	}
	for name, c := range map[string]struct{ yaml, want string }{
		"charset":  {"    rotation: {charset: emoji}\n", `:2: secret "awssm:x": rotation charset is not one of`},
		"both":     {"    rotation: {length: 20, command: [gen]}\n", "both a command and a generator"},
		"short":    {"    rotation: {length: 8}\n", "outside 16..4096"},
		"store":    {"    rotation: {length: 20}\n", ""},
		"probe":    {"    rotation: {validate: {probe: ssh}}\n", `rotation validate probe is not aws or vault`},
		"empty":    {"    rotation: {validate: {}}\n", "needs a command or a probe"},
		"timeout":  {"    rotation: {validate: {command: [x], timeout: soon}}\n", "validate timeout"},
		"unknown":  {"    rotation: {lenght: 20}\n", "lenght"},
		"fileonly": {"", ""},
	} {
		path := "awssm:x"
		if name == "store" || name == "fileonly" {
			path = "file:config/.env#X"
		}
		os.WriteFile(p, []byte("secrets:\n  - path: "+path+"\n    owner: a\n"+c.yaml), 0o644)
		_, err := LoadInventory(p)
		switch {
		case name == "store" && (err == nil || !strings.Contains(err.Error(), "vigil rotates secrets of vault, awssm, azkv, gcpsm, doppler only")):
			t.Errorf("%s: %v", name, err)
		case name == "fileonly" && err != nil:
			t.Errorf("%s: %v", name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), p)):
			t.Errorf("%s: want %q naming the file, got %v", name, c.want, err)
		}
	}
}

// Every store's paths can be declared, and rotation declared for every
// store remediation writes to; a manifest key's first spelling
// (k8s:NS/NAME#KEY) is read as the cluster lists it.
func TestEveryStoreCanBeDeclared(t *testing.T) {
	p := filepath.Join(t.TempDir(), "secrets.yaml")
	doc := `secrets:
  - {path: "vault:secret/prod/db"}
  - {path: "awssm:prod/db", rotation: {length: 32}}
  - {path: "github:org/acme/actions/TOKEN"}
  - {path: "file:.env#DB_PASSWORD"}
  - {path: "k8s:etl/warehouse#password"}
  - {path: "k8s:etl/api/token"}
  - {path: "azkv:prod-kv/db", rotation: {length: 32}}
  - {path: "gcpsm:data-prod/db", rotation: {length: 32}}
  - {path: "sops:secrets/prod.yaml#db.password"}
  - {path: "sealed:etl/db/password"}
  - {path: "gitlab:acme/etl/DB_PASSWORD@production"}
  - {path: "1password:data/warehouse#password"}
  - {path: "doppler:etl/prd/DB_PASSWORD"}
`
	os.WriteFile(p, []byte(doc), 0o644)
	d, err := LoadInventory(p)
	if err != nil {
		t.Fatal(err)
	}
	if d[4].Path != "k8s:etl/warehouse/password" || d[5].Path != "k8s:etl/api/token" {
		t.Errorf("k8s paths: %q %q", d[4].Path, d[5].Path)
	}
	os.WriteFile(p, []byte("secrets:\n  - {path: \"sops:x.yaml#k\", rotation: {length: 32}}\n  - {path: \"infisical:p/c/n\"}\n"), 0o644)
	_, err = LoadInventory(p)
	if err == nil || !strings.Contains(err.Error(), "vigil rotates secrets of vault, awssm, azkv, gcpsm, doppler only") || !strings.Contains(err.Error(), `unknown store "infisical"`) {
		t.Fatalf("%v", err)
	}
}

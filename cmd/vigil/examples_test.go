package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	k8syaml "sigs.k8s.io/yaml"

	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/internal/policy"
	"github.com/vigilsec/vigil/internal/testenv/kubetest"
)

// The shipped examples must work as written: every vigil command line in
// them names a real command with real flags, and the files are what
// GitHub Actions and Kubernetes expect.

var expr = regexp.MustCompile(`\$\{\{[^}]*\}\}`)

// checkCommandLine parses a vigil command line with the real command tree.
func checkCommandLine(t *testing.T, where, line string) {
	t.Helper()
	line = expr.ReplaceAllString(line, "X")
	if i := strings.Index(line, ">"); i >= 0 {
		line = line[:i]
	}
	var args []string
	for _, f := range strings.Fields(line)[1:] {
		args = append(args, strings.Trim(f, `"'`))
	}
	root := newRoot()
	cmd, rest, err := root.Find(args)
	if err != nil || cmd == root {
		t.Errorf("%s: %q is not a vigil command: %v", where, line, err)
		return
	}
	if err := cmd.ParseFlags(rest); err != nil {
		t.Errorf("%s: %q: %v", where, line, err)
		return
	}
	if cmd.Args != nil {
		if err := cmd.Args(cmd, cmd.Flags().Args()); err != nil {
			t.Errorf("%s: %q: %v", where, line, err)
		}
	}
}

func TestGitHubActionsExample(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", "github-actions.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var wf struct {
		On   map[string]any `yaml:"on"`
		Jobs map[string]struct {
			Steps []struct {
				Run string `yaml:"run"`
			} `yaml:"steps"`
		} `yaml:"jobs"`
	}
	if err := yaml.Unmarshal(b, &wf); err != nil {
		t.Fatal(err)
	}
	if _, ok := wf.On["pull_request"]; !ok || len(wf.Jobs) == 0 {
		t.Fatalf("not a pull-request workflow: %+v", wf.On)
	}
	n := 0
	for name, job := range wf.Jobs {
		for _, s := range job.Steps {
			for _, line := range strings.Split(s.Run, "\n") {
				if line = strings.TrimSpace(line); strings.HasPrefix(line, "vigil ") {
					checkCommandLine(t, "github-actions.yml job "+name, line)
					n++
				}
			}
		}
	}
	if n < 2 {
		t.Errorf("found %d vigil command lines", n)
	}
}

func TestCronJobExample(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", "cronjob.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cj struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Spec       struct {
			Schedule    string `yaml:"schedule"`
			JobTemplate struct {
				Spec struct {
					Template struct {
						Spec struct {
							Containers []struct {
								Image string   `yaml:"image"`
								Args  []string `yaml:"args"`
							} `yaml:"containers"`
						} `yaml:"spec"`
					} `yaml:"template"`
				} `yaml:"spec"`
			} `yaml:"jobTemplate"`
		} `yaml:"spec"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	if err := dec.Decode(&cj); err != nil {
		t.Fatal(err)
	}
	if cj.APIVersion != "batch/v1" || cj.Kind != "CronJob" || len(strings.Fields(cj.Spec.Schedule)) != 5 {
		t.Fatalf("not a batch/v1 CronJob with a cron schedule: %+v", cj)
	}
	cs := cj.Spec.JobTemplate.Spec.Template.Spec.Containers
	if len(cs) != 1 || cs[0].Image == "" {
		t.Fatalf("containers: %+v", cs)
	}
	checkCommandLine(t, "cronjob.yaml", "vigil "+strings.Join(cs[0].Args, " "))
}

func TestIAMPolicyExamples(t *testing.T) {
	for _, name := range []string{"vigil-audit.json", "vigil-remediate.json"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "examples", "iam", name))
		if err != nil {
			t.Fatal(err)
		}
		doc, err := policy.Parse(string(b))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		for _, s := range doc.Statement {
			if s.Effect != "Allow" {
				continue
			}
			for _, a := range s.Action {
				if a == "*" || strings.HasSuffix(a, ":*") {
					t.Errorf("%s grants %s: vigil's own policies must be minimal", name, a)
				}
			}
		}
	}
}

// The sharded CronJob is what the Kubernetes API accepts, decoded strictly
// into its published types (k8s.io/api: an unknown or misspelt field
// fails), and what a sharded run needs: an Indexed Job whose completions
// are VIGIL_SHARDS, the Job's name as the run key, the database password
// and the hash key from Secrets, and a vigil.yaml that loads.
func TestShardedCronJobExample(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", "kubernetes", "sharded-cronjob.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cj batchv1.CronJob
	var cm corev1.ConfigMap
	for _, doc := range strings.Split(string(b), "\n---\n") {
		j, err := k8syaml.YAMLToJSON([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		var meta struct{ Kind string }
		json.Unmarshal(j, &meta)
		var into any
		switch meta.Kind {
		case "CronJob":
			into = &cj
		case "ConfigMap":
			into = &cm
		default:
			t.Fatalf("unexpected kind %q", meta.Kind)
		}
		dec := json.NewDecoder(bytes.NewReader(j))
		dec.DisallowUnknownFields()
		if err := dec.Decode(into); err != nil {
			t.Fatalf("%s: %v", meta.Kind, err)
		}
	}
	js := cj.Spec.JobTemplate.Spec
	if js.CompletionMode == nil || *js.CompletionMode != batchv1.IndexedCompletion || js.Completions == nil || js.BackoffLimitPerIndex == nil {
		t.Fatalf("not an Indexed Job with a per-index backoff: %+v", js)
	}
	c := js.Template.Spec.Containers[0]
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	if env["VIGIL_SHARDS"].Value != fmt.Sprint(*js.Completions) {
		t.Errorf("VIGIL_SHARDS %q but completions %d", env["VIGIL_SHARDS"].Value, *js.Completions)
	}
	if f := env["VIGIL_RUN_KEY"].ValueFrom; f == nil || f.FieldRef == nil || f.FieldRef.FieldPath != "metadata.labels['batch.kubernetes.io/job-name']" {
		t.Errorf("VIGIL_RUN_KEY is not the Job's name: %+v", env["VIGIL_RUN_KEY"])
	}
	for _, name := range []string{"PGPASSWORD", "VIGIL_HASH_KEY"} {
		if f := env[name].ValueFrom; f == nil || f.SecretKeyRef == nil {
			t.Errorf("%s does not come from a Secret", name)
		}
	}
	checkCommandLine(t, "sharded-cronjob.yaml", "vigil "+strings.Join(c.Args, " "))
	dir := t.TempDir()
	p := filepath.Join(dir, "vigil.yaml")
	os.WriteFile(p, []byte(cm.Data["vigil.yaml"]), 0o644)
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatalf("the example's vigil.yaml: %v", err)
	}
	if !config.IsPostgres(cfg.DB) || strings.Contains(cfg.DB, ":@") {
		t.Errorf("db %q: want a PostgreSQL URL without a password", cfg.DB)
	}
}

// The Kubernetes examples are what a real API server accepts: a
// server-side dry run validates them against its schemas, defaults and
// admission, storing nothing.
func TestKubernetesExamplesOnARealAPIServer(t *testing.T) {
	c := kubetest.Start(t)
	// A dry-run Namespace is not created, so the objects the example puts
	// in it would be refused for that alone.
	c.Namespace(t, "vigil", nil)
	for _, f := range []string{"cronjob.yaml", "kubernetes/sharded-cronjob.yaml", "kubernetes/vigil-clusterrole.yaml"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "examples", f))
		if err != nil {
			t.Fatal(err)
		}
		ns := c.Prefix() + "examples"
		c.Namespace(t, ns, nil)
		if err := c.DryRun(ns, b); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

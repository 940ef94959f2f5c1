package testenv

import (
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// ModuleDir returns the module cache directory of mod (path@version, or a
// path that vigil's go.mod requires), downloading it when needed: the
// official fixtures and definitions the tests replay (ESO's CRDs, GitLab
// client-go's response fixtures) come from the published modules.
func ModuleDir(mod string) (string, error) {
	cmd := exec.Command("go", "mod", "download", "-json", mod)
	if !strings.Contains(mod, "@") {
		cmd = exec.Command("go", "list", "-m", "-json", mod)
	}
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, ee.Stderr)
		}
		return "", fmt.Errorf("go mod download %s: %w", mod, err)
	}
	var m struct{ Dir string }
	if err := json.Unmarshal(out, &m); err != nil || m.Dir == "" {
		return "", fmt.Errorf("go mod download %s: no directory in %q", mod, out)
	}
	return m.Dir, nil
}

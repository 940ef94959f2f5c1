package rules

import (
	_ "embed"
	"fmt"
	"os"

	"gopkg.in/yaml.v3"
)

//go:embed controls.yaml
var defaultControls []byte

// Controls maps a finding kind to the compliance controls it bears on.
type Controls map[string][]string

// DefaultControls returns the embedded mapping.
func DefaultControls() Controls {
	c, err := parseControls("controls.yaml (embedded)", defaultControls)
	if err != nil {
		panic(err) // the embedded file is tested; failing here is a build bug
	}
	return c
}

// LoadControls reads a user's mapping in the same format as the default.
func LoadControls(path string) (Controls, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, &FileError{File: path, Msg: err.Error()}
	}
	return parseControls(path, b)
}

func parseControls(name string, b []byte) (Controls, error) {
	var c Controls
	if err := yaml.Unmarshal(b, &c); err != nil {
		return nil, &FileError{File: name, Msg: fmt.Sprintf("controls: %v", err)}
	}
	return c, nil
}

// For returns the controls of a kind (nil when unmapped).
func (c Controls) For(kind string) []string { return c[kind] }

package rules

import (
	_ "embed"
	"fmt"
	"os"
	"sort"

	"github.com/vigilsec/vigil/internal/finding"
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
func (c Controls) For(kind finding.Kind) []string { return c[string(kind)] }

// Control is a compliance control the monthly report gives a status for.
type Control struct {
	ID        string // as in controls.yaml: "SOC2:CC6.1"
	Framework string
	Title     string
}

// ReportedControls are the controls the monthly workbook reports on, each
// with the findings whose kinds map to it in the controls mapping.
var ReportedControls = []Control{
	{"SOC2:CC6.1", "SOC 2", "Logical access security over protected information assets (credentials protected, inventoried)"},
	{"SOC2:CC6.2", "SOC 2", "Access credentials issued, and removed when no longer needed"},
	{"SOC2:CC6.3", "SOC 2", "Access authorised, modified or removed by least privilege"},
	{"SOC2:CC6.6", "SOC 2", "Logical access restricted from outside system boundaries"},
	{"SOC2:CC7.2", "SOC 2", "System components monitored for anomalies (leaks detected)"},
	{"PCI-DSS-4.0:3.6", "PCI DSS 4.0", "Cryptographic keys used to protect stored account data are secured"},
	{"PCI-DSS-4.0:3.7", "PCI DSS 4.0", "Key-management processes cover the full key lifecycle (owners, rotation)"},
	{"PCI-DSS-4.0:7.2", "PCI DSS 4.0", "Access to system components and data is appropriately defined and assigned"},
	{"PCI-DSS-4.0:8.3.9", "PCI DSS 4.0", "Passwords/passphrases changed at least every 90 days or access analysed dynamically"},
	{"PCI-DSS-4.0:8.6.3", "PCI DSS 4.0", "Passwords for application and system accounts protected against misuse (rotated, not hard-coded)"},
	{"HIPAA:164.312(a)(1)", "HIPAA", "Access control: only authorised persons or software have access to ePHI"},
	{"HIPAA:164.312(b)", "HIPAA", "Audit controls: activity in systems holding ePHI is recorded and examined"},
	{"HIPAA:164.312(d)", "HIPAA", "Person or entity authentication"},
}

// Kinds returns the finding kinds mapped to control id, sorted.
func (c Controls) Kinds(id string) []string {
	var out []string
	for kind, ids := range c {
		for _, x := range ids {
			if x == id {
				out = append(out, kind)
				break
			}
		}
	}
	sort.Strings(out)
	return out
}

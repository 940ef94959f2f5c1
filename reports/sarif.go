package reports

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"sort"
	"strings"

	"github.com/vigilsec/vigil/internal/finding"
)

// SARIF 2.1.0 structures: only what vigil fills in.
type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool               sarifTool           `json:"tool"`
	AutomationDetails  *sarifAutomation    `json:"automationDetails,omitempty"`
	Results            []sarifResult       `json:"results"`
	OriginalURIBaseIDs map[string]sarifURI `json:"originalUriBaseIds,omitempty"`
}

type sarifAutomation struct {
	ID string `json:"id"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifRule struct {
	ID                   string         `json:"id"`
	Name                 string         `json:"name"`
	ShortDescription     sarifText      `json:"shortDescription"`
	FullDescription      sarifText      `json:"fullDescription"`
	Help                 sarifText      `json:"help"`
	DefaultConfiguration sarifConfig    `json:"defaultConfiguration"`
	Properties           map[string]any `json:"properties,omitempty"`
}

type sarifConfig struct {
	Level string `json:"level"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifURI struct {
	URI string `json:"uri"`
}

type sarifResult struct {
	RuleID              string            `json:"ruleId"`
	RuleIndex           int               `json:"ruleIndex"`
	Level               string            `json:"level"`
	Message             sarifText         `json:"message"`
	Locations           []sarifLocation   `json:"locations"`
	PartialFingerprints map[string]string `json:"partialFingerprints"`
	Properties          map[string]any    `json:"properties,omitempty"`
}

type sarifLocation struct {
	PhysicalLocation *sarifPhysical `json:"physicalLocation,omitempty"`
	LogicalLocations []sarifLogical `json:"logicalLocations,omitempty"`
}

type sarifLogical struct {
	FullyQualifiedName string `json:"fullyQualifiedName"`
	Kind               string `json:"kind,omitempty"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifact `json:"artifactLocation"`
	Region           *sarifRegion  `json:"region,omitempty"`
}

type sarifArtifact struct {
	URI       string `json:"uri"`
	URIBaseID string `json:"uriBaseId,omitempty"`
}

type sarifRegion struct {
	StartLine   int `json:"startLine"`
	StartColumn int `json:"startColumn,omitempty"`
	EndLine     int `json:"endLine,omitempty"`
}

// sarifLevel maps severities to SARIF levels; security-severity (a number
// GitHub code scanning reads) keeps the finer ordering.
func sarifLevel(s finding.Severity) (string, string) {
	switch s {
	case finding.Critical:
		return "error", "9.5"
	case finding.High:
		return "error", "8.0"
	case finding.Medium:
		return "warning", "5.5"
	case finding.Low:
		return "note", "3.0"
	}
	return "note", "0.0"
}

// ruleOf names a finding's SARIF rule: its kind, plus the detection rule for
// leaks, so that code scanning groups "aws-access-token in git" together.
func ruleOf(f finding.Finding) (id, name string) {
	id = string(f.Kind)
	if r := f.Evidence.String(finding.EvRule); r != "" {
		id += "/" + r
	}
	return id, strings.NewReplacer(".", "-", "/", "-").Replace(id)
}

// SARIF writes findings as a SARIF 2.1.0 log. Open findings only are the
// usual input; the caller decides. Locations in repositories are relative to
// the repository root (%SRCROOT%), others are absolute file URIs.
func SARIF(w io.Writer, run Run, fs []finding.Finding) error {
	rules := map[string]int{}
	var ruleList []sarifRule
	sorted := append([]finding.Finding(nil), fs...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].ID < sorted[j].ID })
	results := make([]sarifResult, 0, len(sorted))
	for _, f := range sorted {
		id, name := ruleOf(f)
		level, secSev := sarifLevel(f.Severity)
		idx, ok := rules[id]
		if !ok {
			idx = len(ruleList)
			rules[id] = idx
			ruleList = append(ruleList, sarifRule{
				ID:                   id,
				Name:                 name,
				ShortDescription:     sarifText{Text: ruleShort(f)},
				FullDescription:      sarifText{Text: ruleShort(f) + " (" + string(f.Kind) + ")"},
				Help:                 sarifText{Text: helpFor(string(f.Kind))},
				DefaultConfiguration: sarifConfig{Level: level},
				Properties: map[string]any{
					"tags":              append([]string{"security", f.Scanner}, f.Controls...),
					"security-severity": secSev,
				},
			})
		}
		r := sarifResult{
			RuleID:    id,
			RuleIndex: idx,
			Level:     level,
			Message:   sarifText{Text: f.Title + ". " + f.Detail},
			// The finding id is stable across runs and commits, so code
			// scanning tracks one alert per problem.
			PartialFingerprints: map[string]string{"vigilFindingId/v1": f.ID},
			Properties: map[string]any{
				"kind": f.Kind, "severity": string(f.Severity), "resource": f.Resource, "status": string(f.Status),
			},
		}
		if t, ok := run.Transitions[f.ID]; ok {
			r.Properties["transition"] = string(t)
		}
		if red := f.Evidence.String(finding.EvRedacted); red != "" {
			r.Properties["redacted"] = red
		}
		if c := f.Evidence.String(finding.EvCommit); c != "" {
			r.Properties["commit"] = c
		}
		r.Locations = []sarifLocation{locationOf(f)}
		results = append(results, r)
	}
	if ruleList == nil {
		ruleList = []sarifRule{}
	}
	log := sarifLog{
		Schema:  "https://json.schemastore.org/sarif-2.1.0.json",
		Version: "2.1.0",
		Runs: []sarifRun{{
			Tool: sarifTool{Driver: sarifDriver{
				Name: "vigil", Version: Version, InformationURI: "https://github.com/vigilsec/vigil", Rules: ruleList,
			}},
			Results:            results,
			OriginalURIBaseIDs: map[string]sarifURI{"%SRCROOT%": {URI: "file:///"}},
		}},
	}
	if run.ID != "" {
		log.Runs[0].AutomationDetails = &sarifAutomation{ID: "vigil/" + run.ID}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(log)
}

func locationOf(f finding.Finding) sarifLocation {
	l := f.Location
	if l == nil || l.Path == "" {
		return sarifLocation{LogicalLocations: []sarifLogical{{FullyQualifiedName: f.Resource, Kind: "resource"}}}
	}
	art := sarifArtifact{}
	if filepath.IsAbs(l.Path) {
		art.URI = (&url.URL{Scheme: "file", Path: filepath.ToSlash(l.Path)}).String()
	} else {
		art.URI = (&url.URL{Path: filepath.ToSlash(l.Path)}).String()
		art.URIBaseID = "%SRCROOT%"
	}
	pl := &sarifPhysical{ArtifactLocation: art}
	if l.Line > 0 {
		pl.Region = &sarifRegion{StartLine: l.Line, StartColumn: max(l.Column, 0)}
		if l.EndLine >= l.Line {
			pl.Region.EndLine = l.EndLine
		}
	}
	return sarifLocation{PhysicalLocation: pl}
}

func ruleShort(f finding.Finding) string {
	if r := f.Evidence.String(finding.EvRule); r != "" {
		return fmt.Sprintf("Secret matching %s", r)
	}
	return string(f.Kind)
}

func helpFor(kind string) string {
	switch {
	case strings.HasPrefix(kind, "leak."):
		return "A credential was found where it must not be. Rotate it first (it must be treated as compromised), then remove it from the source, and add a .gitleaksignore entry only for a verified false positive."
	}
	return "See vigil's documentation for " + kind + "."
}

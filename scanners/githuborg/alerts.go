package githuborg

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	gh "github.com/google/go-github/v60/github"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/secrethash"
	"github.com/vigilsec/vigil/scanners"
)

// ghAlert is the part of an organisation secret-scanning alert vigil reads.
// go-github v60 predates validity and first_location_detected, so the
// alerts are decoded here, through go-github's request, auth and paging.
type ghAlert struct {
	Number                int    `json:"number"`
	State                 string `json:"state"`
	SecretType            string `json:"secret_type"`
	SecretTypeDisplayName string `json:"secret_type_display_name"`
	// Secret is hashed at once and dropped.
	Secret     string `json:"secret"`
	Validity   string `json:"validity"`
	HTMLURL    string `json:"html_url"`
	Repository struct {
		ID       int64  `json:"id"`
		FullName string `json:"full_name"`
	} `json:"repository"`
	First *struct {
		Path      string `json:"path"`
		StartLine int    `json:"start_line"`
		CommitSHA string `json:"commit_sha"`
	} `json:"first_location_detected"`
}

// alert is an open alert as vigil keeps it: the value only as its keyed
// hash and redaction.
type alert struct {
	number              int
	secretType, display string
	hash, redacted      string
	validity, url       string
	repoID              int64
	repo                string
	commit, path        string
	line                int
	matched             bool
}

func (a *alert) key() string {
	return location{Repo: a.repoID, Commit: a.commit, Path: a.path, Line: a.line}.key()
}

// alertSet is an organisation's open alerts for one run.
type alertSet struct {
	s      *Scanner
	org    string
	src    scanners.Source
	err    error
	alerts []*alert
	byLoc  map[string]*alert
}

// readAlerts lists the open alerts, every page.
func (s *Scanner) readAlerts(ctx context.Context, o Org) *alertSet {
	a := &alertSet{s: s, org: o.Name, src: scanners.Source{Scanner: "github", Name: o.Name, Part: "alerts"},
		byLoc: map[string]*alert{}}
	for n := 1; ; n++ {
		if n > maxPages {
			a.err = fmt.Errorf("more than %d pages of alerts; the listing is not trusted", maxPages)
			return a
		}
		req, err := o.Client.API.NewRequest(http.MethodGet,
			fmt.Sprintf("orgs/%s/secret-scanning/alerts?state=open&per_page=%d&page=%d", o.Name, perPage, n), nil)
		if err != nil {
			a.err = err
			return a
		}
		var page []ghAlert
		resp, err := o.Client.call(ctx, func() (*gh.Response, error) { return o.Client.API.Do(ctx, req, &page) })
		if err != nil {
			a.err = fmt.Errorf("list secret-scanning alerts (page %d): %w", n, err)
			return a
		}
		for i := range page {
			g := &page[i]
			if g.State != "open" {
				g.Secret = ""
				continue
			}
			al := &alert{number: g.Number, secretType: g.SecretType, display: g.SecretTypeDisplayName,
				validity: g.Validity, url: g.HTMLURL, repoID: g.Repository.ID, repo: g.Repository.FullName}
			if g.Secret != "" {
				al.hash, al.redacted = s.Leaks.Engine.Hasher.Hash(g.Secret), secrethash.Redact(g.Secret)
				g.Secret = ""
			}
			if f := g.First; f != nil {
				al.commit, al.path, al.line = f.CommitSHA, strings.TrimPrefix(f.Path, "/"), f.StartLine
			}
			a.alerts = append(a.alerts, al)
			if al.commit != "" {
				a.byLoc[al.key()] = al
			}
		}
		if resp.NextPage == 0 {
			return a
		}
	}
}

// annotate puts the alert at each finding's location on the finding: one
// leak is one finding, carrying both sources.
func (a *alertSet) annotate(repo int64, fs []finding.Finding) {
	for i := range fs {
		f := &fs[i]
		if f.Location == nil {
			continue
		}
		al := a.byLoc[location{Repo: repo, Commit: f.Location.Commit, Path: f.Location.Path, Line: f.Location.Line}.key()]
		if al == nil {
			continue
		}
		al.matched = true
		f.Evidence["github_alert"] = al.number
		f.Evidence["github_alert_type"] = al.secretType
		if al.validity != "" {
			f.Evidence["github_alert_validity"] = al.validity
		}
		if al.url != "" {
			f.Evidence["github_alert_url"] = al.url
		}
	}
}

// result is the alerts source's result: the alerts no vigil finding stands
// at. It is made after the organisation's repositories are stored, and
// asks the store (located) where vigil's open leak findings of the
// organisation are, so that a finding made on an earlier night, in a
// repository not read tonight or by another shard, carries its alert too.
func (a *alertSet) result(ctx context.Context, located Located) scanners.Result {
	res := scanners.Result{Source: a.src, Mode: scanners.Full}
	if a.err != nil {
		res.Mode, res.Err = scanners.Partial, fmt.Errorf("github %s alerts: %w", a.org, a.err)
	}
	var at map[string]string
	if located != nil {
		var err error
		if at, err = located(ctx, a.org); err != nil {
			// Without the locations, an alert can't be told from a finding
			// vigil holds: none is reported, and nothing is resolved.
			res.Mode, res.Err = scanners.Partial, fmt.Errorf("github %s alerts: vigil's findings: %w", a.org, err)
			return res
		}
	}
	matched := 0
	for _, al := range a.alerts {
		if !al.matched && al.commit != "" {
			if _, ok := at[al.key()]; ok {
				al.matched = true
			}
		}
		if al.matched {
			matched++
			continue
		}
		res.Findings = append(res.Findings, a.finding(al))
	}
	res.Note = fmt.Sprintf("%d open secret-scanning alerts, %d at the location of a vigil finding", len(a.alerts), matched)
	return res
}

// Located returns where the open leak findings of an organisation's
// repositories are: LocationKey -> finding id.
type Located func(ctx context.Context, org string) (map[string]string, error)

// LocationKey is the key Located's map uses for a finding of repository
// id (its GitHub id) at commit, path and line.
func LocationKey(repo int64, commit, path string, line int) string {
	return location{Repo: repo, Commit: commit, Path: path, Line: line}.key()
}

// finding turns an alert no vigil finding carries into a leak finding of
// its own, with the keyed hash leak.live matches on.
func (a *alertSet) finding(al *alert) finding.Finding {
	sev := finding.High
	switch al.validity {
	case "active":
		sev = finding.Critical
	case "inactive":
		sev = finding.Medium
	}
	ev := finding.Evidence{
		finding.EvRule: "github:" + al.secretType,
		"github_alert": al.number,
		"secret_type":  al.secretType,
		"repository":   al.repo,
	}
	if al.hash != "" {
		ev[finding.EvSecretHash], ev[finding.EvRedacted] = al.hash, al.redacted
	}
	if al.validity != "" {
		ev["github_alert_validity"] = al.validity
	}
	if al.url != "" {
		ev["github_alert_url"] = al.url
	}
	where := al.repo
	var loc *finding.Location
	if al.commit != "" {
		ev[finding.EvCommit] = al.commit
		loc = &finding.Location{Repo: al.repo, Commit: al.commit, Path: al.path, Line: al.line}
		where = fmt.Sprintf("%s at %s:%d", al.repo, al.path, al.line)
	}
	name := al.display
	if name == "" {
		name = al.secretType
	}
	return finding.Finding{
		ID:       finding.Fingerprint(finding.KindLeakGitHubAlert, a.org, strconv.FormatInt(al.repoID, 10), strconv.Itoa(al.number)),
		Kind:     finding.KindLeakGitHubAlert,
		Severity: sev,
		Scanner:  "leaks",
		Resource: fmt.Sprintf("github-alert:%s#%d", al.repo, al.number),
		Title:    fmt.Sprintf("GitHub secret-scanning alert #%d: %s in %s", al.number, name, where),
		Detail: fmt.Sprintf("GitHub's secret scanning reports %s %s (validity: %s) that vigil's rules did not find at that place. "+
			"Treat it as compromised: rotate it, then close the alert.", name, al.redacted, orUnknown(al.validity)),
		Status:   finding.StatusOpen,
		Evidence: ev,
		Controls: a.s.Controls.For(finding.KindLeakGitHubAlert),
		Source:   a.src.String(),
		Location: loc,
	}
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

package doctor

import (
	"context"
	"strings"

	"github.com/vigilsec/vigil/internal/wiring"
)

// githubChecks reads one page of each inventory.github organisation's
// secrets.
func githubChecks(ctx context.Context, e *wiring.Env) []Check {
	gs, err := e.GitHubStores(ctx)
	var out []Check
	if err != nil {
		out = append(out, Check{Area: "github", Target: "inventory.github", What: "client", Status: Failed, Detail: err.Error()})
	}
	for _, g := range gs {
		out = append(out, apiCheck("github", g.Name(), "list organisation secrets", g.Check(ctx)))
	}
	for _, o := range e.Config.Sources.GitHub {
		org, err := wiring.GitHubOrg(o)
		if err != nil {
			out = append(out, Check{Area: "github", Target: "sources.github " + o.Org, What: "client", Status: Failed, Detail: err.Error()})
			continue
		}
		repos, alerts := org.Client.Check(ctx, o.Org, org.Alerts)
		out = append(out, apiCheck("github", "sources.github "+o.Org, "list repositories", repos))
		if org.Alerts {
			out = append(out, apiCheck("github", "sources.github "+o.Org, "list secret-scanning alerts", alerts))
		}
	}
	return out
}

// apiCheck is a check of one call to a SaaS API (GitHub, GitLab,
// 1Password Connect): 401 is authentication, 403 and 404 a permission
// (GitHub and GitLab answer 404 to a token that may not see the group), a
// refused connection unreachable.
func apiCheck(area, target, what string, err error) Check {
	c := Check{Area: area, Target: target, What: what, Status: OK}
	if err == nil {
		return c
	}
	c.Status, c.Detail = Failed, err.Error()
	switch msg := err.Error(); {
	case strings.Contains(msg, " 401 ") || strings.Contains(msg, "(401"):
		c.Detail = "authentication: " + msg
	case strings.Contains(msg, " 403 ") || strings.Contains(msg, " 404 ") || strings.Contains(msg, "(403"):
		c.Status = Missing
	case strings.Contains(msg, "connection refused") || strings.Contains(msg, "no such host"):
		c.Status = Unreachable
	}
	return c
}

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
		c := Check{Area: "github", Target: g.Name(), What: "list organisation secrets", Status: OK}
		if err := g.Check(ctx); err != nil {
			c.Status, c.Detail = Failed, err.Error()
			switch msg := err.Error(); {
			case strings.Contains(msg, " 401 "):
				c.Detail = "authentication: " + msg
			case strings.Contains(msg, " 403 ") || strings.Contains(msg, " 404 "):
				// GitHub answers 404 to a token that may not see the org.
				c.Status = Missing
			case strings.Contains(msg, "connection refused") || strings.Contains(msg, "no such host"):
				c.Status = Unreachable
			}
		}
		out = append(out, c)
	}
	return out
}

package doctor

import (
	"context"
	"os"

	gl "gitlab.com/gitlab-org/api/client-go/v2"

	"github.com/vigilsec/vigil/internal/wiring"
	"github.com/vigilsec/vigil/stores/doppler"
	"github.com/vigilsec/vigil/stores/gitlab"
	"github.com/vigilsec/vigil/stores/onepassword"
)

// gitlabChecks reads one page of each inventory.gitlab group's variables
// (and of the instance's, when listed): what the listing needs first.
func gitlabChecks(ctx context.Context, e *wiring.Env) []Check {
	inv := e.Config.Inventory
	if inv == nil {
		return nil
	}
	var out []Check
	for _, g := range inv.GitLab {
		// A pre-flight answers at once: one retry, not client-go's five.
		c, err := gitlab.NewClient(g, gl.WithCustomRetryMax(1))
		if err != nil {
			out = append(out, Check{Area: "gitlab", Target: "inventory.gitlab " + g.URL, What: "client", Status: Failed, Detail: err.Error()})
			continue
		}
		for _, grp := range g.Groups {
			s := gitlab.New(c, gitlab.Options{Group: grp})
			out = append(out, apiCheck("gitlab", s.Name(), "list group variables", s.Check(ctx)))
		}
		if g.Instance {
			s := gitlab.New(c, gitlab.Options{})
			out = append(out, apiCheck("gitlab", s.Name(), "list instance variables", s.Check(ctx)))
		}
	}
	return out
}

// onepasswordChecks lists each Connect server's vaults with its token.
func onepasswordChecks(ctx context.Context, e *wiring.Env) []Check {
	inv := e.Config.Inventory
	if inv == nil {
		return nil
	}
	var out []Check
	for _, o := range inv.OnePassword {
		s := onepassword.New(onepassword.NewClient(o.URL, os.Getenv(onepassword.TokenEnv(o))), o.Name, o.Vaults, nil)
		out = append(out, apiCheck("1password", s.Name(), "list vaults", s.Check(ctx)))
	}
	return out
}

// dopplerChecks reads the first page of each workplace's projects.
func dopplerChecks(ctx context.Context, e *wiring.Env) []Check {
	inv := e.Config.Inventory
	if inv == nil {
		return nil
	}
	var out []Check
	for _, w := range inv.Doppler {
		s := doppler.New(doppler.NewClient(w.APIURL, os.Getenv(doppler.TokenEnv(w))), w.Name, w.Projects, nil, nil)
		out = append(out, apiCheck("doppler", s.Name(), "list projects", s.Check(ctx)))
	}
	return out
}

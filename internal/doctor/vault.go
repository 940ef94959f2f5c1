package doctor

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/vigilsec/vigil/internal/wiring"
	"github.com/vigilsec/vigil/rules"
)

// vaultChecks logs in to each inventory.vault store and asks for the
// token's capabilities where a run reads (list metadata; read data when
// values are hashed), where synthetic checks mint child tokens, and where a
// rotation writes.
func vaultChecks(ctx context.Context, e *wiring.Env) []Check {
	inv := e.Config.Inventory
	if inv == nil {
		return nil
	}
	ids, _ := e.Identities() // a broken file is reported by the config checks
	declared, _ := e.Declared()
	var out []Check
	for _, v := range inv.Vault {
		add := func(what string, st Status, detail string) {
			out = append(out, Check{Area: "vault", Target: v.Name, What: what, Status: st, Detail: detail})
		}
		c, err := e.Vault(ctx, v)
		if err != nil {
			add("login", Failed, err.Error())
			continue
		}
		if _, err := c.Auth().Token().LookupSelfWithContext(ctx); err != nil {
			st := Failed
			if strings.Contains(err.Error(), "connection refused") || strings.Contains(err.Error(), "no such host") || strings.Contains(err.Error(), "timeout") {
				st = Unreachable
			}
			add("token lookup-self", st, err.Error())
			continue
		}
		add("token lookup-self", OK, "")
		want := func(path string, oneOf ...string) {
			caps, err := c.Sys().CapabilitiesSelfWithContext(ctx, path)
			if err != nil {
				add(path, Failed, err.Error())
				return
			}
			for _, w := range oneOf {
				if slices.Contains(caps, w) || slices.Contains(caps, "root") {
					add(strings.Join(oneOf, "|")+" "+path, OK, "")
					return
				}
			}
			add(strings.Join(oneOf, "|")+" "+path, Missing, fmt.Sprintf("the token has %v there", caps))
		}
		for _, m := range v.Mounts {
			m = strings.Trim(m, "/")
			want(m+"/metadata/", "list")
			if inv.HashValues {
				want(m+"/data/"+probe, "read")
			}
			// Rotation writes a new version; only needed where the declared
			// inventory says how to rotate something under this mount.
			if slices.ContainsFunc(declared, func(d rules.Declared) bool {
				return d.Rotation != nil && strings.HasPrefix(d.Path, "vault:"+m+"/")
			}) {
				want(m+"/data/"+probe, "update", "create")
			}
		}
		if slices.ContainsFunc(ids, func(id rules.Identity) bool {
			return id.Kind == rules.KindVault && id.Vault == v.Name && id.Probes != nil
		}) {
			want("auth/token/create", "update", "create")
		}
	}
	return out
}

package inventory

import (
	"log/slog"

	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/rules"
)

// NewScanner builds the comparison half of the inventory scanner from a
// vigil.yaml: the declared inventory and the consumers' environments. The
// stores are added by the caller (each adapter is its own package).
func NewScanner(cfg *config.Config, controls rules.Controls, leaks LeakHashes, log *slog.Logger) (*Scanner, error) {
	var declared []rules.Declared
	if cfg.Rules.Inventory != "" {
		var err error
		if declared, err = rules.LoadInventory(cfg.Rules.Inventory); err != nil {
			return nil, err
		}
	}
	envs := map[string]string{}
	if cfg.Rules.Identities != "" {
		ids, err := rules.LoadIdentities(cfg.Rules.Identities)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			envs[id.Name] = id.Env
		}
	}
	inv := cfg.Inventory
	c := &Comparer{Declared: declared, IdentityEnv: envs, Controls: controls,
		DefaultRotationDays: inv.RotationDays, DefaultUnusedDays: inv.UnusedDays}
	if c.DefaultRotationDays == 0 {
		c.DefaultRotationDays = rules.DefaultRotationDays
	}
	if c.DefaultUnusedDays == 0 {
		c.DefaultUnusedDays = rules.DefaultUnusedDays
	}
	s := &Scanner{Comparer: c, Log: log}
	if inv.HashValues {
		s.Leaks = leaks
	}
	return s, nil
}

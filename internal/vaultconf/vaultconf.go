// Package vaultconf logs in to the Vault / OpenBao servers a vigil.yaml
// names, the one way every scanner needs: a token from the variable the
// config names, or an AppRole login. Credentials never come from the config
// file itself.
package vaultconf

import (
	"context"
	"fmt"
	"os"

	"github.com/openbao/openbao/api/v2"

	"github.com/vigilsec/vigil/internal/config"
)

// Login returns a client for the store, authenticated.
func Login(ctx context.Context, v config.VaultStore) (*api.Client, error) {
	tokenEnv := v.TokenEnv
	if tokenEnv == "" {
		tokenEnv = "VAULT_TOKEN"
	}
	cfg := api.DefaultConfig()
	cfg.Address = v.Address
	c, err := api.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("vault %s (%s): %w", v.Name, v.Address, err)
	}
	if v.AppRole == nil {
		c.SetToken(os.Getenv(tokenEnv))
		return c, nil
	}
	mount := v.AppRole.Mount
	if mount == "" {
		mount = "approle"
	}
	s, err := c.Logical().WriteWithContext(ctx, "auth/"+mount+"/login", map[string]any{
		"role_id": os.Getenv(v.AppRole.RoleIDEnv), "secret_id": os.Getenv(v.AppRole.SecretIDEnv),
	})
	if err != nil {
		return nil, fmt.Errorf("vault %s (%s): AppRole login: %w", v.Name, v.Address, err)
	}
	if s == nil || s.Auth == nil {
		return nil, fmt.Errorf("vault %s (%s): AppRole login returned no token", v.Name, v.Address)
	}
	c.SetToken(s.Auth.ClientToken)
	return c, nil
}

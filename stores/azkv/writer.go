package azkv

import (
	"context"
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
)

// Writer is what a rotation needs of Key Vault: the current version and
// its value (held in memory for a rollback, never stored), a new version,
// and a version's enabled flag. Secrets are named as in the vault, versions
// by their ids.
type Writer struct {
	Client *azsecrets.Client
}

// Current returns the current version's id and value.
func (w Writer) Current(ctx context.Context, name string) (version, value string, err error) {
	out, err := w.Client.GetSecret(ctx, name, "", nil)
	if err != nil {
		return "", "", fmt.Errorf("azkv: get %s: %w", name, err)
	}
	if out.ID != nil {
		version = out.ID.Version()
	}
	return version, deref(out.Value), nil
}

// Value returns one version's value.
func (w Writer) Value(ctx context.Context, name, version string) (string, error) {
	out, err := w.Client.GetSecret(ctx, name, version, nil)
	if err != nil {
		return "", fmt.Errorf("azkv: get %s version %s: %w", name, version, err)
	}
	return deref(out.Value), nil
}

// Add sets value as a new version and returns its id.
func (w Writer) Add(ctx context.Context, name, value string) (string, error) {
	out, err := w.Client.SetSecret(ctx, name, azsecrets.SetSecretParameters{Value: &value}, nil)
	if err != nil {
		return "", fmt.Errorf("azkv: set %s: %w", name, err)
	}
	if out.ID == nil {
		return "", nil
	}
	return out.ID.Version(), nil
}

// Enable sets a version's enabled flag.
func (w Writer) Enable(ctx context.Context, name, version string, enabled bool) error {
	_, err := w.Client.UpdateSecretProperties(ctx, name, version, azsecrets.UpdateSecretPropertiesParameters{
		SecretAttributes: &azsecrets.SecretAttributes{Enabled: &enabled}}, nil)
	if err != nil {
		return fmt.Errorf("azkv: set enabled=%v on %s version %s: %w", enabled, name, version, err)
	}
	return nil
}

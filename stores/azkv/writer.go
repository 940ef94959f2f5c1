package azkv

import (
	"context"
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
)

// Writer is what a rotation needs of Key Vault: the current version and
// value (held in memory for a rollback, never stored), a new version, and
// a version's enabled flag (disabled once the new one is proven, enabled
// again on rollback).
type Writer struct {
	Client *azsecrets.Client
}

// Current returns the current value.
func (w Writer) Current(ctx context.Context, name string) (string, error) {
	v, _, err := w.Version(ctx, name, "")
	return v, err
}

// Version returns a version's value and id ("": the current version).
func (w Writer) Version(ctx context.Context, name, version string) (value, id string, err error) {
	out, err := w.Client.GetSecret(ctx, name, version, nil)
	if err != nil {
		return "", "", fmt.Errorf("azkv: get %s (version %q): %w", name, version, err)
	}
	if out.ID != nil {
		id = out.ID.Version()
	}
	return deref(out.Value), id, nil
}

// Put sets value as a new version and returns its version id.
func (w Writer) Put(ctx context.Context, name, value string) (string, error) {
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

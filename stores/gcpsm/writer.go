package gcpsm

import (
	"context"
	"fmt"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
)

// Writer is what a rotation needs of Secret Manager: the latest version and
// its value (held in memory, never stored), a new version, and a version's
// state. Secrets are full names ("projects/P/secrets/S"), versions too.
type Writer struct {
	Client *secretmanager.Client
}

// Current returns the latest version's name and value.
func (w Writer) Current(ctx context.Context, secret string) (version, value string, err error) {
	out, err := w.Client.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: secret + "/versions/latest"})
	if err != nil {
		return "", "", fmt.Errorf("gcpsm: access the latest version of %s: %w", secret, err)
	}
	return out.GetName(), string(out.GetPayload().GetData()), nil
}

// Value returns one version's value.
func (w Writer) Value(ctx context.Context, _, version string) (string, error) {
	out, err := w.Client.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: version})
	if err != nil {
		return "", fmt.Errorf("gcpsm: access %s: %w", version, err)
	}
	return string(out.GetPayload().GetData()), nil
}

// Add adds value as a new version of secret and returns its name.
func (w Writer) Add(ctx context.Context, secret, value string) (string, error) {
	out, err := w.Client.AddSecretVersion(ctx, &secretmanagerpb.AddSecretVersionRequest{Parent: secret,
		Payload: &secretmanagerpb.SecretPayload{Data: []byte(value)}})
	if err != nil {
		return "", fmt.Errorf("gcpsm: add a version to %s: %w", secret, err)
	}
	return out.GetName(), nil
}

// Enable enables or disables a version.
func (w Writer) Enable(ctx context.Context, _, version string, enabled bool) error {
	var err error
	if enabled {
		_, err = w.Client.EnableSecretVersion(ctx, &secretmanagerpb.EnableSecretVersionRequest{Name: version})
	} else {
		_, err = w.Client.DisableSecretVersion(ctx, &secretmanagerpb.DisableSecretVersionRequest{Name: version})
	}
	if err != nil {
		return fmt.Errorf("gcpsm: set enabled=%v on %s: %w", enabled, version, err)
	}
	return nil
}

package vault

import (
	"context"
	"fmt"
	"strconv"

	"github.com/openbao/openbao/api/v2"
)

// KV reads and writes one store's KV v2 secrets: the primitives a rotation
// needs. Writes use check-and-set, so a concurrent writer makes the write
// fail rather than be overwritten. Paths are mount and secret, as the
// declared path vault:MOUNT/SECRET splits.
type KV struct {
	client *api.Client
	name   string
}

// NewKV returns the KV writer of store name.
func NewKV(client *api.Client, name string) *KV { return &KV{client: client, name: name} }

// Caller names the token vigil writes with, for the audit trail.
func (k *KV) Caller(ctx context.Context) string {
	s, err := k.client.Auth().Token().LookupSelfWithContext(ctx)
	if err != nil || s == nil {
		return "unknown"
	}
	name, _ := s.Data["display_name"].(string)
	acc, _ := s.Data["accessor"].(string)
	return fmt.Sprintf("vault:%s (accessor %s)", name, acc)
}

// CurrentVersion reads the secret's current_version.
func (k *KV) CurrentVersion(ctx context.Context, mount, secret string) (int, error) {
	s, err := k.client.Logical().ReadWithContext(ctx, mount+"/metadata/"+secret)
	if err != nil {
		return 0, fmt.Errorf("%s: read metadata of %s/%s: %w", k.name, mount, secret, err)
	}
	if s == nil {
		return 0, fmt.Errorf("%s: %s/%s does not exist", k.name, mount, secret)
	}
	return num(s.Data["current_version"]), nil
}

// ReadVersion reads version v's data.
func (k *KV) ReadVersion(ctx context.Context, mount, secret string, v int) (map[string]any, error) {
	s, err := k.client.Logical().ReadWithDataWithContext(ctx, mount+"/data/"+secret, map[string][]string{"version": {strconv.Itoa(v)}})
	if err != nil {
		return nil, fmt.Errorf("%s: read %s/%s version %d: %w", k.name, mount, secret, v, err)
	}
	if s == nil {
		return nil, fmt.Errorf("%s: %s/%s version %d does not exist", k.name, mount, secret, v)
	}
	data, _ := s.Data["data"].(map[string]any)
	if data == nil {
		return nil, fmt.Errorf("%s: %s/%s version %d is deleted or destroyed", k.name, mount, secret, v)
	}
	return data, nil
}

// Write writes data as a new version with check-and-set on cas (the
// version the writer read) and returns the version written.
func (k *KV) Write(ctx context.Context, mount, secret string, data map[string]any, cas int) (int, error) {
	s, err := k.client.Logical().WriteWithContext(ctx, mount+"/data/"+secret, map[string]any{"data": data, "options": map[string]any{"cas": cas}})
	if err != nil {
		return 0, fmt.Errorf("%s: write %s/%s (check-and-set on version %d): %w", k.name, mount, secret, cas, err)
	}
	if s == nil {
		return 0, fmt.Errorf("%s: write %s/%s returned nothing", k.name, mount, secret)
	}
	return num(s.Data["version"]), nil
}

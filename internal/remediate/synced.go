package remediate

import (
	"context"
	"fmt"

	"github.com/vigilsec/vigil/internal/store"
)

// Propagator carries a rotated value to the copies other systems keep of
// it (External Secrets Operator's Kubernetes Secrets): it has them
// refreshed and proves each holds the value whose keyed hash is want.
type Propagator interface {
	Propagate(ctx context.Context, path, field, want string) (copies []string, err error)
}

// Synced is a rotation whose copies are refreshed after it, and after its
// rollback: a rotation is done only when the pods' copies hold the new
// value (otherwise it fails verification and is rolled back), and a
// rollback only when they hold the old one again.
type Synced struct {
	Handler
	Copies Propagator
}

// field is the rotated field: the one the handler chose (its state), else
// the declared one.
func rotatedField(a *store.Action) (path, field string) {
	var spec RotateSpec
	_ = decode(a.Spec, &spec)
	field, _ = a.State["field"].(string)
	if field == "" && spec.Rotation != nil {
		field = spec.Rotation.Field
	}
	return spec.Path, field
}

// Apply implements Handler.
func (s Synced) Apply(ctx context.Context, a *store.Action, save func() error) error {
	if err := s.Handler.Apply(ctx, a, save); err != nil {
		return err
	}
	path, field := rotatedField(a)
	copies, err := s.Copies.Propagate(ctx, path, field, a.AfterHash)
	if len(copies) > 0 {
		a.State["copies"] = copies
		if err := save(); err != nil {
			return err
		}
	}
	if err != nil {
		return fmt.Errorf("%w: the copies of %s were not refreshed: %v", ErrVerify, path, err)
	}
	return nil
}

// Rollback implements Handler: after the old value is back in the store,
// the copies are refreshed again and must hold it (BeforeHash).
func (s Synced) Rollback(ctx context.Context, a *store.Action, save func() error) error {
	if err := s.Handler.Rollback(ctx, a, save); err != nil {
		return err
	}
	path, field := rotatedField(a)
	if _, err := s.Copies.Propagate(ctx, path, field, a.BeforeHash); err != nil {
		return fmt.Errorf("the old value of %s is back in its store, but its copies do not hold it: %v", path, err)
	}
	return nil
}

package remediate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/google/uuid"

	"github.com/vigilsec/vigil/internal/secrethash"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/rules"
)

// SMAPI is the part of Secrets Manager rotation uses.
type SMAPI interface {
	DescribeSecret(context.Context, *sm.DescribeSecretInput, ...func(*sm.Options)) (*sm.DescribeSecretOutput, error)
	GetSecretValue(context.Context, *sm.GetSecretValueInput, ...func(*sm.Options)) (*sm.GetSecretValueOutput, error)
	PutSecretValue(context.Context, *sm.PutSecretValueInput, ...func(*sm.Options)) (*sm.PutSecretValueOutput, error)
	UpdateSecretVersionStage(context.Context, *sm.UpdateSecretVersionStageInput, ...func(*sm.Options)) (*sm.UpdateSecretVersionStageOutput, error)
}

// SMStore is one Secrets Manager store (an account and region).
type SMStore struct {
	Client SMAPI
	STS    *sts.Client // for the caller identity in the audit log; may be nil
}

// SecretsManager rotates Secrets Manager secrets the way AWS's own rotation
// does: the new value is staged as AWSPENDING, validated, then promoted to
// AWSCURRENT, which leaves the old one as AWSPREVIOUS for the grace period.
// A failed validation removes AWSPENDING; AWSCURRENT was never touched.
type SecretsManager struct {
	Stores map[string]SMStore // by inventory store name, "awssm:<account>/<region>"
	Hasher *secrethash.Hasher
	Values *Values
}

// RotateSpec is what a planned rotation names.
type RotateSpec struct {
	Store    string          `json:"store"`
	Path     string          `json:"path"`   // awssm:NAME or vault:MOUNT/PATH
	Secret   string          `json:"secret"` // the name in the store
	Mount    string          `json:"mount,omitempty"`
	Rotation *rules.Rotation `json:"rotation"`
}

// smState is how far a rotation got.
type smState struct {
	FromVersion    string    `json:"from_version,omitempty"`    // AWSCURRENT before
	PendingVersion string    `json:"pending_version,omitempty"` // our new version, once asked for
	Step           string    `json:"step,omitempty"`            // put | promote | done
	GraceUntil     time.Time `json:"grace_until,omitzero"`
}

func stageOf(stages map[string][]string, stage string) string {
	for id, ss := range stages {
		for _, s := range ss {
			if s == stage {
				return id
			}
		}
	}
	return ""
}

func (h *SecretsManager) store(spec RotateSpec) (SMStore, error) {
	s, ok := h.Stores[spec.Store]
	if !ok {
		return s, fmt.Errorf("no Secrets Manager store %q in the config", spec.Store)
	}
	return s, nil
}

func callerARN(ctx context.Context, c *sts.Client) string {
	if c == nil {
		return ""
	}
	out, err := c.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	return aws.ToString(out.Arn)
}

func (h *SecretsManager) value(ctx context.Context, c SMAPI, name, version string) (string, error) {
	out, err := c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String(name), VersionId: aws.String(version)})
	if err != nil {
		return "", err
	}
	if out.SecretString == nil {
		return "", errors.New("binary secrets are not rotated by vigil")
	}
	return aws.ToString(out.SecretString), nil
}

// Apply implements Handler.
func (h *SecretsManager) Apply(ctx context.Context, a *store.Action, save func() error) error {
	var spec RotateSpec
	var st smState
	if err := errors.Join(decode(a.Spec, &spec), decode(a.State, &st)); err != nil {
		return err
	}
	s, err := h.store(spec)
	if err != nil {
		return err
	}
	a.Caller = callerARN(ctx, s.STS)
	step := func(name string) error {
		st.Step = name
		a.State = encode(st)
		return save()
	}
	desc, err := s.Client.DescribeSecret(ctx, &sm.DescribeSecretInput{SecretId: aws.String(spec.Secret)})
	if err != nil {
		return fmt.Errorf("%s: DescribeSecret %s: %w", spec.Store, spec.Secret, err)
	}
	st.FromVersion = stageOf(desc.VersionIdsToStages, "AWSCURRENT")
	if st.FromVersion == "" {
		return fmt.Errorf("%s: %s has no AWSCURRENT version", spec.Store, spec.Secret)
	}
	if p := stageOf(desc.VersionIdsToStages, "AWSPENDING"); p != "" {
		return fmt.Errorf("%s: %s already has an AWSPENDING version (%s): another rotation is under way", spec.Store, spec.Secret, p)
	}
	old, err := h.value(ctx, s.Client, spec.Secret, st.FromVersion)
	if err != nil {
		return fmt.Errorf("%s: read %s: %w", spec.Store, spec.Secret, err)
	}
	fresh, err := h.Values.New(ctx, spec.Path, spec.Rotation)
	if err != nil {
		return err
	}
	doc, oldField, err := replaceField(old, spec.Rotation.Field, fresh)
	if err != nil {
		return fmt.Errorf("%s: %w", spec.Path, err)
	}
	a.BeforeHash, a.AfterHash = h.Hasher.Hash(oldField), h.Hasher.Hash(fresh)

	// The version id is chosen and recorded before the call: if vigil dies
	// during it, the rollback knows which version to unstage.
	st.PendingVersion = uuid.NewString() // AWS's ClientRequestToken form
	if err := step("put"); err != nil {
		return err
	}
	if _, err := s.Client.PutSecretValue(ctx, &sm.PutSecretValueInput{SecretId: aws.String(spec.Secret),
		ClientRequestToken: aws.String(st.PendingVersion), SecretString: aws.String(doc), VersionStages: []string{"AWSPENDING"}}); err != nil {
		return fmt.Errorf("%s: PutSecretValue %s (AWSPENDING): %w", spec.Store, spec.Secret, err)
	}
	if err := h.Values.Validate(ctx, spec.Path, spec.Rotation, fresh, doc); err != nil {
		return err
	}
	if err := step("promote"); err != nil {
		return err
	}
	if _, err := s.Client.UpdateSecretVersionStage(ctx, &sm.UpdateSecretVersionStageInput{SecretId: aws.String(spec.Secret),
		VersionStage: aws.String("AWSCURRENT"), MoveToVersionId: aws.String(st.PendingVersion), RemoveFromVersionId: aws.String(st.FromVersion)}); err != nil {
		return fmt.Errorf("%s: promote %s to AWSCURRENT: %w", spec.Store, spec.Secret, err)
	}
	if _, err := s.Client.UpdateSecretVersionStage(ctx, &sm.UpdateSecretVersionStageInput{SecretId: aws.String(spec.Secret),
		VersionStage: aws.String("AWSPENDING"), RemoveFromVersionId: aws.String(st.PendingVersion)}); err != nil {
		return fmt.Errorf("%s: unstage AWSPENDING of %s: %w", spec.Store, spec.Secret, err)
	}
	// Verify by reading what the store now serves as current.
	cur, err := s.Client.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String(spec.Secret), VersionStage: aws.String("AWSCURRENT")})
	if err != nil {
		return fmt.Errorf("%s: read back %s: %w", spec.Store, spec.Secret, err)
	}
	if aws.ToString(cur.VersionId) != st.PendingVersion || h.Hasher.Hash(aws.ToString(cur.SecretString)) != h.Hasher.Hash(doc) {
		return fmt.Errorf("%w: %s: AWSCURRENT is not the new value after promotion", ErrVerify, spec.Secret)
	}
	grace := 7
	if spec.Rotation.GraceDays > 0 {
		grace = spec.Rotation.GraceDays
	}
	st.GraceUntil = time.Now().UTC().Add(time.Duration(grace) * 24 * time.Hour)
	return step("done")
}

// Rollback implements Handler: AWSCURRENT goes back to the version it was
// on, and our version loses every stage.
func (h *SecretsManager) Rollback(ctx context.Context, a *store.Action, save func() error) error {
	var spec RotateSpec
	var st smState
	if err := errors.Join(decode(a.Spec, &spec), decode(a.State, &st)); err != nil {
		return err
	}
	if st.PendingVersion == "" {
		return nil // nothing was written
	}
	s, err := h.store(spec)
	if err != nil {
		return err
	}
	a.Caller = callerARN(ctx, s.STS)
	desc, err := s.Client.DescribeSecret(ctx, &sm.DescribeSecretInput{SecretId: aws.String(spec.Secret)})
	if err != nil {
		return fmt.Errorf("%s: DescribeSecret %s: %w", spec.Store, spec.Secret, err)
	}
	stages := desc.VersionIdsToStages
	if cur := stageOf(stages, "AWSCURRENT"); cur == st.PendingVersion {
		if _, ok := stages[st.FromVersion]; !ok {
			return fmt.Errorf("%s: the version %s was before is gone; restore by hand", spec.Secret, st.FromVersion)
		}
		if _, err := s.Client.UpdateSecretVersionStage(ctx, &sm.UpdateSecretVersionStageInput{SecretId: aws.String(spec.Secret),
			VersionStage: aws.String("AWSCURRENT"), MoveToVersionId: aws.String(st.FromVersion), RemoveFromVersionId: aws.String(st.PendingVersion)}); err != nil {
			return fmt.Errorf("%s: move AWSCURRENT back to %s: %w", spec.Secret, st.FromVersion, err)
		}
	} else if cur != st.FromVersion {
		return fmt.Errorf("%s: AWSCURRENT is now %s, neither vigil's version nor the one before: someone else rotated it; not touching it", spec.Secret, cur)
	}
	if stageOf(stages, "AWSPENDING") == st.PendingVersion {
		if _, err := s.Client.UpdateSecretVersionStage(ctx, &sm.UpdateSecretVersionStageInput{SecretId: aws.String(spec.Secret),
			VersionStage: aws.String("AWSPENDING"), RemoveFromVersionId: aws.String(st.PendingVersion)}); err != nil {
			return fmt.Errorf("%s: unstage AWSPENDING: %w", spec.Secret, err)
		}
	}
	cur, err := s.Client.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String(spec.Secret), VersionStage: aws.String("AWSCURRENT")})
	if err != nil {
		return fmt.Errorf("%s: read back %s: %w", spec.Store, spec.Secret, err)
	}
	if aws.ToString(cur.VersionId) != st.FromVersion {
		return fmt.Errorf("%s: AWSCURRENT is %s after rollback, not %s", spec.Secret, aws.ToString(cur.VersionId), st.FromVersion)
	}
	a.AfterHash = h.Hasher.Hash(fieldOf(aws.ToString(cur.SecretString), spec.Rotation.Field))
	st.Step = "rolled_back"
	a.State = encode(st)
	return save()
}

package awssm

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// WriteAPI is the part of Secrets Manager a rotation uses.
type WriteAPI interface {
	DescribeSecret(context.Context, *sm.DescribeSecretInput, ...func(*sm.Options)) (*sm.DescribeSecretOutput, error)
	GetSecretValue(context.Context, *sm.GetSecretValueInput, ...func(*sm.Options)) (*sm.GetSecretValueOutput, error)
	PutSecretValue(context.Context, *sm.PutSecretValueInput, ...func(*sm.Options)) (*sm.PutSecretValueOutput, error)
	UpdateSecretVersionStage(context.Context, *sm.UpdateSecretVersionStageInput, ...func(*sm.Options)) (*sm.UpdateSecretVersionStageOutput, error)
}

// Writer gives a rotation the primitives of one store (an account and
// region): version stages, values by version, staging a new version and
// moving stages, the way AWS's own rotation does.
type Writer struct {
	client WriteAPI
	sts    *sts.Client // the caller identity for the audit trail; may be nil
	name   string
}

// NewWriter returns the writer of store name ("awssm:<account>/<region>").
func NewWriter(client WriteAPI, stsClient *sts.Client, name string) *Writer {
	return &Writer{client: client, sts: stsClient, name: name}
}

// Caller names the identity vigil writes as, for the audit trail.
func (w *Writer) Caller(ctx context.Context) string {
	if w.sts == nil {
		return ""
	}
	out, err := w.sts.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	return aws.ToString(out.Arn)
}

// Stages returns the secret's version ids and their stages.
func (w *Writer) Stages(ctx context.Context, secret string) (map[string][]string, error) {
	desc, err := w.client.DescribeSecret(ctx, &sm.DescribeSecretInput{SecretId: aws.String(secret)})
	if err != nil {
		return nil, fmt.Errorf("%s: DescribeSecret %s: %w", w.name, secret, err)
	}
	return desc.VersionIdsToStages, nil
}

// StageOf returns the version that holds stage, or "".
func StageOf(stages map[string][]string, stage string) string {
	for id, ss := range stages {
		for _, s := range ss {
			if s == stage {
				return id
			}
		}
	}
	return ""
}

// Value reads the string value of one version.
func (w *Writer) Value(ctx context.Context, secret, version string) (string, error) {
	out, err := w.client.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String(secret), VersionId: aws.String(version)})
	if err != nil {
		return "", fmt.Errorf("%s: read %s: %w", w.name, secret, err)
	}
	if out.SecretString == nil {
		return "", fmt.Errorf("%s: read %s: binary secrets are not rotated by vigil", w.name, secret)
	}
	return aws.ToString(out.SecretString), nil
}

// Current reads what the store serves as AWSCURRENT: its version and value.
// (Read by stage, since a version read right after a stage move may lag.)
func (w *Writer) Current(ctx context.Context, secret string) (version, value string, err error) {
	cur, err := w.client.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String(secret), VersionStage: aws.String("AWSCURRENT")})
	if err != nil {
		return "", "", fmt.Errorf("%s: read back %s: %w", w.name, secret, err)
	}
	return aws.ToString(cur.VersionId), aws.ToString(cur.SecretString), nil
}

// PutPending stages value as a new version with the given id (chosen, and
// recorded, by the caller before the call) under AWSPENDING.
func (w *Writer) PutPending(ctx context.Context, secret, version, value string) error {
	if _, err := w.client.PutSecretValue(ctx, &sm.PutSecretValueInput{SecretId: aws.String(secret),
		ClientRequestToken: aws.String(version), SecretString: aws.String(value), VersionStages: []string{"AWSPENDING"}}); err != nil {
		return fmt.Errorf("%s: PutSecretValue %s (AWSPENDING): %w", w.name, secret, err)
	}
	return nil
}

// MoveStage moves stage to version to (from version from); an empty to
// only removes the stage from from.
func (w *Writer) MoveStage(ctx context.Context, secret, stage, to, from string) error {
	in := &sm.UpdateSecretVersionStageInput{SecretId: aws.String(secret), VersionStage: aws.String(stage)}
	if to != "" {
		in.MoveToVersionId = aws.String(to)
	}
	if from != "" {
		in.RemoveFromVersionId = aws.String(from)
	}
	if _, err := w.client.UpdateSecretVersionStage(ctx, in); err != nil {
		return fmt.Errorf("%s: move %s of %s: %w", w.name, stage, secret, err)
	}
	return nil
}

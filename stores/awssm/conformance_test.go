package awssm

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/google/uuid"

	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/stores"
	"github.com/vigilsec/vigil/stores/storetest"
)

// The store conformance suite against moto_server, in a region of its own.
func TestConformance(t *testing.T) {
	endpoint := testenv.Moto(t)
	const region, name = "ap-southeast-2", "awssm:conformance/ap-southeast-2"
	c := client(t, endpoint, region)
	storetest.Run(t, storetest.Harness{
		Open: func(t *testing.T, h stores.Hasher) stores.Store { return New(c, name, h) },
		Seed: func(t *testing.T, secret, value string) string {
			if _, err := c.CreateSecret(context.Background(), &sm.CreateSecretInput{Name: aws.String("team/" + secret), SecretString: aws.String(value)}); err != nil {
				t.Fatal(err)
			}
			return "awssm:team/" + secret
		},
		Paged: 100, // ListSecrets pages of 100
		Broken: func(t *testing.T) stores.Store {
			return New(client(t, "http://127.0.0.1:1", region), name, nil)
		},
		Denied: func(t *testing.T) stores.Store {
			// A user with no policy, once moto enforces IAM.
			admin := testenv.AWSConfig(t, endpoint)
			ic := iam.NewFromConfig(admin)
			ctx := context.Background()
			if _, err := ic.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("nobody")}); err != nil {
				t.Fatal(err)
			}
			k, err := ic.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("nobody")})
			if err != nil {
				t.Fatal(err)
			}
			cfg := testenv.AWSConfig(t, endpoint)
			cfg.Region = region
			cfg.Credentials = credentials.NewStaticCredentialsProvider(aws.ToString(k.AccessKey.AccessKeyId), aws.ToString(k.AccessKey.SecretAccessKey), "")
			testenv.MotoPost(t, "/moto-api/reset-auth", "0")
			t.Cleanup(func() { testenv.MotoPost(t, "/moto-api/reset-auth", "inf") })
			return New(sm.NewFromConfig(cfg), name, nil)
		},
		Rotate: func(t *testing.T, path, value string) func() {
			return rotateSM(t, NewWriter(c, nil, name), strings.TrimPrefix(path, "awssm:"), value)
		},
	})
}

// rotateSM rotates the way remediation does (stage AWSPENDING, promote it to
// AWSCURRENT, unstage) and returns the rollback (AWSCURRENT moved back).
func rotateSM(t *testing.T, w *Writer, secret, value string) func() {
	t.Helper()
	ctx := context.Background()
	stages, err := w.Stages(ctx, secret)
	if err != nil {
		t.Fatal(err)
	}
	from := StageOf(stages, "AWSCURRENT")
	pending := uuid.NewString()
	if err := w.PutPending(ctx, secret, pending, value); err != nil {
		t.Fatal(err)
	}
	if err := w.MoveStage(ctx, secret, "AWSCURRENT", pending, from); err != nil {
		t.Fatal(err)
	}
	if err := w.MoveStage(ctx, secret, "AWSPENDING", "", pending); err != nil {
		t.Fatal(err)
	}
	if v, _, err := w.Current(ctx, secret); err != nil || v != pending {
		t.Fatalf("AWSCURRENT after promotion: %s %v", v, err)
	}
	return func() {
		if err := w.MoveStage(ctx, secret, "AWSCURRENT", from, pending); err != nil {
			t.Fatal(err)
		}
	}
}

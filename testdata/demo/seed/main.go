// Command seed builds the demo's small data-platform account in a local moto
// (AWS) and OpenBao dev server: job roles with drift, a role any repository of
// an organisation can assume, secrets with owners, one whose value leaked in
// the demo repository's history and is still live, and a Vault policy that
// grants more than its identity declares.
//
// moto and a dev OpenBao keep nothing when they stop, so with -remediated the
// seeder rebuilds the account as the previous `make demo` left it: the
// narrowing and the rotation it approved are in place (the rotated value is
// new and random; vigil never wrote it anywhere). A second `make demo`
// therefore shows what is still open and what stayed resolved.
//
// Every value here is fake.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"log"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	otypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/openbao/openbao/api/v2"

	"github.com/vigilsec/vigil/internal/testenv/motohttp"
)

// leakedStripeKey is the fake key committed on the demo repository's
// spike/stripe branch (setup.sh): the same value in Secrets Manager makes
// the leak live.
const leakedStripeKey = "sk_live_51Hq8ZpLx3VbN7mTc2RwK9yFd4JsG6aQe1UoXi5Pn0BvC8tMz"

const ec2Trust = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`

func main() {
	motoURL := flag.String("moto", "", "moto endpoint")
	baoURL := flag.String("bao", "", "OpenBao address")
	remediated := flag.Bool("remediated", false, "rebuild the state the previous demo's remediation left")
	flag.Parse()
	ctx := context.Background()
	if err := seedAWS(ctx, *motoURL, *remediated); err != nil {
		log.Fatalf("seed moto: %v", err)
	}
	if err := seedBao(*baoURL, os.Getenv("BAO_TOKEN")); err != nil {
		log.Fatalf("seed OpenBao: %v", err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		log.Fatal(err)
	}
	return v
}

func doc(stmts string) *string {
	return aws.String(`{"Version":"2012-10-17","Statement":[` + stmts + `]}`)
}

func seedAWS(ctx context.Context, endpoint string, remediated bool) error {
	// The tests' configuration: no create is sent twice (motohttp says why).
	cfg, err := motohttp.Config(ctx, endpoint)
	if err != nil {
		return err
	}
	// An organisation, so that vigil reads its SCPs (this account is its
	// management account, which SCPs do not bind).
	must(organizations.NewFromConfig(cfg).CreateOrganization(ctx, &organizations.CreateOrganizationInput{FeatureSet: otypes.OrganizationFeatureSetAll}))
	c := iam.NewFromConfig(cfg)
	role := func(name, trust string) {
		must(c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(name), AssumeRolePolicyDocument: aws.String(trust),
			Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("data-platform")}}}))
	}
	// etl-loader needs to read exports; someone gave it s3:* "for now".
	role("etl-loader", ec2Trust)
	job := `{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::warehouse/exports/*"},{"Effect":"Allow","Action":"s3:*","Resource":"*"}`
	if remediated { // as `vigil remediate apply` narrowed it
		job = `{"Sid":"grant0","Effect":"Allow","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::warehouse/exports/*"]}`
	}
	must(c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("etl-loader"), PolicyName: aws.String("job"), PolicyDocument: doc(job)}))
	// reporting lacks the DynamoDB read it is declared to need.
	role("reporting", ec2Trust)
	must(c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("reporting"), PolicyName: aws.String("job"),
		PolicyDocument: doc(`{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::warehouse/reports/*"}`)}))
	// break-glass: an administrator nobody declared.
	role("break-glass", ec2Trust)
	must(c.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String("break-glass"), PolicyArn: aws.String("arn:aws:iam::aws:policy/AdministratorAccess")}))
	// deployer: GitHub Actions of any acme repository may assume it.
	must(c.CreateOpenIDConnectProvider(ctx, &iam.CreateOpenIDConnectProviderInput{Url: aws.String("https://token.actions.githubusercontent.com"),
		ClientIDList: []string{"sts.amazonaws.com"}, ThumbprintList: []string{"6938fd4d98bab03faadb97b34396831e3780aea1"}}))
	const gh = "token.actions.githubusercontent.com"
	role("deployer", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::123456789012:oidc-provider/`+gh+`"},`+
		`"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"`+gh+`:aud":"sts.amazonaws.com"},"StringLike":{"`+gh+`:sub":"repo:acme/*"}}}]}`)
	must(c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("deployer"), PolicyName: aws.String("job"),
		PolicyDocument: doc(`{"Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::releases/*"}`)}))

	s := sm.NewFromConfig(cfg)
	secret := func(name, value, owner, env string) {
		must(s.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value),
			Tags: []smtypes.Tag{{Key: aws.String("owner"), Value: aws.String(owner)}, {Key: aws.String("env"), Value: aws.String(env)}}}))
	}
	stripe := leakedStripeKey
	if remediated { // rotated by the previous demo: a new value nobody has seen
		stripe = random(24)
	}
	secret("prod/billing/stripe-key", stripe, "billing-team", "prod")
	secret("prod/warehouse/db", fmt.Sprintf(`{"username":"etl","password":"%s"}`, random(16)), "data-platform", "prod")
	secret("dev/scratch/token", random(16), "", "dev") // nobody declared it
	return nil
}

func seedBao(addr, token string) error {
	cfg := api.DefaultConfig()
	cfg.Address = addr
	c, err := api.NewClient(cfg)
	if err != nil {
		return err
	}
	c.SetToken(token)
	kv := c.KVv2("secret")
	ctx := context.Background()
	put := func(path string, data map[string]any, meta map[string]any) error {
		if _, err := kv.Put(ctx, path, data); err != nil {
			return err
		}
		return kv.PutMetadata(ctx, path, api.KVMetadataPutInput{CustomMetadata: meta})
	}
	for _, p := range []struct {
		path       string
		owner, env string
	}{
		{"prod/warehouse/password", "data-platform", "prod"},
		{"prod/etl/token", "data-platform", "prod"},
		{"dev/etl/token", "data-platform", "dev"},
	} {
		if err := put(p.path, map[string]any{"value": random(16)}, map[string]any{"owner": p.owner, "env": p.env}); err != nil {
			return fmt.Errorf("put %s: %w", p.path, err)
		}
	}
	// The etl policy was meant for dev only; a wildcard reaches prod too.
	return c.Sys().PutPolicy("etl", `path "secret/data/dev/etl/*" { capabilities = ["read"] }
path "secret/data/+/etl/*" { capabilities = ["read"] }`)
}

func random(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		log.Fatal(err)
	}
	return hex.EncodeToString(b)
}

package doctor

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/vigilsec/vigil/internal/awsconf"
	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/internal/wiring"
	"github.com/vigilsec/vigil/stores/awssm"
)

// probe is a name that exists nowhere: a write API called on it is
// authorised (or not) and then fails to find it, changing nothing.
const probe = "vigil-doctor-does-not-exist"

// A key id in the shape KMS accepts, of no key.
const probeKey = "00000000-0000-4000-8000-000000000000"

// classify turns an AWS call's error into a status: authorised means the
// call got past authorisation (it may still have found nothing).
func classify(err error) (Status, string) {
	if err == nil {
		return OK, ""
	}
	// An HTTP 403 is a refusal whatever the body says (an emulator's, or
	// a proxy's, may not be the service's JSON).
	status := 0
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		if status == 403 {
			return Missing, "HTTP 403"
		}
		if status != 0 {
			return Failed, fmt.Sprintf("HTTP %d", status)
		}
		return Unreachable, err.Error()
	}
	code := ae.ErrorCode()
	if status == 403 && !strings.Contains(code, "Token") && !strings.Contains(code, "Signature") {
		return Missing, code
	}
	switch {
	case strings.Contains(code, "AccessDenied") || code == "UnauthorizedOperation" || code == "AuthorizationError":
		return Missing, code
	case code == "InvalidClientTokenId" || code == "SignatureDoesNotMatch" || code == "ExpiredToken" || code == "UnrecognizedClientException":
		return Failed, "authentication: " + code
	case code == "NoSuchEntity" || code == "ResourceNotFoundException" || code == "NotFoundException" || code == "NotFound" ||
		code == "MalformedPolicyDocument":
		return OK, "authorised (the probe names nothing, so nothing changed)"
	}
	return Failed, code + ": " + ae.ErrorMessage()
}

type awsCheck struct {
	what string
	call func(context.Context) error
}

func awsChecks(ctx context.Context, e *wiring.Env) []Check {
	var out []Check
	a := e.Config.AWS
	accts, err := e.Accounts(ctx, wiring.ForDrift, "")
	if err != nil {
		return []Check{{Area: "aws", Target: "aws", What: "configuration", Status: Failed, Detail: err.Error()}}
	}
	// Secrets Manager (and its keys) are read only where the inventory
	// lists it, as the IAM scanner does.
	var regions []string
	if inv := e.Config.Inventory; inv != nil && inv.AWSSM != nil {
		regions = awssm.Regions(inv.AWSSM.Regions, a.Region)
	}
	hashValues := e.Config.Inventory != nil && e.Config.Inventory.HashValues
	for _, acct := range accts {
		cs := []awsCheck{
			{"sts:GetCallerIdentity", func(ctx context.Context) error {
				_, err := sts.NewFromConfig(acct.Config).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
				return err
			}},
		}
		c := iam.NewFromConfig(acct.Config)
		cs = append(cs,
			awsCheck{"iam:GetAccountAuthorizationDetails", func(ctx context.Context) error {
				_, err := c.GetAccountAuthorizationDetails(ctx, &iam.GetAccountAuthorizationDetailsInput{MaxItems: aws.Int32(1)})
				return err
			}},
			awsCheck{"iam:ListOpenIDConnectProviders", func(ctx context.Context) error {
				_, err := c.ListOpenIDConnectProviders(ctx, &iam.ListOpenIDConnectProvidersInput{})
				return err
			}},
			awsCheck{"iam:ListAccessKeys", func(ctx context.Context) error {
				_, err := c.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String(probe)})
				return err
			}},
		)
		for _, region := range regions {
			rc := acct.Config.Copy()
			rc.Region = region
			sm, km := secretsmanager.NewFromConfig(rc), kms.NewFromConfig(rc)
			cs = append(cs,
				awsCheck{"secretsmanager:ListSecrets " + region, func(ctx context.Context) error {
					_, err := sm.ListSecrets(ctx, &secretsmanager.ListSecretsInput{MaxResults: aws.Int32(1)})
					return err
				}},
				awsCheck{"secretsmanager:GetResourcePolicy " + region, func(ctx context.Context) error {
					_, err := sm.GetResourcePolicy(ctx, &secretsmanager.GetResourcePolicyInput{SecretId: aws.String(probe)})
					return err
				}},
				awsCheck{"kms:GetKeyPolicy " + region, func(ctx context.Context) error {
					_, err := km.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: aws.String(probeKey), PolicyName: aws.String("default")})
					return err
				}},
			)
			if hashValues {
				cs = append(cs, awsCheck{"secretsmanager:GetSecretValue " + region, func(ctx context.Context) error {
					_, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(probe)})
					return err
				}})
			}
		}
		if acct.Name == a.Organization {
			org := organizations.NewFromConfig(acct.Config)
			cs = append(cs,
				awsCheck{"organizations:DescribeOrganization", func(ctx context.Context) error {
					_, err := org.DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{})
					return err
				}},
				awsCheck{"organizations:ListAccounts", func(ctx context.Context) error {
					_, err := org.ListAccounts(ctx, &organizations.ListAccountsInput{MaxResults: aws.Int32(1)})
					return err
				}},
			)
		}
		out = append(out, runAWS(ctx, acct.Name, "", cs)...)
	}
	// Remediation's credentials (remediate_role_arn, default role_arn): would
	// they be allowed to make the changes a plan can hold? Asked when the
	// config prepares remediation (a remediate: section or a
	// remediate_role_arn); a read-only installation is ready without.
	if !remediates(a, e.Config.Remediate != nil) {
		return out
	}
	rem, err := e.Accounts(ctx, wiring.ForRemediate, "")
	if err != nil {
		return append(out, Check{Area: "aws", Target: "aws", What: "remediation configuration", Status: Failed, Detail: err.Error()})
	}
	for _, acct := range rem {
		out = append(out, runAWS(ctx, acct.Name, "remediate ", remediationChecks(acct, regions))...)
	}
	return out
}

func remediates(a *config.AWS, section bool) bool {
	if section {
		return true
	}
	for _, acct := range a.Accounts {
		if acct.RemediateRoleARN != "" {
			return true
		}
	}
	return false
}

func remediationChecks(acct awsconf.Account, regions []string) []awsCheck {
	c := iam.NewFromConfig(acct.Config)
	// A document IAM refuses: even if a role had the probe's name, nothing
	// would be written.
	doc := aws.String(`{}`)
	cs := []awsCheck{
		{"iam:PutRolePolicy", func(ctx context.Context) error {
			_, err := c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(probe), PolicyName: aws.String(probe), PolicyDocument: doc})
			return err
		}},
		{"iam:UpdateAssumeRolePolicy", func(ctx context.Context) error {
			_, err := c.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String(probe), PolicyDocument: doc})
			return err
		}},
		{"iam:UpdateAccessKey", func(ctx context.Context) error {
			_, err := c.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String(probe), AccessKeyId: aws.String("AKIA" + strings.Repeat("0", 16)), Status: "Inactive"})
			return err
		}},
	}
	for _, region := range regions {
		rc := acct.Config.Copy()
		rc.Region = region
		sm := secretsmanager.NewFromConfig(rc)
		cs = append(cs, awsCheck{"secretsmanager:PutSecretValue " + region, func(ctx context.Context) error {
			// The request names no value worth keeping: it is refused or
			// finds no secret.
			_, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(probe), SecretString: aws.String(probe)})
			return err
		}})
	}
	return cs
}

// runAWS runs an account's checks; when the first (who am I) can't reach
// or authenticate, the rest would only repeat it.
func runAWS(ctx context.Context, target, prefix string, cs []awsCheck) []Check {
	var out []Check
	for i, c := range cs {
		st, detail := classify(c.call(ctx))
		out = append(out, Check{Area: "aws", Target: target, What: prefix + c.what, Status: st, Detail: detail})
		if i == 0 && prefix == "" && st != OK {
			break
		}
	}
	return out
}

package iam

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/policy"
)

// SecretPolicy is a Secrets Manager secret's resource policy and the key
// policy of the customer managed KMS key that encrypts it: reading the
// value needs both, so either can share it.
type SecretPolicy struct {
	Name, ARN, Region string
	Policy            *policy.Document // nil: the secret has none
	Err               error
	KMSKey            string // "" for the AWS managed key aws/secretsmanager
	KeyPolicy         *policy.Document
	KeyErr            error
}

// SecretsAPI and KMSAPI are the parts of the clients the scanner uses.
type SecretsAPI interface {
	ListSecrets(context.Context, *secretsmanager.ListSecretsInput, ...func(*secretsmanager.Options)) (*secretsmanager.ListSecretsOutput, error)
	GetResourcePolicy(context.Context, *secretsmanager.GetResourcePolicyInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetResourcePolicyOutput, error)
}

type KMSAPI interface {
	GetKeyPolicy(context.Context, *kms.GetKeyPolicyInput, ...func(*kms.Options)) (*kms.GetKeyPolicyOutput, error)
}

// FetchSecretPolicies reads every secret's resource policy in one region,
// and each customer managed key's policy once. A policy that can't be read
// is an error: the listing would otherwise call a shared secret private.
func FetchSecretPolicies(ctx context.Context, sm SecretsAPI, km KMSAPI, region string) ([]SecretPolicy, error) {
	var out []SecretPolicy
	keys := map[string]*policy.Document{}
	p := secretsmanager.NewListSecretsPaginator(sm, &secretsmanager.ListSecretsInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return out, fmt.Errorf("secretsmanager:ListSecrets in %s: %w", region, err)
		}
		for _, e := range page.SecretList {
			sp := SecretPolicy{Name: aws.ToString(e.Name), ARN: aws.ToString(e.ARN), Region: region, KMSKey: aws.ToString(e.KmsKeyId)}
			rp, err := sm.GetResourcePolicy(ctx, &secretsmanager.GetResourcePolicyInput{SecretId: e.ARN})
			if err != nil {
				return out, fmt.Errorf("secretsmanager:GetResourcePolicy %s: %w", sp.Name, err)
			}
			if t := aws.ToString(rp.ResourcePolicy); strings.TrimSpace(t) != "" {
				sp.Policy, sp.Err = policy.ParseResourcePolicy(t)
			}
			if sp.KMSKey != "" && !strings.HasPrefix(sp.KMSKey, "alias/aws/") {
				kp, seen := keys[sp.KMSKey]
				if !seen {
					out, err := km.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: aws.String(sp.KMSKey), PolicyName: aws.String("default")})
					if err != nil {
						return nil, fmt.Errorf("kms:GetKeyPolicy %s (key of secret %s): %w", sp.KMSKey, sp.Name, err)
					}
					kp, sp.KeyErr = policy.ParseResourcePolicy(aws.ToString(out.Policy))
					keys[sp.KMSKey] = kp
				}
				sp.KeyPolicy = kp
			}
			out = append(out, sp)
		}
	}
	return out, nil
}

// readActions read a secret's value: the secret's own, and the key's.
var (
	secretRead = []string{"secretsmanager:GetSecretValue", "secretsmanager:BatchGetSecretValue"}
	keyRead    = []string{"kms:Decrypt"}
)

// consumers returns the ARNs of a secret's declared consumers (identity
// names of the declared inventory), and whether it is declared at all.
func (a *Analyzer) consumers(account, secret string) ([]string, bool) {
	names, declared := a.Consumers["awssm:"+secret]
	var arns []string
	for _, n := range names {
		for _, id := range a.Identities {
			if id.Name != n || (id.Account != "" && id.Account != account) {
				continue
			}
			if id.ARN != "" {
				arns = append(arns, id.ARN)
			} else if id.Kind == "role" || id.Kind == "user" {
				arns = append(arns, fmt.Sprintf("arn:aws:iam::%s:%s/%s", account, id.Kind, id.Name))
			}
		}
	}
	return arns, declared
}

// secrets reports secrets that a principal outside their declared
// consumers can read through a resource or key policy.
func (a *Analyzer) secrets(g *Graph) []finding.Finding {
	var out []finding.Finding
	for _, sp := range g.Secrets {
		allowed, declared := a.consumers(g.Account, sp.Name)
		for _, src := range []struct {
			what string
			doc  *policy.Document
			err  error
			acts []string
		}{{"resource policy", sp.Policy, sp.Err, secretRead}, {"key policy of " + sp.KMSKey, sp.KeyPolicy, sp.KeyErr, keyRead}} {
			if src.err != nil {
				out = append(out, a.secretFinding(finding.KindIAMUnparsablePolicy, finding.Medium, sp,
					fmt.Sprintf("%s of secret %s can't be analysed", src.what, sp.Name),
					"vigil could not parse it, so who can read the secret is unverified: "+src.err.Error(),
					finding.Evidence{"policy": src.what, "error": src.err.Error()}, src.what))
				continue
			}
			if src.doc == nil {
				continue
			}
			for i, st := range src.doc.Statement {
				if st.Effect != "Allow" || !overlapsAny(st, src.acts) {
					continue
				}
				for _, who := range readers(st) {
					reason, sev := a.reader(g.Account, st, who, allowed, declared)
					if reason == "" {
						continue
					}
					out = append(out, a.secretFinding(finding.KindIAMResourcePolicy, sev, sp,
						fmt.Sprintf("secret %s can be read by %s (%s)", sp.Name, who, strings.ReplaceAll(reason, "_", " ")),
						fmt.Sprintf("Statement %d of the %s lets %s read the secret; %s. Remove the statement or narrow it to the declared consumers.",
							i, src.what, who, readerWhy(reason, allowed)),
						finding.Evidence{"reason": reason, "reader": who, "policy": src.what, "statement": st.JSON(), "statement_index": i,
							"declared_consumers": allowed},
						src.what, fmt.Sprint(i), who))
				}
			}
		}
	}
	return out
}

func overlapsAny(st policy.Statement, acts []string) bool {
	for _, act := range acts {
		if policy.OverlapsAction(st, act) {
			return true
		}
	}
	return false
}

// readers are a statement's principals that can be callers: AWS
// principals ("*" included); a NotPrincipal is everyone but a few.
func readers(st policy.Statement) []string {
	if len(st.NotPrincipal) > 0 {
		return []string{"*"}
	}
	p, err := policy.ParsePrincipal(st.Principal)
	if err != nil {
		return nil // the parser checked principals already
	}
	out := append([]string(nil), p["AWS"]...)
	sort.Strings(out)
	return out
}

// reader classifies one reader: "" when it is fine (a declared consumer,
// or the own account's root, which hands the decision to IAM policies).
func (a *Analyzer) reader(account string, st policy.Statement, who string, allowed []string, declared bool) (string, finding.Severity) {
	switch acct := policy.AccountOf(who); {
	case who == "*":
		if conditionedOn(st) {
			return "", ""
		}
		return "anyone", finding.Critical
	case policy.Has(allowed, who):
		return "", ""
	case acct != "" && acct != account:
		return "other_account", finding.High
	case who == "arn:aws:iam::"+account+":root" || who == account:
		return "", ""
	case declared:
		return "undeclared_consumer", finding.Medium
	}
	return "", ""
}

// conditionedOn: a "*" reader limited to the organisation or to named
// principals is not "anyone".
func conditionedOn(st policy.Statement) bool {
	for op, kv := range st.Condition {
		l := strings.ToLower(op)
		if strings.HasSuffix(l, "ifexists") || strings.HasPrefix(l, "forallvalues:") || strings.Contains(l, "not") {
			continue
		}
		for k := range kv {
			switch strings.ToLower(k) {
			case "aws:principalorgid", "aws:principalorgpaths", "aws:principalaccount", "aws:principalarn", "aws:sourceaccount", "aws:sourcearn", "kms:calleraccount":
				return true
			}
		}
	}
	return false
}

func readerWhy(reason string, allowed []string) string {
	switch reason {
	case "anyone":
		return "with no condition naming the caller, any AWS principal of any account can"
	case "other_account":
		return "it belongs to another account, which the declaration does not name as a consumer"
	}
	if len(allowed) == 0 {
		return "the declared inventory names no consumer of this secret"
	}
	return "the declared consumers are " + strings.Join(allowed, ", ")
}

func (a *Analyzer) secretFinding(kind finding.Kind, sev finding.Severity, sp SecretPolicy, title, detail string, ev finding.Evidence, idParts ...string) finding.Finding {
	ev["secret"], ev["region"] = sp.Name, sp.Region
	if sp.KMSKey != "" {
		ev["kms_key"] = sp.KMSKey
	}
	return a.newFinding(kind, sev, sp.ARN, title, detail, ev, idParts...)
}

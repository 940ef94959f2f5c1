package remediate

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/vigilsec/vigil/internal/secrethash"
)

// AccessKeys is Planner.Keys for the accounts given (name -> IAM client,
// read-only credentials suffice): every user's access keys by keyed hash
// of the key id, so a leaked id is traced to its user without the id being
// kept. It lists users and keys only: the IAM scanner's Fetch would also
// read the whole authorization graph and each key's last use.
func AccessKeys(accounts map[string]*iam.Client, h *secrethash.Hasher) func(context.Context) (map[string]KeyOwner, error) {
	return func(ctx context.Context) (map[string]KeyOwner, error) {
		out := map[string]KeyOwner{}
		for name, c := range accounts {
			users := iam.NewListUsersPaginator(c, &iam.ListUsersInput{})
			for users.HasMorePages() {
				page, err := users.NextPage(ctx)
				if err != nil {
					return nil, fmt.Errorf("account %s: ListUsers: %w", name, err)
				}
				for _, u := range page.Users {
					keys := iam.NewListAccessKeysPaginator(c, &iam.ListAccessKeysInput{UserName: u.UserName})
					for keys.HasMorePages() {
						kp, err := keys.NextPage(ctx)
						if err != nil {
							return nil, fmt.Errorf("account %s: ListAccessKeys %s: %w", name, aws.ToString(u.UserName), err)
						}
						for _, k := range kp.AccessKeyMetadata {
							id := aws.ToString(k.AccessKeyId)
							out[h.Hash(id)] = KeyOwner{Account: name, User: aws.ToString(u.UserName), ARN: aws.ToString(u.Arn),
								KeyID: id, Active: k.Status == types.StatusTypeActive}
						}
					}
				}
			}
		}
		return out, nil
	}
}

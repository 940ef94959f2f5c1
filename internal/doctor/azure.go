package doctor

import (
	"context"
	"errors"
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/vigilsec/vigil/internal/wiring"
	"github.com/vigilsec/vigil/stores/azkv"
)

// azureChecks reads one page of each Key Vault's secret list (the
// "List" secret permission, or the Key Vault Secrets User role).
func azureChecks(ctx context.Context, e *wiring.Env) []Check {
	inv := e.Config.Inventory
	if inv == nil {
		return nil
	}
	var out []Check
	for _, v := range inv.AzureKeyVault {
		c, err := azkv.NewClient(v.Name, v.VaultURL)
		if err != nil {
			out = append(out, Check{Area: "azure", Target: "azkv:" + v.Name, What: "client", Status: Failed, Detail: err.Error()})
			continue
		}
		out = append(out, azureList(ctx, "azkv:"+v.Name, c))
	}
	return out
}

func azureList(ctx context.Context, target string, c *azsecrets.Client) Check {
	ch := Check{Area: "azure", Target: target, What: "list secrets", Status: OK}
	_, err := c.NewListSecretPropertiesPager(&azsecrets.ListSecretPropertiesOptions{}).NextPage(ctx)
	var re *azcore.ResponseError
	switch {
	case err == nil:
	case errors.As(err, &re) && re.StatusCode == 403:
		ch.Status, ch.Detail = Missing, fmt.Sprintf("%s: the identity may not list secrets (Key Vault Secrets User role, or the List secret permission)", re.ErrorCode)
	case errors.As(err, &re) && re.StatusCode == 401:
		ch.Status, ch.Detail = Failed, "authentication: "+re.ErrorCode
	case errors.As(err, &re):
		ch.Status, ch.Detail = Failed, fmt.Sprintf("HTTP %d %s", re.StatusCode, re.ErrorCode)
	default:
		ch.Status, ch.Detail = Unreachable, err.Error()
	}
	return ch
}

package doctor

import (
	"context"
	"errors"
	"fmt"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/vigilsec/vigil/internal/wiring"
	"github.com/vigilsec/vigil/stores/azkv"
	"github.com/vigilsec/vigil/stores/gcpsm"
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

// gcpChecks reads one page of each project's secret list
// (secretmanager.secrets.list, e.g. the Secret Manager Viewer role).
func gcpChecks(ctx context.Context, e *wiring.Env) []Check {
	inv := e.Config.Inventory
	if inv == nil {
		return nil
	}
	var out []Check
	for _, p := range inv.GCPSecretManager {
		c, err := gcpsm.NewClient(p.Project)
		if err != nil {
			out = append(out, Check{Area: "gcp", Target: "gcpsm:" + p.Project, What: "client", Status: Failed, Detail: err.Error()})
			continue
		}
		out = append(out, gcpList(ctx, "gcpsm:"+p.Project, p.Project, c))
	}
	return out
}

func gcpList(ctx context.Context, target, project string, c *secretmanager.Client) Check {
	ch := Check{Area: "gcp", Target: target, What: "list secrets", Status: OK}
	_, err := c.ListSecrets(ctx, &secretmanagerpb.ListSecretsRequest{Parent: "projects/" + project, PageSize: 1}).Next()
	if errors.Is(err, iterator.Done) {
		err = nil
	}
	switch status.Code(err) {
	case codes.OK:
	case codes.PermissionDenied:
		ch.Status, ch.Detail = Missing, "secretmanager.secrets.list (e.g. roles/secretmanager.viewer): "+status.Convert(err).Message()
	case codes.Unauthenticated:
		ch.Status, ch.Detail = Failed, "authentication: "+status.Convert(err).Message()
	case codes.Unavailable, codes.DeadlineExceeded:
		ch.Status, ch.Detail = Unreachable, status.Convert(err).Message()
	default:
		ch.Status, ch.Detail = Failed, err.Error()
	}
	return ch
}

package onepassword

import (
	"context"
	"encoding/json"
	"net/url"

	op "github.com/1Password/connect-sdk-go/onepassword"

	"github.com/vigilsec/vigil/internal/jsonapi"
)

// Client reads a 1Password Connect server: the three GETs the inventory
// needs, decoded into the official connect-sdk-go types.
//
// Why not connect-sdk-go's own client: it takes no context, always sends
// through http.DefaultClient (no timeout, so a Connect server that accepts
// and never answers would hold the nightly run for ever), does not retry a
// 429, and installs a global Jaeger tracer when it is built. The types, the
// part that knows Connect's JSON, are used as they are.
type Client struct{ *jsonapi.Client }

// NewClient returns a client of the Connect server at base (without /v1).
func NewClient(base, token string) *Client {
	c := jsonapi.New(base, token)
	// Connect's error body is {"status": N, "message": "..."}: the message
	// names a vault or item id at most, never a value.
	c.Message = func(body []byte) string {
		var e op.Error
		if json.Unmarshal(body, &e) != nil {
			return ""
		}
		return e.Message
	}
	return &Client{c}
}

// Vaults lists the vaults the token may read.
func (c *Client) Vaults(ctx context.Context) ([]op.Vault, error) {
	var out []op.Vault
	return out, c.Get(ctx, "/v1/vaults", &out)
}

// Items lists a vault's items (summaries: no fields).
func (c *Client) Items(ctx context.Context, vaultID string) ([]op.Item, error) {
	var out []op.Item
	return out, c.Get(ctx, "/v1/vaults/"+url.PathEscape(vaultID)+"/items", &out)
}

// Item reads one item whole: its fields, values included (the caller
// keeps labels and types, hashes the values it was asked to and drops
// them).
func (c *Client) Item(ctx context.Context, vaultID, itemID string) (*op.Item, error) {
	var out op.Item
	return &out, c.Get(ctx, "/v1/vaults/"+url.PathEscape(vaultID)+"/items/"+url.PathEscape(itemID), &out)
}

package onepassword

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	op "github.com/1Password/connect-sdk-go/onepassword"
)

// Client reads a 1Password Connect server: the three GETs the inventory
// needs, decoded into the official connect-sdk-go types.
//
// Why not connect-sdk-go's own client: it takes no context, always sends
// through http.DefaultClient (no timeout, so a Connect server that accepts
// and never answers would hold the nightly run for ever), does not retry a
// 429, and installs a global Jaeger tracer when it is built. The types, the
// part that knows Connect's JSON, are used as they are.
type Client struct {
	URL   string // the Connect server, without /v1
	Token string
	HTTP  *http.Client
	// Attempts is how many times a throttled (429) or unavailable (502,
	// 503, 504) request is sent in all; MaxWait caps one Retry-After.
	Attempts int
	MaxWait  time.Duration
}

// NewClient returns a client of the Connect server at base.
func NewClient(base, token string) *Client {
	return &Client{URL: strings.TrimRight(base, "/"), Token: token, HTTP: &http.Client{Timeout: 2 * time.Minute}, Attempts: 5, MaxWait: time.Minute}
}

// Vaults lists the vaults the token may read.
func (c *Client) Vaults(ctx context.Context) ([]op.Vault, error) {
	var out []op.Vault
	return out, c.get(ctx, "/v1/vaults", &out)
}

// Items lists a vault's items (summaries: no fields).
func (c *Client) Items(ctx context.Context, vaultID string) ([]op.Item, error) {
	var out []op.Item
	return out, c.get(ctx, "/v1/vaults/"+url.PathEscape(vaultID)+"/items", &out)
}

// Item reads one item whole: its fields, values included (the caller
// keeps labels and types, hashes the values it was asked to and drops
// them).
func (c *Client) Item(ctx context.Context, vaultID, itemID string) (*op.Item, error) {
	var out op.Item
	return &out, c.get(ctx, "/v1/vaults/"+url.PathEscape(vaultID)+"/items/"+url.PathEscape(itemID), &out)
}

func (c *Client) get(ctx context.Context, path string, into any) error {
	for attempt := 1; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.URL+path, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+c.Token)
		req.Header.Set("Accept", "application/json")
		resp, err := c.HTTP.Do(req)
		if err != nil {
			return err
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("GET %s: %w", path, err)
		}
		switch resp.StatusCode {
		case http.StatusOK:
			if err := json.Unmarshal(body, into); err != nil {
				return fmt.Errorf("GET %s: decoding the answer: %w", path, err)
			}
			return nil
		case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			if attempt < c.Attempts {
				if err := sleep(ctx, c.wait(resp.Header.Get("Retry-After"), attempt)); err != nil {
					return err
				}
				continue
			}
		}
		// Connect's error body is {"status": N, "message": "..."}: the
		// message names a vault or item id at most, never a value.
		e := &op.Error{}
		if json.Unmarshal(body, e) != nil || e.StatusCode == 0 {
			e = &op.Error{StatusCode: resp.StatusCode, Message: http.StatusText(resp.StatusCode)}
		}
		return fmt.Errorf("GET %s: %w", path, e)
	}
}

// wait is the Retry-After the server asked for (seconds), capped; or a
// doubling backoff from half a second when it gave none.
func (c *Client) wait(retryAfter string, attempt int) time.Duration {
	if s, err := strconv.Atoi(strings.TrimSpace(retryAfter)); err == nil && s >= 0 {
		return min(time.Duration(s)*time.Second, c.MaxWait)
	}
	return min(time.Duration(1<<(attempt-1))*500*time.Millisecond, c.MaxWait)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

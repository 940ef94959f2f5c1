// Package jsonapi is the HTTP client of the stores whose vendor ships no Go
// client vigil can use (Doppler) or one that can't be given a context or a
// timeout (1Password Connect): GET a JSON document with a bearer token,
// wait out throttling, and turn a refusal into an error that names the
// status and the vendor's own message, never a value.
package jsonapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Client is one API root.
type Client struct {
	Base  string // without a trailing slash
	Token string
	HTTP  *http.Client
	// Attempts is how many times a throttled (429) or unavailable (502,
	// 503, 504) request is sent in all; MaxWait caps one wait.
	Attempts int
	MaxWait  time.Duration
	// Message reads the vendor's error body; nil: the status text.
	Message func(body []byte) string
}

// New returns a client of base: two minutes a request (a server that
// accepts and never answers must not hold the nightly run), five attempts.
func New(base, token string) *Client {
	return &Client{Base: strings.TrimRight(base, "/"), Token: token, HTTP: &http.Client{Timeout: 2 * time.Minute}, Attempts: 5, MaxWait: time.Minute}
}

// Error is an answer that was not 200.
type Error struct {
	Method  string
	Path    string
	Status  int
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s %s: %d %s", e.Method, e.Path, e.Status, e.Message)
}

// Get reads path (with its query) into into.
func (c *Client) Get(ctx context.Context, path string, into any) error {
	return c.do(ctx, http.MethodGet, path, nil, into)
}

// Post sends body as JSON to path and reads the answer into into (nil:
// the answer is not read). Only a 429 is sent again (the server did not
// act on it); a 5xx may have been acted on, so it is an error.
func (c *Client) Post(ctx context.Context, path string, body, into any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodPost, path, b, into)
}

func (c *Client) do(ctx context.Context, method, path string, payload []byte, into any) error {
	for attempt := 1; ; attempt++ {
		var body io.Reader
		if payload != nil {
			body = bytes.NewReader(payload)
		}
		req, err := http.NewRequestWithContext(ctx, method, c.Base+path, body)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+c.Token)
		req.Header.Set("Accept", "application/json")
		if payload != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := c.HTTP.Do(req)
		if err != nil {
			return err
		}
		answer, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
		switch resp.StatusCode {
		case http.StatusOK:
			if into == nil {
				return nil
			}
			if err := json.Unmarshal(answer, into); err != nil {
				return fmt.Errorf("%s %s: decoding the answer: %w", method, path, err)
			}
			return nil
		case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			if attempt < c.Attempts && (method == http.MethodGet || resp.StatusCode == http.StatusTooManyRequests) {
				if err := sleep(ctx, c.wait(resp.Header.Get("Retry-After"), attempt)); err != nil {
					return err
				}
				continue
			}
		}
		msg := ""
		if c.Message != nil {
			msg = c.Message(answer)
		}
		if msg == "" {
			msg = http.StatusText(resp.StatusCode)
		}
		return &Error{Method: method, Path: path, Status: resp.StatusCode, Message: msg}
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

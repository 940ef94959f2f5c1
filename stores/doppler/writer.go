package doppler

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/vigilsec/vigil/internal/jsonapi"
)

// Writer is what a rotation needs of Doppler: a secret's value, a
// check-and-set write of a new one (change_requests with originalValue:
// Doppler refuses it if the value changed meanwhile), the config log that
// write made, and Doppler's own rollback of that log, which puts the old
// value back without vigil ever keeping it. Secrets are named
// PROJECT/CONFIG/NAME.
type Writer struct {
	API *jsonapi.Client
}

func split(secret string) (project, config, name string, err error) {
	parts := strings.Split(secret, "/")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return "", "", "", fmt.Errorf("doppler: %q is not PROJECT/CONFIG/NAME", secret)
	}
	return parts[0], parts[1], parts[2], nil
}

// Value returns a secret's raw value (what is stored) and computed value
// (what an application gets: different when the raw one refers to another
// secret).
func (w Writer) Value(ctx context.Context, secret string) (raw, computed string, err error) {
	p, c, n, err := split(secret)
	if err != nil {
		return "", "", err
	}
	var out struct {
		Name  string `json:"name"`
		Value struct {
			Raw      string `json:"raw"`
			Computed string `json:"computed"`
		} `json:"value"`
	}
	q := url.Values{"project": {p}, "config": {c}, "name": {n}}
	if err := w.API.Get(ctx, "/v3/configs/config/secret?"+q.Encode(), &out); err != nil {
		return "", "", fmt.Errorf("doppler: read %s: %w", secret, err)
	}
	return out.Value.Raw, out.Value.Computed, nil
}

// ErrNoLog: the write went through but the config log it made could not be
// told apart (another change landed at once); Doppler can then not be asked
// to roll it back.
var ErrNoLog = errors.New("the config log of the write could not be identified")

// Set replaces the secret's value from with to, only if it is still from,
// and returns the id of the config log the change made.
func (w Writer) Set(ctx context.Context, secret, from, to string) (logID string, err error) {
	p, c, n, err := split(secret)
	if err != nil {
		return "", err
	}
	type change struct {
		Name          string `json:"name"`
		OriginalName  string `json:"originalName"`
		Value         string `json:"value"`
		OriginalValue string `json:"originalValue"`
	}
	body := struct {
		Project        string   `json:"project"`
		Config         string   `json:"config"`
		ChangeRequests []change `json:"change_requests"`
	}{p, c, []change{{Name: n, OriginalName: n, Value: to, OriginalValue: from}}}
	if err := w.API.Post(ctx, "/v3/configs/config/secrets", body, nil); err != nil {
		return "", fmt.Errorf("doppler: write %s: %w", secret, err)
	}
	// The newest log of the config is the write's when its diff names this
	// secret alone.
	var logs struct {
		Logs []struct {
			ID string `json:"id"`
		} `json:"logs"`
	}
	q := url.Values{"project": {p}, "config": {c}, "page": {"1"}, "per_page": {"1"}}
	if err := w.API.Get(ctx, "/v3/configs/config/logs?"+q.Encode(), &logs); err != nil {
		return "", fmt.Errorf("doppler: logs of %s/%s: %w", p, c, err)
	}
	if len(logs.Logs) == 0 {
		return "", fmt.Errorf("doppler: %s/%s: %w", p, c, ErrNoLog)
	}
	var log struct {
		Log struct {
			ID   string `json:"id"`
			Diff []struct {
				Name string `json:"name"`
			} `json:"diff"`
		} `json:"log"`
	}
	q = url.Values{"project": {p}, "config": {c}, "log": {logs.Logs[0].ID}}
	if err := w.API.Get(ctx, "/v3/configs/config/logs/log?"+q.Encode(), &log); err != nil {
		return "", fmt.Errorf("doppler: log %s of %s/%s: %w", logs.Logs[0].ID, p, c, err)
	}
	for _, d := range log.Log.Diff {
		if d.Name != n {
			return "", fmt.Errorf("doppler: the newest log of %s/%s also changes %s: %w", p, c, d.Name, ErrNoLog)
		}
	}
	if len(log.Log.Diff) == 0 {
		return "", fmt.Errorf("doppler: the newest log of %s/%s names no change: %w", p, c, ErrNoLog)
	}
	return log.Log.ID, nil
}

// Rollback asks Doppler to undo the change of a config log.
func (w Writer) Rollback(ctx context.Context, secret, logID string) error {
	p, c, _, err := split(secret)
	if err != nil {
		return err
	}
	q := url.Values{"project": {p}, "config": {c}, "log": {logID}}
	body := map[string]string{"project": p, "config": c, "log": logID}
	if err := w.API.Post(ctx, "/v3/configs/config/logs/log/rollback?"+q.Encode(), body, nil); err != nil {
		return fmt.Errorf("doppler: roll back log %s of %s/%s: %w", logID, p, c, err)
	}
	return nil
}

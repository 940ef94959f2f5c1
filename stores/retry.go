package stores

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/openbao/openbao/api/v2"
	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"
)

// Retrying wraps s so that a listing that fails with a transient error
// (throttled, a 5xx, a dropped connection) is listed again, up to attempts
// times in all, waiting backoff, then twice that, between them. The SDK
// clients already retry single requests; this retries the walk as a whole,
// which a long paginated listing needs when one page fails after its client
// gave up. What a failed attempt emitted is held back, so a secret is never
// emitted twice; the last attempt's secrets are emitted even when it fails
// (what a store emitted is true).
func Retrying(s Store, attempts int, backoff time.Duration) Store {
	if _, isFailed := s.(failed); attempts < 2 || isFailed {
		return s
	}
	return &retrying{Store: s, attempts: attempts, backoff: backoff}
}

type retrying struct {
	Store
	attempts int
	backoff  time.Duration
}

// Unwrap returns the wrapped store.
func (r *retrying) Unwrap() Store { return r.Store }

// Unwrap returns the store inside any wrappers, for what only it offers
// (the findings a store reports besides its listing).
func Unwrap(s Store) Store {
	for {
		w, ok := s.(interface{ Unwrap() Store })
		if !ok {
			return s
		}
		s = w.Unwrap()
	}
}

func (r *retrying) List(ctx context.Context, emit func(Secret)) error {
	wait := r.backoff
	for attempt := 1; ; attempt++ {
		var got []Secret
		err := r.Store.List(ctx, func(s Secret) { got = append(got, s) })
		if err == nil || attempt == r.attempts || !Transient(err) || ctx.Err() != nil {
			for _, s := range got {
				emit(s)
			}
			if err != nil && attempt > 1 {
				err = fmt.Errorf("%w (after %d attempts)", err, attempt)
			}
			return err
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		}
		wait *= 2
	}
}

// Transient reports whether err is worth listing again for: throttling, a
// server error, or a connection that dropped or timed out. A refusal
// (401, 403, 404), a bad request or a cancelled run is not.
func Transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	status := 0
	var he interface{ HTTPStatusCode() int }            // AWS SDK response errors
	var ve *api.ResponseError                           // OpenBao
	var ae *azcore.ResponseError                        // Azure SDK
	var ge interface{ GRPCStatus() *grpcstatus.Status } // Google Cloud (gRPC)
	switch {
	case errors.As(err, &he):
		status = he.HTTPStatusCode()
	case errors.As(err, &ve):
		status = ve.StatusCode
	case errors.As(err, &ae):
		status = ae.StatusCode
	case errors.As(err, &ge):
		switch ge.GRPCStatus().Code() {
		case codes.Unavailable, codes.ResourceExhausted:
			return true
		}
	}
	if status == 429 || status >= 500 {
		return true
	}
	// Throttling that an SDK reports as a 400 with an error code.
	msg := err.Error()
	return strings.Contains(msg, "ThrottlingException") || strings.Contains(msg, "TooManyRequests")
}

package kubernetes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/vigilsec/vigil/stores"
)

// Syncer carries a rotation to the Kubernetes Secrets External Secrets
// Operator copies the rotated secret into: it asks each ExternalSecret
// that copies it to sync now (ESO's force-sync annotation) and waits until
// every copy holds the value now current, by keyed hash (the copy's value
// is read, hashed and dropped). Remediation calls it after a rotation and
// after its rollback. Its identity needs patch on externalsecrets and get
// on secrets (examples/kubernetes/vigil-clusterrole.yaml, vigil-remediate).
type Syncer struct {
	Clusters []*Store
	Hasher   stores.Hasher
	// Wait bounds how long the copies may take (default 2 minutes: ESO
	// syncs a forced ExternalSecret within seconds).
	Wait time.Duration
}

// copyOf is one key of one Kubernetes Secret that copies the secret.
type copyOf struct {
	store          *Store
	esVersion      string // the ESO API version its cluster serves
	ns, es, secret string
	key            string
	whole          bool // the whole secret as one JSON value: it changes, it can't equal one field
	before         string
}

func (c copyOf) String() string {
	return c.store.name + " " + c.ns + "/" + c.secret + "[" + c.key + "] (ExternalSecret " + c.es + ")"
}

// Propagate refreshes the copies of field of path and proves each now
// holds the value whose keyed hash is want. It returns the copies it
// refreshed, as names. No copy: nothing to do.
func (y *Syncer) Propagate(ctx context.Context, path, field, want string) ([]string, error) {
	copies, err := y.copies(ctx, path, field)
	if err != nil {
		return nil, err
	}
	if len(copies) == 0 {
		return nil, nil
	}
	var names []string
	for i := range copies {
		c := &copies[i]
		names = append(names, c.String())
		c.before, _ = y.hashOf(ctx, *c)
	}
	stamp := strconv.FormatInt(time.Now().UnixNano(), 10)
	patched := map[string]bool{}
	for _, c := range copies {
		k := c.store.name + "/" + c.ns + "/" + c.es
		if patched[k] {
			continue
		}
		patched[k] = true
		patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{"force-sync": stamp}}})
		if _, err := c.store.dyn.Resource(c.store.gvr(c.esVersion, "externalsecrets")).Namespace(c.ns).Patch(ctx, c.es, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "vigil"}); err != nil {
			return names, fmt.Errorf("ask ExternalSecret %s/%s in %s to sync: %w", c.ns, c.es, c.store.name, scrub(err))
		}
	}
	wait := y.Wait
	if wait <= 0 {
		wait = 2 * time.Minute
	}
	deadline := time.Now().Add(wait)
	pending := copies
	for {
		var still []copyOf
		var last error
		for _, c := range pending {
			h, err := y.hashOf(ctx, c)
			switch {
			case err != nil:
				last = err
				still = append(still, c)
			case c.whole && h == c.before, !c.whole && h != want:
				still = append(still, c)
			}
		}
		if len(still) == 0 {
			return names, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			var left []string
			for _, c := range still {
				left = append(left, c.String())
			}
			return names, errors.Join(fmt.Errorf("after %s these copies still do not hold the value now current: %s", wait, strings.Join(left, ", ")), last)
		}
		time.Sleep(500 * time.Millisecond)
		pending = still
	}
}

// hashOf reads one copy and hashes its value at once.
func (y *Syncer) hashOf(ctx context.Context, c copyOf) (string, error) {
	sec, err := c.store.core.CoreV1().Secrets(c.ns).Get(ctx, c.secret, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("read %s/%s in %s: %w", c.ns, c.secret, c.store.name, scrub(err))
	}
	v, ok := sec.Data[c.key]
	h := ""
	if ok {
		h = y.Hasher.Hash(string(v))
	}
	for k := range sec.Data {
		sec.Data[k] = nil
	}
	return h, nil
}

// copies finds, in every cluster, the ExternalSecret entries that copy
// field of path, and the Secret key each lands in.
func (y *Syncer) copies(ctx context.Context, path, field string) ([]copyOf, error) {
	var out []copyOf
	var errs []error
	for _, s := range y.Clusters {
		e, err := s.openESO(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.name, err))
			continue
		}
		if e == nil {
			continue
		}
		looks := map[string]lookup{}
		err = s.each(ctx, s.gvr(e.version, "externalsecrets"), "", func(o *unstructured.Unstructured) {
			look, ok := looks[o.GetNamespace()]
			if !ok {
				var err error
				if look, err = e.lookupIn(ctx, o.GetNamespace()); err != nil {
					errs = append(errs, fmt.Errorf("%s: namespace %s: %w", s.name, o.GetNamespace(), scrub(err)))
				}
				looks[o.GetNamespace()] = look
			}
			if look == nil {
				return
			}
			es := parseES(o, look)
			for _, en := range es.entries {
				if en.path != path {
					continue
				}
				c := copyOf{store: s, esVersion: e.version, ns: es.ns, es: es.name, secret: es.target, key: en.key}
				switch {
				case en.key == "": // dataFrom.extract: each field under its own name
					c.key = field
				case en.property == "":
					c.whole = true
				case en.property != field:
					continue // another field of the same secret
				}
				out = append(out, c)
			}
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: list ExternalSecrets: %w", s.name, scrub(err)))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	// A copy vigil could not look for might keep the old value: the
	// rotation is not proven complete.
	return out, errors.Join(errs...)
}

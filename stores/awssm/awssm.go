// Package awssm inventories AWS Secrets Manager: ListSecrets pages carry
// everything the inventory needs (dates, rotation, tags, version stages), so
// 10,000 secrets cost 100 calls. Values are read only to correlate leaks, by
// stage (AWSCURRENT, AWSPREVIOUS), and hashed at once.
package awssm

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/vigilsec/vigil/stores"
)

// API is the part of the Secrets Manager client the store uses.
type API interface {
	ListSecrets(context.Context, *sm.ListSecretsInput, ...func(*sm.Options)) (*sm.ListSecretsOutput, error)
	GetSecretValue(context.Context, *sm.GetSecretValueInput, ...func(*sm.Options)) (*sm.GetSecretValueOutput, error)
}

// Store is Secrets Manager in one account and region.
type Store struct {
	client API
	name   string
	hasher stores.Hasher
	// Calls counts API calls, for benchmarks and for the operator's log.
	Calls atomic.Int64
}

// New returns the store; name is e.g. "awssm:prod/eu-west-1". A nil hasher
// never reads values.
func New(client API, name string, h stores.Hasher) *Store {
	return &Store{client: client, name: name, hasher: h}
}

// Name implements stores.Store.
func (s *Store) Name() string { return s.name }

// Covers implements stores.Store.
func (s *Store) Covers() []string { return []string{"awssm:"} }

// List implements stores.Store.
func (s *Store) List(ctx context.Context, emit func(stores.Secret)) error {
	p := sm.NewListSecretsPaginator(s.client, &sm.ListSecretsInput{MaxResults: aws.Int32(100)})
	for p.HasMorePages() {
		s.Calls.Add(1)
		out, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("%s: ListSecrets: %w", s.name, err)
		}
		for _, e := range out.SecretList {
			sec := stores.Secret{
				Path: "awssm:" + aws.ToString(e.Name), Store: s.name, Where: aws.ToString(e.ARN),
				Created: aws.ToTime(e.CreatedDate), Updated: aws.ToTime(e.LastChangedDate),
				LastRotated: aws.ToTime(e.LastRotatedDate), LastAccessed: aws.ToTime(e.LastAccessedDate),
				RotationEnabled: aws.ToBool(e.RotationEnabled), Versions: len(e.SecretVersionsToStages),
			}
			for _, t := range e.Tags {
				switch strings.ToLower(aws.ToString(t.Key)) {
				case "owner":
					sec.Owner = aws.ToString(t.Value)
				case "env", "environment":
					sec.Env = aws.ToString(t.Value)
				case "rotation_days":
					sec.RotationDays, _ = strconv.Atoi(aws.ToString(t.Value))
				}
			}
			if sec.RotationDays == 0 && e.RotationRules != nil && e.RotationRules.AutomaticallyAfterDays != nil {
				sec.RotationDays = int(*e.RotationRules.AutomaticallyAfterDays)
			}
			if s.hasher != nil {
				if err := s.hash(ctx, &sec, e.SecretVersionsToStages); err != nil {
					return err
				}
			}
			emit(sec)
		}
	}
	return nil
}

func hasStage(stages map[string][]string, stage string) (string, bool) {
	for id, ss := range stages {
		for _, st := range ss {
			if st == stage {
				return id, true
			}
		}
	}
	return "", false
}

// hash reads the current and previous values by stage. A JSON object's
// string fields are hashed one by one too: a leak usually holds the password,
// not the whole {"username":..., "password":...} document.
func (s *Store) hash(ctx context.Context, sec *stores.Secret, stages map[string][]string) error {
	for _, stage := range []string{"AWSCURRENT", "AWSPREVIOUS"} {
		id, ok := hasStage(stages, stage)
		if !ok {
			continue
		}
		s.Calls.Add(1)
		out, err := s.client.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String(sec.Where), VersionStage: aws.String(stage)})
		if err != nil {
			return fmt.Errorf("%s: GetSecretValue %s %s: %w", s.name, sec.Path, stage, err)
		}
		val := aws.ToString(out.SecretString)
		if val == "" && out.SecretBinary != nil {
			val = string(out.SecretBinary)
		}
		ver := stage + ":" + id
		current := stage == "AWSCURRENT"
		sec.Hashes = append(sec.Hashes, stores.ValueHash{Version: ver, Current: current, Hash: s.hasher.Hash(val)})
		var fields map[string]any
		if json.Unmarshal([]byte(val), &fields) == nil {
			for k, v := range fields {
				if str, ok := v.(string); ok {
					sec.Hashes = append(sec.Hashes, stores.ValueHash{Version: ver, Field: k, Current: current, Hash: s.hasher.Hash(str)})
				}
			}
		}
	}
	return nil
}

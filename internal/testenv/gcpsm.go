package testenv

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// No Secret Manager can be installed here: SecretManager is an in-process
// gRPC server implementing the official generated SecretManagerServiceServer
// on loopback, which the real client library talks to over gRPC (paging
// tokens, version states, status codes).
type SecretManager struct {
	secretmanagerpb.UnimplementedSecretManagerServiceServer
	mu       sync.Mutex
	secrets  map[string]*secretmanagerpb.Secret          // by full name
	versions map[string][]*secretmanagerpb.SecretVersion // by secret, oldest first
	data     map[string][]byte                           // by version name
	// PageSize is the most a list answers at once; Deny answers
	// PermissionDenied to listings; Throttle answers ResourceExhausted to
	// that many listings first.
	PageSize int
	Deny     bool
	Throttle int
	addr     string
}

// NewSecretManager starts the server for the test.
func NewSecretManager(t testing.TB) *SecretManager {
	t.Helper()
	s := &SecretManager{secrets: map[string]*secretmanagerpb.Secret{}, versions: map[string][]*secretmanagerpb.SecretVersion{},
		data: map[string][]byte{}, PageSize: 25}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	secretmanagerpb.RegisterSecretManagerServiceServer(g, s)
	go g.Serve(l)
	t.Cleanup(g.Stop)
	s.addr = l.Addr().String()
	return s
}

// Client is the real client library, over gRPC to the server.
func (s *SecretManager) Client(t testing.TB) *secretmanager.Client {
	t.Helper()
	c, err := secretmanager.NewClient(context.Background(), option.WithEndpoint(s.addr), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Put creates project/name if needed (with labels and expiry) and adds an
// enabled version holding value; it returns the version's name.
func (s *SecretManager) Put(project, name, value string, labels map[string]string, expires *time.Time) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	full := "projects/" + project + "/secrets/" + name
	if s.secrets[full] == nil {
		sec := &secretmanagerpb.Secret{Name: full, Labels: labels, CreateTime: timestamppb.Now(),
			Replication: &secretmanagerpb.Replication{Replication: &secretmanagerpb.Replication_Automatic_{Automatic: &secretmanagerpb.Replication_Automatic{}}}}
		if expires != nil {
			sec.Expiration = &secretmanagerpb.Secret_ExpireTime{ExpireTime: timestamppb.New(*expires)}
		}
		s.secrets[full] = sec
	}
	return s.add(full, []byte(value))
}

func (s *SecretManager) add(secret string, data []byte) string {
	name := fmt.Sprintf("%s/versions/%d", secret, len(s.versions[secret])+1)
	// Strictly increasing creation times: the newest is the latest.
	created := time.Now().Add(time.Duration(len(s.versions[secret])) * time.Millisecond)
	s.versions[secret] = append(s.versions[secret], &secretmanagerpb.SecretVersion{Name: name, State: secretmanagerpb.SecretVersion_ENABLED, CreateTime: timestamppb.New(created)})
	s.data[name] = data
	return name
}

// State returns a version's state.
func (s *SecretManager) State(version string) secretmanagerpb.SecretVersion_State {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v := s.version(version); v != nil {
		return v.State
	}
	return secretmanagerpb.SecretVersion_STATE_UNSPECIFIED
}

func (s *SecretManager) version(name string) *secretmanagerpb.SecretVersion {
	secret, id, _ := strings.Cut(name, "/versions/")
	vs := s.versions[secret]
	if id == "latest" && len(vs) > 0 {
		return vs[len(vs)-1]
	}
	for _, v := range vs {
		if v.Name == name {
			return v
		}
	}
	return nil
}

func page[T any](all []T, token string, size int) ([]T, string) {
	from, _ := strconv.Atoi(token)
	to := min(from+size, len(all))
	if from > len(all) {
		from = len(all)
	}
	next := ""
	if to < len(all) {
		next = strconv.Itoa(to)
	}
	return all[from:to], next
}

func (s *SecretManager) listing() error {
	switch {
	case s.Deny:
		return status.Error(codes.PermissionDenied, "Permission 'secretmanager.secrets.list' denied")
	case s.Throttle > 0:
		s.Throttle--
		return status.Error(codes.ResourceExhausted, "Quota exceeded for quota metric 'Access requests'")
	}
	return nil
}

// ListSecrets implements the service.
func (s *SecretManager) ListSecrets(_ context.Context, r *secretmanagerpb.ListSecretsRequest) (*secretmanagerpb.ListSecretsResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.listing(); err != nil {
		return nil, err
	}
	var all []*secretmanagerpb.Secret
	for name, sec := range s.secrets {
		if strings.HasPrefix(name, r.GetParent()+"/secrets/") {
			all = append(all, sec)
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	got, next := page(all, r.GetPageToken(), min(int(r.GetPageSize()), s.PageSize))
	return &secretmanagerpb.ListSecretsResponse{Secrets: got, NextPageToken: next, TotalSize: int32(len(all))}, nil
}

// ListSecretVersions implements the service.
func (s *SecretManager) ListSecretVersions(_ context.Context, r *secretmanagerpb.ListSecretVersionsRequest) (*secretmanagerpb.ListSecretVersionsResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	vs := s.versions[r.GetParent()]
	if vs == nil {
		return nil, status.Error(codes.NotFound, "Secret ["+r.GetParent()+"] not found")
	}
	// Newest first, as the service lists them.
	rev := make([]*secretmanagerpb.SecretVersion, len(vs))
	for i, v := range vs {
		rev[len(vs)-1-i] = v
	}
	got, next := page(rev, r.GetPageToken(), min(int(r.GetPageSize()), s.PageSize))
	return &secretmanagerpb.ListSecretVersionsResponse{Versions: got, NextPageToken: next, TotalSize: int32(len(vs))}, nil
}

// AccessSecretVersion implements the service.
func (s *SecretManager) AccessSecretVersion(_ context.Context, r *secretmanagerpb.AccessSecretVersionRequest) (*secretmanagerpb.AccessSecretVersionResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.version(r.GetName())
	switch {
	case v == nil:
		return nil, status.Error(codes.NotFound, "Secret Version ["+r.GetName()+"] not found")
	case v.State != secretmanagerpb.SecretVersion_ENABLED:
		return nil, status.Error(codes.FailedPrecondition, "Secret Version ["+v.Name+"] is in "+v.State.String()+" state")
	}
	return &secretmanagerpb.AccessSecretVersionResponse{Name: v.Name, Payload: &secretmanagerpb.SecretPayload{Data: s.data[v.Name]}}, nil
}

// AddSecretVersion implements the service.
func (s *SecretManager) AddSecretVersion(_ context.Context, r *secretmanagerpb.AddSecretVersionRequest) (*secretmanagerpb.SecretVersion, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.secrets[r.GetParent()] == nil {
		return nil, status.Error(codes.NotFound, "Secret ["+r.GetParent()+"] not found")
	}
	return s.version(s.add(r.GetParent(), r.GetPayload().GetData())), nil
}

func (s *SecretManager) setState(name string, st secretmanagerpb.SecretVersion_State) (*secretmanagerpb.SecretVersion, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.version(name)
	if v == nil {
		return nil, status.Error(codes.NotFound, "Secret Version ["+name+"] not found")
	}
	v.State = st
	return v, nil
}

// EnableSecretVersion implements the service.
func (s *SecretManager) EnableSecretVersion(_ context.Context, r *secretmanagerpb.EnableSecretVersionRequest) (*secretmanagerpb.SecretVersion, error) {
	return s.setState(r.GetName(), secretmanagerpb.SecretVersion_ENABLED)
}

// DisableSecretVersion implements the service.
func (s *SecretManager) DisableSecretVersion(_ context.Context, r *secretmanagerpb.DisableSecretVersionRequest) (*secretmanagerpb.SecretVersion, error) {
	return s.setState(r.GetName(), secretmanagerpb.SecretVersion_DISABLED)
}

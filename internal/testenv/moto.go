package testenv

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/vigilsec/vigil/internal/testenv/motohttp"
)

var (
	motoOnce sync.Once
	motoURL  string
	motoErr  error
)

// startServer starts bin on a free loopback port (args builds its arguments
// from the address), killed with the test binary, and waits until
// GET health answers (200 only, when strict). It returns the base URL.
func startServer(bin string, args func(addr string) []string, env []string, health string, strict bool) (string, error) {
	port, err := FreePort()
	if err != nil {
		return "", err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin, args(addr)...)
	cmd.Env = append(os.Environ(), env...)
	// Dies with the test binary, whatever way it ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	log, _ := os.CreateTemp("", bin+"-*.log")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start %s: %w", bin, err)
	}
	url := "http://" + addr
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url + health); err == nil {
			resp.Body.Close()
			if !strict || resp.StatusCode == 200 {
				return url, nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	cmd.Process.Kill()
	b, _ := os.ReadFile(log.Name())
	return "", fmt.Errorf("%s did not answer on %s within 60s:\n%s", bin, url, b)
}

// FreePort returns a loopback port nothing listens on (for a server a
// test starts).
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Moto returns the endpoint of a moto_server on loopback, started once per
// test binary (and killed with it), with its state reset for this test.
func Moto(t testing.TB) string {
	t.Helper()
	Required(t, "moto_server")
	motoOnce.Do(func() {
		// AWS managed policies (AdministratorAccess, ...) exist only on request.
		motoURL, motoErr = startServer("moto_server", func(addr string) []string {
			host, port, _ := net.SplitHostPort(addr)
			return []string{"-H", host, "-p", port}
		}, []string{"MOTO_IAM_LOAD_MANAGED_POLICIES=true"}, "/moto-api/", false)
	})
	if motoErr != nil {
		t.Fatal(motoErr)
	}
	MotoPost(t, "/moto-api/reset", "")
	// Enforcement outlives a reset: switch it off again for this test.
	MotoPost(t, "/moto-api/reset-auth", "inf")
	return motoURL
}

// MotoPost posts to moto's control API (e.g. /moto-api/reset-auth with body
// "0" switches IAM enforcement on).
func MotoPost(t testing.TB, path, body string) {
	t.Helper()
	resp, err := http.Post(motoURL+path, "text/plain", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("moto %s: %s", path, resp.Status)
	}
}

// AWSConfig is an SDK configuration for moto at endpoint with moto's
// accepted test credentials.
func AWSConfig(t testing.TB, endpoint string) aws.Config {
	t.Helper()
	cfg, err := motohttp.Config(context.Background(), endpoint)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// MotoUser creates an IAM user with one inline policy (none when policy is
// "") and an access key, and returns the key.
func MotoUser(t testing.TB, c *iam.Client, name, policy string) (id, secret string) {
	t.Helper()
	ctx := context.Background()
	if _, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	if policy != "" {
		if _, err := c.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String(name), PolicyName: aws.String("vigil"), PolicyDocument: aws.String(policy)}); err != nil {
			t.Fatal(err)
		}
	}
	k, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(k.AccessKey.AccessKeyId), aws.ToString(k.AccessKey.SecretAccessKey)
}

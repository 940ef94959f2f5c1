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
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

var (
	motoOnce sync.Once
	motoURL  string
	motoErr  error
)

func freePort() (int, error) {
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
		port, err := freePort()
		if err != nil {
			motoErr = err
			return
		}
		cmd := exec.Command("moto_server", "-H", "127.0.0.1", "-p", fmt.Sprint(port))
		// AWS managed policies (AdministratorAccess, ...) exist only on request.
		cmd.Env = append(os.Environ(), "MOTO_IAM_LOAD_MANAGED_POLICIES=true")
		// Dies with the test binary, whatever way it ends.
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		log, _ := os.CreateTemp("", "moto-*.log")
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			motoErr = fmt.Errorf("start moto_server: %w", err)
			return
		}
		url := fmt.Sprintf("http://127.0.0.1:%d", port)
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			if resp, err := http.Get(url + "/moto-api/"); err == nil {
				resp.Body.Close()
				motoURL = url
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		cmd.Process.Kill()
		b, _ := os.ReadFile(log.Name())
		motoErr = fmt.Errorf("moto_server did not answer on %s within 60s:\n%s", url, b)
	})
	if motoErr != nil {
		t.Fatal(motoErr)
	}
	MotoPost(t, "/moto-api/reset", "")
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
	cfg, err := awsconfig.LoadDefaultConfig(context.Background(), awsconfig.WithRegion("us-east-1"),
		awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("testing", "testing", "")))
	if err != nil {
		t.Fatal(err)
	}
	cfg.BaseEndpoint = aws.String(endpoint)
	return cfg
}

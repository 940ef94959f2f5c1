package remediate

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/openbao/openbao/api/v2"

	"github.com/vigilsec/vigil/rules"
)

// Values makes new secret values and proves they work. A value lives only
// in memory: it goes to the store and to the validation, never to a log,
// an error message or the database.
type Values struct {
	// Dir is where rotation and validation commands run (the config's
	// directory).
	Dir string
	// AWS is the configuration an "aws" validation probe signs in with
	// (region, endpoint), its credentials replaced by the new value.
	AWS *aws.Config
	// VaultAddress is the server a "vault" validation probe asks.
	VaultAddress string
}

var charsets = map[string]string{
	"alnum":     "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
	"hex":       "0123456789abcdef",
	"base64url": "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
	// Printable ASCII without quotes, backslash and space, which break
	// connection strings and shell-quoted configs.
	"ascii": "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$%&()*+,-./:;<=>?@[]^_{|}~",
}

// Generate returns a random value from crypto/rand.
func Generate(length int, charset string) (string, error) {
	if length == 0 {
		length = 32
	}
	if charset == "" {
		charset = "alnum"
	}
	set, ok := charsets[charset]
	if !ok {
		return "", fmt.Errorf("unknown charset %q", charset)
	}
	var b strings.Builder
	max := big.NewInt(int64(len(set)))
	for range length {
		n, err := rand.Int(rand.Reader, max)
		if err != nil {
			return "", err
		}
		b.WriteByte(set[n.Int64()])
	}
	return b.String(), nil
}

// New makes the new value for path: the command's output or a generated
// value.
func (v *Values) New(ctx context.Context, path string, r *rules.Rotation) (string, error) {
	if len(r.Command) == 0 {
		return Generate(r.Length, r.Charset)
	}
	var out bytes.Buffer
	if err := v.run(ctx, r.Command, path, "", &out, time.Minute); err != nil {
		return "", fmt.Errorf("rotation command for %s: %w", path, err)
	}
	val := strings.TrimRight(out.String(), "\r\n")
	if val == "" {
		return "", fmt.Errorf("rotation command for %s printed no value", path)
	}
	return val, nil
}

// Validate proves the new value works; nil r.Validate passes. value is the
// rotated value (the field's, in a structured secret), which a command gets
// on stdin and a "vault" probe uses as a token; document is the whole new
// secret, which an "aws" probe reads its key pair from. A failure wraps
// ErrVerify.
func (v *Values) Validate(ctx context.Context, path string, r *rules.Rotation, value, document string) error {
	val := r.Validate
	if val == nil {
		return nil
	}
	timeout := time.Minute
	if val.Timeout != "" {
		timeout, _ = time.ParseDuration(val.Timeout) // checked when the inventory was loaded
	}
	var err error
	switch {
	case len(val.Command) > 0:
		err = v.run(ctx, val.Command, path, value, nil, timeout)
	case val.Probe == "aws":
		err = v.probeAWS(ctx, document, timeout)
	case val.Probe == "vault":
		err = v.probeVault(ctx, value, timeout)
	}
	if err != nil {
		return fmt.Errorf("%w: the new value of %s did not validate: %v", ErrVerify, path, err)
	}
	return nil
}

// run runs a user command in Dir with VIGIL_SECRET_PATH set and stdin as
// given. Its stderr is kept for the error message with the value cut out,
// in case the command echoes it.
func (v *Values) run(ctx context.Context, argv []string, path, stdin string, stdout *bytes.Buffer, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = v.Dir
	cmd.Env = append(os.Environ(), "VIGIL_SECRET_PATH="+path)
	cmd.Stdin = strings.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if stdout != nil {
		cmd.Stdout = stdout
	}
	err := cmd.Run()
	if err == nil {
		return nil
	}
	msg := stderr.String()
	if stdin != "" {
		msg = strings.ReplaceAll(msg, stdin, "****")
	}
	if stdout != nil && stdout.Len() > 0 {
		msg = strings.ReplaceAll(msg, strings.TrimSpace(stdout.String()), "****")
	}
	msg = strings.TrimSpace(msg)
	if len(msg) > 300 {
		msg = msg[len(msg)-300:]
	}
	if msg != "" {
		return fmt.Errorf("%s: %w: %s", argv[0], err, msg)
	}
	return fmt.Errorf("%s: %w", argv[0], err)
}

// probeAWS signs in with the value as an access key pair (JSON with
// access_key_id / secret_access_key, in any of AWS's spellings).
func (v *Values) probeAWS(ctx context.Context, value string, timeout time.Duration) error {
	if v.AWS == nil {
		return errors.New("an aws probe needs the config's aws: section")
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(value), &m); err != nil {
		return errors.New("the value is not a JSON object with an access key pair")
	}
	pick := func(names ...string) string {
		for k, x := range m {
			for _, n := range names {
				if strings.EqualFold(strings.ReplaceAll(k, "_", ""), n) {
					s, _ := x.(string)
					return s
				}
			}
		}
		return ""
	}
	id, secret := pick("accesskeyid", "awsaccesskeyid"), pick("secretaccesskey", "awssecretaccesskey")
	if id == "" || secret == "" {
		return errors.New("the value has no access_key_id and secret_access_key")
	}
	cfg := v.AWS.Copy()
	cfg.Credentials = credentials.NewStaticCredentialsProvider(id, secret, pick("sessiontoken", "awssessiontoken"))
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	_, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	return err
}

// probeVault looks the value up as a Vault token.
func (v *Values) probeVault(ctx context.Context, value string, timeout time.Duration) error {
	if v.VaultAddress == "" {
		return errors.New("a vault probe needs a vault store in the config")
	}
	cfg := api.DefaultConfig()
	cfg.Address = v.VaultAddress
	c, err := api.NewClient(cfg)
	if err != nil {
		return err
	}
	c.SetToken(value)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	_, err = c.Auth().Token().LookupSelfWithContext(ctx)
	return err
}

// replaceField returns old with field set to value: a JSON object (Secrets
// Manager) keeps its other fields. Without a field the whole value is
// replaced, unless old is a JSON object, which would lose its other fields.
func replaceField(old, field, value string) (newValue, oldField string, err error) {
	var m map[string]any
	isObj := json.Unmarshal([]byte(old), &m) == nil && m != nil
	if field == "" {
		if isObj {
			return "", "", errors.New("the secret is a JSON object: declare rotation.field, the key to rotate")
		}
		return value, old, nil
	}
	if !isObj {
		return "", "", fmt.Errorf("rotation.field %q is declared but the secret is not a JSON object", field)
	}
	prev, ok := m[field].(string)
	if !ok {
		return "", "", fmt.Errorf("the secret has no string field %q", field)
	}
	m[field] = value
	b, err := json.Marshal(m)
	return string(b), prev, err
}

// fieldOf is what replaceField replaced: field's string value in a JSON
// secret, or the whole value when field is "" (or missing).
func fieldOf(doc, field string) string {
	if field == "" {
		return doc
	}
	var m map[string]any
	if json.Unmarshal([]byte(doc), &m) == nil {
		if v, ok := m[field].(string); ok {
			return v
		}
	}
	return doc
}

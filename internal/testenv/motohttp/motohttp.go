// Package motohttp is the AWS SDK configuration of every client that talks
// to moto, the tests' and the demo's: apart from testenv, so that the demo's
// seeding program can use it without the test servers.
package motohttp

import (
	"bytes"
	"context"
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Config is an SDK configuration for moto at endpoint, with moto's accepted
// test credentials.
//
// The SDK sends a create again when its answer is lost, and moto, which did
// it the first time, answers EntityAlreadyExists: a test fails on something
// that did not happen. Two ways of losing an answer were seen:
//   - on a kept-alive connection, moto's server may close it just as it is
//     reused: so a connection per request;
//   - on such a connection, the answer is sometimes read after the
//     connection was closed under it, while the SDK decodes it ("StatusCode:
//     200 ... failed to decode response body ... use of closed network
//     connection", retried since aws-sdk-go-v2 retries net.ErrClosed): 3 in
//     17,000 CreateRole calls with both cores busy. So each answer is read
//     whole as soon as it arrives (none in 18,000).
//
// LoadDefaultConfig gets the SDK's own client type (it adds a CA bundle,
// AWS_CA_BUNDLE, only to that type); the reading wraps what it returns.
func Config(ctx context.Context, endpoint string) (aws.Config, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion("us-east-1"),
		awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("testing", "testing", "")),
		awsconfig.WithHTTPClient(awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) { tr.DisableKeepAlives = true })))
	if err != nil {
		return cfg, err
	}
	cfg.HTTPClient = wholeBody{cfg.HTTPClient}
	cfg.BaseEndpoint = aws.String(endpoint)
	return cfg, nil
}

// wholeBody reads every response body to its end before handing it on.
type wholeBody struct{ c aws.HTTPClient }

func (w wholeBody) Do(r *http.Request) (*http.Response, error) {
	resp, err := w.c.Do(r)
	if err != nil {
		return resp, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp, nil
}

package awssm

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/stores"
)

// BenchmarkInventory10kSecrets seeds moto with 10,000 secrets and times the
// inventory of Secrets Manager (metadata only: the nightly default).
func BenchmarkInventory10kSecrets(b *testing.B) {
	c := client(&testing.T{}, testenv.Moto(b), "us-east-1")
	ctx := context.Background()
	var wg sync.WaitGroup
	work := make(chan int)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if _, err := c.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String(fmt.Sprintf("team%d/app%d/secret", i%40, i)),
					SecretString: aws.String("v"), Tags: []types.Tag{{Key: aws.String("owner"), Value: aws.String(fmt.Sprint("team", i%40))}}}); err != nil {
					b.Error(err)
				}
			}
		}()
	}
	for i := 0; i < 10000; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s := New(c, "awssm:us-east-1", nil)
		n := 0
		if err := s.List(ctx, func(stores.Secret) { n++ }); err != nil {
			b.Fatal(err)
		}
		if n != 10000 {
			b.Fatalf("listed %d", n)
		}
		b.ReportMetric(float64(s.Calls.Load()), "api-calls")
	}
}

// genfindings fills a vigil database with a month of synthetic history for
// the monthly-report benchmark: N findings of every scanner's kinds, first
// seen over ten nightly runs, a tenth of them resolved by the last run.
//
//	go run ./bench/genfindings -db bench/.data/1m.db -n 1000000 -month 2026-10
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/secrethash"
	"github.com/vigilsec/vigil/internal/snapshot"
	"github.com/vigilsec/vigil/internal/store"
)

func main() {
	db := flag.String("db", "bench/.data/monthly.db", "database to create")
	n := flag.Int("n", 1_000_000, "findings")
	month := flag.String("month", "2026-10", "month of the history")
	flag.Parse()
	from, err := time.Parse("2006-01", *month)
	if err != nil {
		log.Fatal(err)
	}
	os.Remove(*db)
	h, _ := secrethash.New(bytes.Repeat([]byte{1}, 32))
	ctx := context.Background()
	st, err := store.Open(ctx, *db, h)
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	kinds := []finding.Kind{finding.KindLeakGit, finding.KindLeakLog, finding.KindLeakFile, finding.KindIAMExcessGrant,
		finding.KindInvRotationOverdue, finding.KindSynDeniedAllowed}
	sevs := []finding.Severity{finding.Critical, finding.High, finding.Medium, finding.Low}
	const runs = 10
	per := *n / runs
	var secrets []snapshot.Secret
	for i := range 10_000 {
		secrets = append(secrets, snapshot.Secret{Store: "vault", Path: fmt.Sprintf("vault:secret/team%02d/app%04d", i%50, i),
			Owner: fmt.Sprintf("team%02d", i%50), Env: "prod", Declared: i%7 != 0, RotationDays: 90,
			LastRotated: from.AddDate(0, 0, -i%400), LastAccessed: from.AddDate(0, 0, -i%30)})
	}
	start := time.Now()
	for r := range runs {
		at := from.AddDate(0, 0, 2*r+1).Add(2 * time.Hour)
		st.SetClock(func() time.Time { return at })
		id, err := st.BeginRun(ctx, "run")
		if err != nil {
			log.Fatal(err)
		}
		// Each run adds its own source's findings; the last run resolves a
		// tenth of the first source's.
		var fs []finding.Finding
		for i := range per {
			k := kinds[i%len(kinds)]
			fid := fmt.Sprintf("%02d-%07d", r, i)
			fs = append(fs, finding.Finding{ID: fid, Kind: k, Severity: sevs[i%len(sevs)], Scanner: "bench",
				Resource: "repo:payments@" + fid + ":config/app.yaml:12", Title: "AWS access key in commit " + fid, Detail: "generated",
				Evidence: finding.Evidence{"rule": "aws-access-token", "redacted": "AKI****XYZ", "commit": fid},
				Location: &finding.Location{Repo: "payments", Commit: fid, Path: "config/app.yaml", Line: 12}})
		}
		if _, err := st.Apply(ctx, id, store.Batch{Source: fmt.Sprintf("git:repo%02d", r), Mode: store.Full, Findings: fs,
			Secrets: secrets}); err != nil {
			log.Fatal(err)
		}
		if r == runs-1 {
			if _, err := st.Apply(ctx, id, store.Batch{Source: "git:repo00", Mode: store.Full, Findings: fs0(per)}); err != nil {
				log.Fatal(err)
			}
		}
		if err := st.FinishRun(ctx, id, store.RunOK, map[string]any{"new": per}); err != nil {
			log.Fatal(err)
		}
		fmt.Fprintf(os.Stderr, "run %d/%d stored (%s)\n", r+1, runs, time.Since(start).Round(time.Second))
	}
}

// fs0 is what the last run sees of the first source: all but a tenth.
func fs0(per int) []finding.Finding {
	kinds := []finding.Kind{finding.KindLeakGit, finding.KindLeakLog, finding.KindLeakFile, finding.KindIAMExcessGrant,
		finding.KindInvRotationOverdue, finding.KindSynDeniedAllowed}
	sevs := []finding.Severity{finding.Critical, finding.High, finding.Medium, finding.Low}
	var fs []finding.Finding
	for i := range per {
		if i%10 == 0 {
			continue
		}
		fid := fmt.Sprintf("00-%07d", i)
		fs = append(fs, finding.Finding{ID: fid, Kind: kinds[i%len(kinds)], Severity: sevs[i%len(sevs)], Scanner: "bench",
			Resource: "repo:payments@" + fid + ":config/app.yaml:12", Title: "AWS access key in commit " + fid, Detail: "generated",
			Evidence: finding.Evidence{"rule": "aws-access-token", "redacted": "AKI****XYZ", "commit": fid},
			Location: &finding.Location{Repo: "payments", Commit: fid, Path: "config/app.yaml", Line: 12}})
	}
	return fs
}

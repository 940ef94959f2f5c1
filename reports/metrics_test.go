package reports

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/vigilsec/vigil/internal/finding"
)

func TestMetricsTextfileParses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vigil.prom")
	started := time.Date(2026, 11, 2, 2, 0, 0, 0, time.UTC)
	run := RunMetrics{Command: "run", Status: "partial", Started: started, Duration: 90 * time.Second, FailedSources: 1,
		LastSuccess: started.Add(-24 * time.Hour)}
	if err := Metrics(path, run, sample()); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(f)
	if err != nil {
		t.Fatalf("node_exporter could not parse it: %v", err)
	}
	open := map[string]float64{}
	for _, m := range fams["vigil_open_findings"].GetMetric() {
		l := map[string]string{}
		for _, p := range m.GetLabel() {
			l[p.GetName()] = p.GetValue()
		}
		open[l["kind"]+"/"+l["severity"]] = m.GetGauge().GetValue()
	}
	if open[string(finding.KindLeakGit)+"/high"] != 1 || open[string(finding.KindLeakLog)+"/medium"] != 1 || open["iam.wildcard/critical"] != 1 || len(open) != 3 {
		t.Errorf("open findings %v", open)
	}
	gauge := func(name string) float64 { return fams[name].GetMetric()[0].GetGauge().GetValue() }
	if gauge("vigil_last_run_duration_seconds") != 90 || gauge("vigil_last_run_failed_sources") != 1 ||
		gauge("vigil_last_run_timestamp_seconds") != float64(started.Unix()) ||
		gauge("vigil_last_success_timestamp_seconds") != float64(started.Add(-24*time.Hour).Unix()) {
		t.Errorf("run gauges wrong:\n%v", fams)
	}
	for _, m := range fams["vigil_last_run_status"].GetMetric() {
		want := 0.0
		for _, l := range m.GetLabel() {
			if l.GetName() == "status" && l.GetValue() == "partial" {
				want = 1
			}
		}
		if m.GetGauge().GetValue() != want {
			t.Errorf("status %v", m)
		}
	}
}

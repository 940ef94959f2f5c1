package reports

import (
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigilsec/vigil/internal/finding"
)

// RunMetrics is what the Prometheus textfile says about the latest run.
type RunMetrics struct {
	Command       string
	Status        string
	Started       time.Time
	Duration      time.Duration
	FailedSources int
	// LastSuccess is when the last run that completed without a failed
	// source finished (zero: never).
	LastSuccess time.Time
	// AuditHead is the chain head after the run ("seq:hash").
	AuditHead string
}

// Metrics writes a Prometheus textfile for node_exporter's textfile
// collector: open findings by kind and severity, and the run's duration,
// status and time, with the last success time, so an alert can say "vigil
// has not succeeded for two days". The file is replaced atomically, as the
// collector requires.
func Metrics(path string, run RunMetrics, open []finding.Finding) error {
	reg := prometheus.NewRegistry()
	openG := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "vigil_open_findings", Help: "Open findings by kind and severity."}, []string{"kind", "severity"})
	dur := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "vigil_last_run_duration_seconds", Help: "Duration of the latest run."}, []string{"command"})
	status := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "vigil_last_run_status", Help: "1 for the status of the latest run (ok, partial, failed)."}, []string{"command", "status"})
	started := prometheus.NewGauge(prometheus.GaugeOpts{Name: "vigil_last_run_timestamp_seconds", Help: "Start of the latest run, Unix time."})
	failed := prometheus.NewGauge(prometheus.GaugeOpts{Name: "vigil_last_run_failed_sources", Help: "Sources of the latest run that could not be scanned."})
	success := prometheus.NewGauge(prometheus.GaugeOpts{Name: "vigil_last_success_timestamp_seconds", Help: "End of the last run without a failed source, Unix time (0: never)."})
	head := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "vigil_audit_head_seq",
		Help: "Sequence number of the audit chain's head after the latest run; the hash label is the anchor for vigil audit verify --expect-head."}, []string{"hash"})
	reg.MustRegister(openG, dur, status, started, failed, success, head)
	if seq, hash, ok := strings.Cut(run.AuditHead, ":"); ok {
		n, _ := strconv.ParseFloat(seq, 64)
		head.WithLabelValues(hash).Set(n)
	}

	// Every kind and severity seen is set, zero included, so a resolved
	// problem's series drops to 0 rather than vanishing.
	for _, f := range open {
		openG.WithLabelValues(string(f.Kind), string(f.Severity)).Inc()
	}
	for _, s := range []string{"ok", "partial", "failed"} {
		v := 0.0
		if s == run.Status {
			v = 1
		}
		status.WithLabelValues(run.Command, s).Set(v)
	}
	dur.WithLabelValues(run.Command).Set(run.Duration.Seconds())
	started.Set(float64(run.Started.Unix()))
	failed.Set(float64(run.FailedSources))
	if !run.LastSuccess.IsZero() {
		success.Set(float64(run.LastSuccess.Unix()))
	}
	return prometheus.WriteToTextfile(path, reg)
}

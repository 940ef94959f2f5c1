package main

import (
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/vigilsec/vigil/scanners"
)

// progress shows commits, files and bytes scanned on a terminal, and nothing
// at all when stderr is not one (cron, CI, a pipe), so logs stay clean.
type progress struct {
	scanners.Counter
	bar  *progressbar.ProgressBar
	done chan struct{}
}

func startProgress(quiet bool) *progress {
	p := &progress{done: make(chan struct{})}
	if quiet || !term.IsTerminal(int(os.Stderr.Fd())) {
		close(p.done)
		return p
	}
	p.bar = progressbar.NewOptions64(-1,
		progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionSpinnerType(14),
		progressbar.OptionSetDescription("scanning"),
		progressbar.OptionShowBytes(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
	// Draw at once: the ticker below only refreshes it.
	_ = p.bar.RenderBlank()
	go func() {
		t := time.NewTicker(150 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.done:
				return
			case <-t.C:
				p.bar.Describe("scanning: " + p.Describe())
				_ = p.bar.Set64(p.Bytes.Load())
			}
		}
	}()
	return p
}

func (p *progress) stop() {
	if p.bar == nil {
		return
	}
	close(p.done)
	_ = p.bar.Finish()
}

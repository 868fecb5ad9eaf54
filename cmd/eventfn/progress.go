package main

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// progress reports a long operation item by item: a progress bar with an
// ETA when w is a terminal, one plain line per item otherwise, nothing with
// --json (the command prints a summary instead). It is safe for concurrent
// use.
type progress struct {
	mu    sync.Mutex
	bar   *progressbar.ProgressBar
	lines io.Writer
}

// newProgress returns a progress for total items, written to w.
func newProgress(w io.Writer, total int, description string, quiet bool) *progress {
	p := &progress{}
	switch {
	case quiet:
	case isTerminal(w):
		p.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription(description),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("msg"),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
		)
	default:
		p.lines = w
	}
	return p
}

// step reports one item done; line is what plain output prints for it.
func (p *progress) step(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.bar != nil:
		p.bar.Add(1)
	case p.lines != nil:
		fmt.Fprintln(p.lines, line)
	}
}

// stop ends the bar, leaving it on screen.
func (p *progress) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		p.bar.Exit()
		p.bar = nil
	}
}

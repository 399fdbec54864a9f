package server

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// recordingWriter keeps what was written and counts the Write calls.
type recordingWriter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
}

func (w *recordingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes++
	return w.buf.Write(p)
}

func (w *recordingWriter) state() (string, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String(), w.writes
}

// Lines from many goroutines come out whole, each once, in the order each
// goroutine wrote them, in far fewer writes than lines; none is lost on
// Close.
func TestLogLinesAreWrittenInBatchesWholeAndNoneIsLost(t *testing.T) {
	w := &recordingWriter{}
	lines := newLineBuffer(w, time.Hour) // only a full buffer and Close write
	const writers, each = 8, 2000
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range each {
				fmt.Fprintf(lines, "writer=%d line=%d %s\n", g, i, strings.Repeat("x", 100))
			}
		})
	}
	wg.Wait()
	lines.Close()

	out, writes := w.state()
	got := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(got) != writers*each {
		t.Fatalf("%d lines written, want %d", len(got), writers*each)
	}
	next := make([]int, writers)
	for _, l := range got {
		var g, i int
		var rest string
		if _, err := fmt.Sscanf(l, "writer=%d line=%d %s", &g, &i, &rest); err != nil || rest != strings.Repeat("x", 100) {
			t.Fatalf("line %q is not one whole line (%v)", l, err)
		}
		if i != next[g] {
			t.Fatalf("writer %d: line %d came where line %d was due", g, i, next[g])
		}
		next[g]++
	}
	// About 120 bytes a line, 64 KiB a write.
	if max := len(out)/logBufferSize + 2; writes > max {
		t.Errorf("%d writes for %d bytes, want at most %d", writes, len(out), max)
	}
}

// A line waits at most the interval: it is written without Close. Before
// the interval nothing is written.
func TestALogLineIsWrittenWithinTheInterval(t *testing.T) {
	w := &recordingWriter{}
	lines := newLineBuffer(w, 20*time.Millisecond)
	defer lines.Close()
	fmt.Fprintln(lines, "first")
	deadline := time.Now().Add(10 * time.Second)
	for {
		if out, _ := w.state(); out == "first\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the line was not written without Close")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The timer is armed again by the next line.
	fmt.Fprintln(lines, "second")
	for {
		if out, writes := w.state(); out == "first\nsecond\n" {
			if writes != 2 {
				t.Errorf("%d writes, want 2", writes)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the second line was not written without Close")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A warning or an error is written at once, with the lines held before it;
// info lines wait.
func TestWarningsAndErrorsAreWrittenAtOnceWithTheLinesBefore(t *testing.T) {
	w := &recordingWriter{}
	lines := newLineBuffer(w, time.Hour)
	log := slog.New(flushAbove{slog.NewTextHandler(lines, nil), lines}).With("node", 1).WithGroup("g")
	log.Info("request one")
	log.Info("request two")
	if out, writes := w.state(); out != "" || writes != 0 {
		t.Fatalf("info lines written at once: %q", out)
	}
	log.Warn("store slow")
	out, writes := w.state()
	if writes != 1 || strings.Count(out, "\n") != 3 || !strings.Contains(out, "msg=\"request one\"") ||
		!strings.Contains(out, "msg=\"store slow\"") || strings.Index(out, "request two") > strings.Index(out, "store slow") {
		t.Fatalf("after a warning, %d writes of %q; want the three lines in order, in one write", writes, out)
	}
	log.Error("failed", "error", "boom")
	if out, _ := w.state(); !strings.Contains(out, "msg=failed") {
		t.Fatalf("the error line is not written at once: %q", out)
	}
}

// With no interval every line is its own write, and after Close lines go
// straight through.
func TestLogLinesGoStraightThroughWithoutIntervalOrAfterClose(t *testing.T) {
	w := &recordingWriter{}
	lines := newLineBuffer(w, 0)
	fmt.Fprintln(lines, "a")
	fmt.Fprintln(lines, "b")
	if out, writes := w.state(); out != "a\nb\n" || writes != 2 {
		t.Fatalf("interval 0: %d writes of %q, want 2 of \"a\\nb\\n\"", writes, out)
	}

	w = &recordingWriter{}
	lines = newLineBuffer(w, time.Hour)
	fmt.Fprintln(lines, "held")
	lines.Close()
	fmt.Fprintln(lines, "after")
	if out, writes := w.state(); out != "held\nafter\n" || writes != 2 {
		t.Fatalf("after Close: %d writes of %q, want 2 of \"held\\nafter\\n\"", writes, out)
	}
}

// A negative interval is refused at start.
func TestNegativeLogFlushIntervalIsRefused(t *testing.T) {
	cfg := DefaultConfig()
	cfg.LogFlushInterval = -time.Second
	if _, err := New(t.Context(), cfg); err == nil || !strings.Contains(err.Error(), "log flush interval") {
		t.Fatalf("New() = %v, want the interval refused", err)
	}
}

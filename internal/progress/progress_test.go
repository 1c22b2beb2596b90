package progress

import (
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

type report struct{ current, total int64 }

type recorder struct {
	mu      sync.Mutex
	reports []report
	done    bool
}

func (r *recorder) Progress(id string, current, total int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reports = append(r.reports, report{current, total})
}
func (r *recorder) Log(string) {}
func (r *recorder) Done(error) { r.done = true }

func TestCounter(t *testing.T) {
	rec := &recorder{}
	c := NewCounter(rec, "read", 100)
	n, err := io.Copy(io.Discard, c.Reader(strings.NewReader(strings.Repeat("x", 60))))
	if err != nil || n != 60 {
		t.Fatal(n, err)
	}
	c.Flush()
	// The first report opens the part; Flush's is final: the estimate becomes the count.
	if got := rec.reports[0]; got != (report{0, 100}) {
		t.Errorf("first report %v, want {0 100}", got)
	}
	if got := rec.reports[len(rec.reports)-1]; got != (report{60, 60}) {
		t.Errorf("last report %v, want {60 60}", got)
	}

	// Reports are throttled: a million small writes make a handful of reports.
	rec = &recorder{}
	c = NewCounter(rec, "out", 0)
	start := time.Now()
	for range 1_000_000 {
		c.Write([]byte{1})
	}
	c.Flush()
	max := 2 + int(time.Since(start)/every) + 1
	if len(rec.reports) > max {
		t.Errorf("%d reports for %s of writes, want at most %d", len(rec.reports), time.Since(start), max)
	}
	if got := rec.reports[len(rec.reports)-1]; got != (report{1_000_000, 0}) {
		t.Errorf("last report %v: an unknown total stays unknown", got)
	}
}

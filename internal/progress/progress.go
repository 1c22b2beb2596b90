// Package progress is how slim's library reports its long work (reading and indexing
// layers, taking files, compressing, writing) without knowing who shows it: cmd/slim
// passes build's BuildKit display (build.NewDisplay, or the running solve's with
// build.Steps), tests pass a recorder, and a nil Sink shows nothing. It owns the two
// small interfaces and the byte counter that feeds them; BuildKit stays in build/.
package progress

import (
	"io"
	"sync"
	"time"
)

// Sink starts the steps of a display.
type Sink interface {
	// Start begins a step named name, a line of the display.
	Start(name string) Step
}

// Step is one step of a display, ended once with Done.
type Step interface {
	// Progress says how far the part id of the step is (a layer's bytes read, a
	// stream's bytes written): current of total, total 0 when unknown.
	Progress(id string, current, total int64)
	// Log adds a line to the step's log.
	Log(line string)
	// Done ends the step, failed when err is not nil.
	Done(err error)
}

// Start starts a step of s, or of a display that shows nothing when s is nil.
func Start(s Sink, name string) Step {
	if s == nil {
		return nop{}
	}
	return s.Start(name)
}

type nop struct{}

func (nop) Progress(string, int64, int64) {}
func (nop) Log(string)                    {}
func (nop) Done(error)                    {}

// every is how often a Counter reports: a display redraws about ten times a second,
// more reports would only queue.
const every = 100 * time.Millisecond

// Counter counts the bytes that pass through it as part id of a step, reporting at
// most every 100 ms and once more on Flush. It is safe for concurrent use.
type Counter struct {
	step  Step
	id    string
	total int64

	mu   sync.Mutex
	n    int64
	last time.Time
}

// NewCounter counts for part id of st, of total bytes (0 when unknown).
func NewCounter(st Step, id string, total int64) *Counter {
	c := &Counter{step: st, id: id, total: total}
	st.Progress(id, 0, total)
	return c
}

// Add counts n more bytes.
func (c *Counter) Add(n int64) {
	c.mu.Lock()
	c.n += n
	now := time.Now()
	report := now.Sub(c.last) >= every
	if report {
		c.last = now
	}
	cur, total := c.n, c.total
	c.mu.Unlock()
	if report {
		if total > 0 {
			total = max(total, cur) // a total may be an estimate
		}
		c.step.Progress(c.id, cur, total)
	}
}

// Flush reports the count now, as final: a total that was an estimate becomes the
// count.
func (c *Counter) Flush() {
	c.mu.Lock()
	cur, total := c.n, c.total
	c.mu.Unlock()
	if total > 0 {
		total = cur
	}
	c.step.Progress(c.id, cur, total)
}

// Write counts p: a Counter is an io.Writer to tee or multi-write into.
func (c *Counter) Write(p []byte) (int, error) {
	c.Add(int64(len(p)))
	return len(p), nil
}

// Reader counts what is read from r.
func (c *Counter) Reader(r io.Reader) io.Reader { return countingReader{r: r, c: c} }

type countingReader struct {
	r io.Reader
	c *Counter
}

func (r countingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.c.Add(int64(n))
	return n, err
}

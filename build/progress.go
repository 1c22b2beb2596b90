package build

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/util/progress/progressui"

	digest "github.com/opencontainers/go-digest"
	"github.com/slim-dev/slim/internal/progress"
)

// Step is a step of slim's own shown in BuildKit's progress display, next to the
// build's steps and in their style (a timed line in tty mode, a "#N" block in plain,
// a vertex in rawjson). Text written to it becomes the step's log. Writing to the
// terminal directly while the display runs would tear it.
type Step struct {
	s        *stepper
	vertex   client.Vertex
	mu       sync.Mutex
	buf      []byte // an unfinished log line
	done     bool
	statuses map[string]*client.VertexStatus // the last of each part, completed by Done
}

// stepper sends slim's steps into the status channel the display reads.
type stepper struct {
	ch     chan<- *client.SolveStatus
	mu     sync.Mutex
	closed bool // the display is over: the channel is closed
	n      int
}

type stepperKey struct{}

// StartStep starts a step named name in the display of the Solve whose callback ctx
// belongs to. Outside a callback it returns a step that writes nowhere, so callers
// need not care where they run. End it with Done.
func StartStep(ctx context.Context, name string) *Step {
	s, _ := ctx.Value(stepperKey{}).(*stepper)
	return s.start(name)
}

// Steps is the display of the Solve whose callback ctx belongs to, as a
// progress.Sink for the library's own steps; nil outside a callback.
func Steps(ctx context.Context) progress.Sink {
	if s, _ := ctx.Value(stepperKey{}).(*stepper); s != nil {
		return s
	}
	return nil
}

// Start begins a step: stepper is a progress.Sink.
func (s *stepper) Start(name string) progress.Step { return s.start(name) }

func (s *stepper) start(name string) *Step {
	st := &Step{s: s}
	if s == nil {
		return st
	}
	s.mu.Lock()
	s.n++
	n := s.n
	s.mu.Unlock()
	now := time.Now()
	st.vertex = client.Vertex{
		Digest:  digest.FromString(fmt.Sprintf("slim-step-%d-%d-%s", now.UnixNano(), n, name)),
		Name:    name,
		Started: &now,
	}
	s.send(&client.SolveStatus{Vertexes: []*client.Vertex{&st.vertex}})
	return st
}

// Write adds p to the step's log, a line at a time.
func (st *Step) Write(p []byte) (int, error) {
	if st.s == nil {
		return len(p), nil
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	st.buf = append(st.buf, p...)
	if i := bytes.LastIndexByte(st.buf, '\n'); i >= 0 {
		st.log(st.buf[:i+1])
		st.buf = append(st.buf[:0], st.buf[i+1:]...)
	}
	return len(p), nil
}

// Log adds a line to the step's log.
func (st *Step) Log(line string) { fmt.Fprintln(st, line) }

// Progress shows how far part id of the step is, as BuildKit shows a layer's
// download: current of total bytes.
func (st *Step) Progress(id string, current, total int64) {
	if st.s == nil {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.done {
		return
	}
	now := time.Now()
	vs := st.statuses[id]
	if vs == nil {
		if st.statuses == nil {
			st.statuses = map[string]*client.VertexStatus{}
		}
		vs = &client.VertexStatus{ID: id, Vertex: st.vertex.Digest, Name: id, Started: &now}
		st.statuses[id] = vs
	}
	vs.Current, vs.Total, vs.Timestamp = current, total, now
	c := *vs
	st.s.send(&client.SolveStatus{Statuses: []*client.VertexStatus{&c}})
}

func (st *Step) log(b []byte) {
	st.s.send(&client.SolveStatus{Logs: []*client.VertexLog{{
		Vertex: st.vertex.Digest, Stream: 1, Data: bytes.Clone(b), Timestamp: time.Now(),
	}}})
}

// Done ends the step, failed when err is not nil. Only the first call counts.
func (st *Step) Done(err error) {
	if st.s == nil {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.done {
		return
	}
	st.done = true
	if len(st.buf) > 0 {
		st.log(append(st.buf, '\n'))
		st.buf = nil
	}
	now := time.Now()
	var parts []*client.VertexStatus
	for _, vs := range st.statuses {
		c := *vs
		c.Completed, c.Timestamp = &now, now
		parts = append(parts, &c)
	}
	if len(parts) > 0 {
		st.s.send(&client.SolveStatus{Statuses: parts})
	}
	v := st.vertex
	v.Completed = &now
	if err != nil {
		v.Error = err.Error()
	}
	st.s.send(&client.SolveStatus{Vertexes: []*client.Vertex{&v}})
}

// send hands a status to the display unless the solve has ended.
func (s *stepper) send(st *client.SolveStatus) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.ch <- st
	}
}

// close ends the display: the channel is closed once, and later steps send nothing.
func (s *stepper) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.ch)
	}
}

// Display is BuildKit's progress display (progressui) for work that is not a
// solve: slim's own steps, in the same look as a build's, so that every command
// shows its long work alike. It is a progress.Sink; Close ends it.
type Display struct {
	*stepper
	done chan struct{}
}

// NewDisplay starts a display writing to w in mode (auto, tty, plain, quiet or
// rawjson; tty falls back to plain when w is no terminal, as in a solve); phase
// heads it where a build's says "Building".
func NewDisplay(ctx context.Context, w io.Writer, mode, phase string) (*Display, error) {
	m, err := progressMode(mode)
	if err != nil {
		return nil, err
	}
	d, err := progressui.NewDisplay(w, m, progressui.WithPhase(phase))
	if err != nil {
		d, err = progressui.NewDisplay(w, progressui.PlainMode, progressui.WithPhase(phase))
	}
	if err != nil {
		return nil, err
	}
	ch := make(chan *client.SolveStatus)
	disp := &Display{stepper: &stepper{ch: ch}, done: make(chan struct{})}
	go func() {
		defer close(disp.done)
		// Not ctx: the display must draw the failed step that cancelled the work.
		_, _ = d.UpdateFrom(context.WithoutCancel(ctx), ch)
		for range ch {
		}
	}()
	return disp, nil
}

// Close ends the display once it has drawn every step; what is printed after it
// (a report, a table) comes below the display, not through it.
func (d *Display) Close() {
	d.stepper.close()
	<-d.done
}

// Lines is a writer whose every line is a step of d, done as it is shown: text a
// run writes as it goes ("resolving base static") becomes lines of the display
// instead of tearing it.
func (d *Display) Lines() io.Writer { return &lineSteps{d: d} }

type lineSteps struct {
	d   *Display
	mu  sync.Mutex
	buf []byte
}

func (l *lineSteps) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := string(bytes.TrimPrefix(l.buf[:i], []byte("slim: ")))
		l.buf = l.buf[i+1:]
		l.d.start("[slim] " + line).Done(nil)
	}
}

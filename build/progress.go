package build

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/moby/buildkit/client"
	digest "github.com/opencontainers/go-digest"
)

// Step is a step of slim's own shown in BuildKit's progress display, next to the
// build's steps and in their style (a timed line in tty mode, a "#N" block in plain,
// a vertex in rawjson). Text written to it becomes the step's log. Writing to the
// terminal directly while the display runs would tear it.
type Step struct {
	s      *stepper
	vertex client.Vertex
	mu     sync.Mutex
	buf    []byte // an unfinished log line
	done   bool
}

// stepper sends slim's steps into the status channel the display reads.
type stepper struct {
	ch     chan<- *client.SolveStatus
	mu     sync.Mutex
	closed bool // the solve is over: the channel may be closed
	n      int
}

type stepperKey struct{}

// StartStep starts a step named name in the display of the Solve whose callback ctx
// belongs to. Outside a callback it returns a step that writes nowhere, so callers
// need not care where they run. End it with Done.
func StartStep(ctx context.Context, name string) *Step {
	s, _ := ctx.Value(stepperKey{}).(*stepper)
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

func (s *stepper) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
}

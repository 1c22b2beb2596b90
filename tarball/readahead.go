package tarball

import (
	"archive/tar"
	"fmt"
	"io"
	"sync"
)

// WithReadAhead lets the writer read up to n small files (readAheadMax bytes at
// most each) concurrently, ahead of the one it is writing, when sources answer each
// read after a round trip: a BuildKit stage's files come over the gateway one call
// at a time (measured: 2000 files of 3 KB read one after another 1083 ms, 8 at once
// 705 ms). The sources must allow concurrent reads. Output does not depend on it.
func WithReadAhead(n int) Option { return func(o *options) { o.readAhead = n } }

// readAheadMax is the largest file read ahead: beyond it a round trip is small
// beside the transfer, and memory stays at n × readAheadMax.
const readAheadMax = 256 << 10

// prefetched is the content of one small file read ahead.
type prefetched struct {
	data []byte
	err  error
	done chan struct{}
}

// readAhead starts reading the small files of plan, n at a time and at most n ahead
// of the consumer, which calls next(i) for each entry in order and release() after
// using what it got. stop ends the reading early.
type readAhead struct {
	futures []*prefetched
	slots   chan struct{}
	stop    chan struct{}
	wg      sync.WaitGroup // the feeder and the reads in flight
}

func smallFile(e Entry) bool {
	return e.Header.Typeflag == tar.TypeReg && e.Open != nil && e.Header.Size > 0 && e.Header.Size <= readAheadMax
}

func startReadAhead(plan []Entry, n int) *readAhead {
	ra := &readAhead{futures: make([]*prefetched, len(plan)), slots: make(chan struct{}, n), stop: make(chan struct{})}
	var todo []int
	for i, e := range plan {
		if smallFile(e) {
			ra.futures[i] = &prefetched{done: make(chan struct{})}
			todo = append(todo, i)
		}
	}
	ra.wg.Go(func() {
		for _, i := range todo {
			select {
			case ra.slots <- struct{}{}:
			case <-ra.stop:
				return
			}
			ra.wg.Go(func() { ra.futures[i].fetch(plan[i]) })
		}
	})
	return ra
}

// fetch reads the file and one byte more, so that a file longer than its header
// says is caught as it is when streamed.
func (p *prefetched) fetch(e Entry) {
	defer close(p.done)
	rc, err := e.Open()
	if err != nil {
		p.err = fmt.Errorf("opening content of %q: %w", e.Header.Name, err)
		return
	}
	p.data, p.err = io.ReadAll(io.LimitReader(rc, e.Header.Size+1))
	if cerr := rc.Close(); p.err == nil && cerr != nil {
		p.err = fmt.Errorf("closing content of %q: %w", e.Header.Name, cerr)
	}
}

// next returns the entry's prefetched content, or nil when it is not read ahead.
func (ra *readAhead) next(i int) *prefetched {
	p := ra.futures[i]
	if p == nil {
		return nil
	}
	<-p.done
	return p
}

func (ra *readAhead) release() { <-ra.slots }

// close stops reading ahead and waits for the reads in flight, so that no source is
// read after the writer returns (its caller may close them).
func (ra *readAhead) close() {
	close(ra.stop)
	ra.wg.Wait()
}

// writePrefetched writes an entry's content read ahead, with the checks copyExact
// makes on streamed content.
func writePrefetched(tw *tar.Writer, h *tar.Header, p *prefetched) error {
	if p.err != nil {
		return p.err
	}
	switch n := int64(len(p.data)); {
	case n < h.Size:
		return fmt.Errorf("writing content of %q: got %d bytes, header says %d: %w", h.Name, n, h.Size, ErrSizeMismatch)
	case n > h.Size:
		return fmt.Errorf("writing content of %q: more than the %d bytes the header says: %w", h.Name, h.Size, ErrSizeMismatch)
	}
	if _, err := tw.Write(p.data); err != nil {
		return fmt.Errorf("writing content of %q: %w", h.Name, err)
	}
	return nil
}

package imagefs

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"sync"
)

// spool holds a layer's uncompressed tar stream in a temporary file (see
// WithSpool). The file is unlinked as soon as it is created, so nothing is
// left behind whatever way the process ends.
type spool struct {
	mu sync.RWMutex
	f  *os.File
}

// section returns a reader of n bytes at off, or nil when there is no spool.
func (s *spool) section(off, n int64) io.Reader {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.f == nil {
		return nil
	}
	return io.NewSectionReader(s.f, off, n)
}

func (s *spool) set(f *os.File) {
	s.mu.Lock()
	s.f = f
	s.mu.Unlock()
}

func (s *spool) close() error {
	s.mu.Lock()
	f := s.f
	s.f = nil
	s.mu.Unlock()
	if f == nil {
		return nil
	}
	return f.Close()
}

// spoolWriter is where the indexing pass copies the uncompressed stream. Its
// errors are kept apart from the stream's, so a full disk is not reported as a
// corrupt layer.
type spoolWriter struct {
	f   *os.File
	w   *bufio.Writer
	err error
}

func newSpoolWriter(dir string) (*spoolWriter, error) {
	f, err := os.CreateTemp(dir, "slim-layer-*")
	if err != nil {
		return nil, fmt.Errorf("creating layer spool: %w", err)
	}
	// Unlinked at once: the open file keeps the data until it is closed.
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, fmt.Errorf("creating layer spool: %w", err)
	}
	return &spoolWriter{f: f, w: bufio.NewWriterSize(f, 1<<20)}, nil
}

func (s *spoolWriter) Write(p []byte) (int, error) {
	if s.err == nil {
		_, s.err = s.w.Write(p)
	}
	return len(p), nil
}

// finish flushes the spool and hands over its file, or reports why it failed.
func (s *spoolWriter) finish() (*os.File, error) {
	if s.err == nil {
		s.err = s.w.Flush()
	}
	if s.err != nil {
		s.f.Close()
		return nil, fmt.Errorf("writing layer spool: %w", s.err)
	}
	return s.f, nil
}

// abort drops a spool that will not be used.
func (s *spoolWriter) abort() { s.f.Close() }

// teeReader copies what r reads into w; w never fails a read (see spoolWriter).
type teeReader struct {
	r io.Reader
	w *spoolWriter
}

func (t teeReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if n > 0 {
		t.w.Write(p[:n])
	}
	return n, err
}

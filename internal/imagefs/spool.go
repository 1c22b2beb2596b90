package imagefs

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/slim-dev/slim/internal/tempfile"
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
	// unchecked counts the bytes written since the free space was last looked at.
	unchecked int64
}

// errSpoolFull stops a spool that would leave the disk short (see spoolCheckEvery):
// the layer is then read from its blob, as without WithSpool.
var errSpoolFull = errors.New("spool stopped: the disk is getting full")

// spoolCheckEvery is how often a spool looks at the free space of its file system.
// It stops once less than spoolReserve(total) would be left: a large image then costs
// some decompression, never a full disk (the temporary directory is often shared
// with the build and the output).
const spoolCheckEvery = 64 << 20

// spoolReserve is the free space a spool leaves on a file system of total bytes: a
// tenth of it, and at least 1 GiB.
func spoolReserve(total uint64) uint64 {
	return max(total/10, 1<<30)
}

func newSpoolWriter(dir string) (*spoolWriter, error) {
	f, err := tempfile.Unlinked(dir, "slim-layer-*")
	if err != nil {
		return nil, fmt.Errorf("creating layer spool: %w", err)
	}
	return &spoolWriter{f: f, w: bufio.NewWriterSize(f, 1<<20)}, nil
}

func (s *spoolWriter) Write(p []byte) (int, error) {
	if s.err != nil {
		return len(p), nil
	}
	if s.unchecked += int64(len(p)); s.unchecked >= spoolCheckEvery {
		s.unchecked = 0
		if free, total, ok := diskSpace(s.f); ok && free < spoolReserve(total)+spoolCheckEvery {
			s.err = errSpoolFull
			return len(p), nil
		}
	}
	_, s.err = s.w.Write(p)
	return len(p), nil
}

// finish flushes the spool and hands over its file, or reports why it failed. A spool
// stopped for lack of space is no error: it returns no file, and the layer's content
// is read from its blob.
func (s *spoolWriter) finish() (*os.File, error) {
	if s.err == nil {
		s.err = s.w.Flush()
	}
	if s.err != nil {
		s.f.Close()
		if errors.Is(s.err, errSpoolFull) {
			return nil, nil
		}
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

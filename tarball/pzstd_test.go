package tarball

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

func parallelZstdBytes(t *testing.T, data []byte, frame, workers int) []byte {
	t.Helper()
	var buf bytes.Buffer
	z, err := newParallelZstd(&buf, zstd.SpeedDefault, frame, workers)
	if err != nil {
		t.Fatal(err)
	}
	// Odd-sized writes, so frames fill across Write calls.
	for p := data; len(p) > 0; {
		k := min(len(p), 777)
		if _, err := z.Write(p[:k]); err != nil {
			t.Fatal(err)
		}
		p = p[k:]
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestParallelZstd checks that the frames decode, by klauspost and by the zstd
// tool, to the input; that they do not depend on the number of workers; and that
// the stream has as many frames as its length says.
func TestParallelZstd(t *testing.T) {
	const frame = 64 << 10
	for _, n := range []int{0, 1, frame - 1, frame, frame + 1, 5*frame + 123, 8 * frame} {
		data := testData(n)
		one := parallelZstdBytes(t, data, frame, 1)
		for _, w := range []int{2, 3, 8} {
			if got := parallelZstdBytes(t, data, frame, w); !bytes.Equal(got, one) {
				t.Fatalf("%d bytes: output with %d workers differs from 1 worker", n, w)
			}
		}
		if got := decompress(t, Zstd, one); !bytes.Equal(got, data) {
			t.Fatalf("%d bytes: round trip gave %d bytes", n, len(got))
		}
		frames := countZstdFrames(t, one)
		want := max(1, (n+frame-1)/frame)
		if frames != want {
			t.Errorf("%d bytes: %d frames, want %d", n, frames, want)
		}
		zstdCLI := "zstd"
		if _, err := exec.LookPath(zstdCLI); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("zstd tool missing under CI: %v", err)
			}
			continue
		}
		f := filepath.Join(t.TempDir(), "s.zst")
		if err := os.WriteFile(f, one, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(zstdCLI, "-d", "-c", "-q", f).Output()
		if err != nil || !bytes.Equal(out, data) {
			t.Errorf("%d bytes: zstd -d gave %d bytes, %v", n, len(out), err)
		}
	}
}

// countZstdFrames walks the frames of a stream by their headers and block headers.
func countZstdFrames(t *testing.T, b []byte) int {
	t.Helper()
	frames := 0
	for len(b) > 0 {
		var h zstd.Header
		if err := h.Decode(b); err != nil {
			t.Fatalf("frame %d: %v", frames, err)
		}
		b = b[h.HeaderSize:]
		for {
			if len(b) < 3 {
				t.Fatalf("frame %d: truncated block header", frames)
			}
			bh := uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16
			last, typ, size := bh&1 == 1, (bh>>1)&3, int(bh>>3)
			if typ == 1 { // RLE: one byte stored
				size = 1
			}
			b = b[3+size:]
			if last {
				break
			}
		}
		if h.HasCheckSum {
			b = b[4:]
		}
		frames++
	}
	return frames
}

func TestParallelZstdWriteError(t *testing.T) {
	z, err := newParallelZstd(&failWriter{after: 10}, zstd.SpeedDefault, 4<<10, 2)
	if err != nil {
		t.Fatal(err)
	}
	data := testData(64 << 10)
	_, werr := z.Write(data)
	cerr := z.Close()
	if werr == nil && cerr == nil {
		t.Fatal("a failing destination went unnoticed")
	}
	if err := errors.Join(werr, cerr); !strings.Contains(err.Error(), "disk full") {
		t.Errorf("error %v does not carry the destination's", err)
	}
}

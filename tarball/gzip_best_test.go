package tarball

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/flate"

	"github.com/slim-dev/slim/internal/deflate"
	"github.com/slim-dev/slim/internal/testimage"
)

// TestGzipBestReadByZlib has zlib's own gzip check and decode what the near-optimal
// best level writes, across block sizes that put segment boundaries everywhere,
// including an empty last block.
func TestGzipBestReadByZlib(t *testing.T) {
	gz := testimage.NeedTool(t, "gzip")
	// Small enough for -race: the near-optimal parser is slow under it.
	data := testData(1<<20 + 4321)
	for _, block := range []int{4 << 10, 64 << 10, 1<<20 + 4321} {
		t.Run(fmt.Sprint(block), func(t *testing.T) {
			blob := compress(t, data, WithCompression(Gzip), WithLevel(LevelBest), func(o *options) { o.gzipBlock = block })
			f := filepath.Join(t.TempDir(), "layer.gz")
			if err := os.WriteFile(f, blob, 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(gz, "-t", f).CombinedOutput(); err != nil {
				t.Fatalf("gzip -t: %v: %s", err, out)
			}
			out, err := exec.Command(gz, "-d", "-c", f).Output()
			if err != nil {
				t.Fatalf("gzip -dc: %v", err)
			}
			if !bytes.Equal(out, data) {
				t.Fatalf("gzip -dc gave %d bytes, want the original %d", len(out), len(data))
			}
		})
	}
}

// TestGzipBestSmallerThanLevel9 guards the reason the best level has its own encoder,
// and that level 9 keeps klauspost's (its digests are pinned elsewhere). The input is
// the test binary: real machine code and tables, what layers mostly hold. (testData,
// mostly random bytes, would measure stored-block bookkeeping instead.)
func TestGzipBestSmallerThanLevel9(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	data = data[:min(len(data), 1<<20)]
	best := compress(t, data, WithCompression(Gzip), WithLevel(LevelBest))
	nine := compress(t, data, WithCompression(Gzip), WithLevel(9))
	if len(best) >= len(nine) {
		t.Errorf("gzip best is %d bytes, level 9 %d: best should be smaller", len(best), len(nine))
	}
	if best[8] != 2 || nine[8] != 2 {
		t.Errorf("XFL = %d (best), %d (9); want 2, the slowest-compression flag", best[8], nine[8])
	}
}

// TestMeasureGzipBest reports size and time of the best level on real files named in
// SLIM_GZIP_MEASURE (colon-separated), next to `gzip -9`'s size when gzip is
// installed. It is a measurement, not a check, so it only runs when asked.
func TestMeasureGzipBest(t *testing.T) {
	env := os.Getenv("SLIM_GZIP_MEASURE")
	if env == "" {
		t.Skip("a measurement, not a check: never run in CI or -short; set SLIM_GZIP_MEASURE=file[:file...] to measure")
	}
	for _, p := range strings.Split(env, ":") {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		var n countWriter
		start := time.Now()
		w, err := NewCompressWriter(&n, WithCompression(Gzip), WithLevel(LevelBest))
		if err != nil {
			t.Fatal(err)
		}
		in, err := io.Copy(w, f)
		if err == nil {
			err = w.Close()
		}
		f.Close()
		if err != nil {
			t.Fatalf("compressing %s: %v", p, err)
		}
		elapsed := time.Since(start)
		msg := fmt.Sprintf("%s: %d -> %d bytes in %.2fs (%.2f MB/s)", p, in, n, elapsed.Seconds(), float64(in)/1e6/elapsed.Seconds())
		if ref := os.Getenv("SLIM_GZIP_MEASURE_REF"); ref != "" {
			var size int64
			fmt.Sscan(ref, &size)
			msg += fmt.Sprintf(", %.4f x reference %d", float64(n)/float64(size), size)
		}
		t.Log(msg)
	}
}

// TestGzipBestPerBlock pins the best level's choice per block: a text block is
// klauspost's level 9, anything else internal/deflate's parser, each primed with the
// previous block's tail, so the stream is exactly the two encoders' pieces joined.
// Without the choice (the parser everywhere) the text block's bytes differ.
func TestGzipBestPerBlock(t *testing.T) {
	const block = 64 << 10
	var text bytes.Buffer
	for i := 0; text.Len() < block; i++ {
		fmt.Fprintf(&text, "module.exports.f%d = function (a, b) { return a + b * %d; };\n", i, i%97)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	// The binary block is short, so that it is the last and carries the final bit.
	data := append(text.Bytes()[:block:block], bin[:block-1000]...)
	if !isText(data[:block]) || isText(data[block:]) {
		t.Fatal("the inputs are not one text and one binary block")
	}
	got := compress(t, data, WithCompression(Gzip), WithLevel(LevelBest), func(o *options) { o.gzipBlock = block })

	var l9 bytes.Buffer
	fw, err := flate.NewWriter(&l9, flate.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fw.Write(data[:block]); err != nil {
		t.Fatal(err)
	}
	if err := fw.Flush(); err != nil {
		t.Fatal(err)
	}
	want := append(gzipHeader(gzipOptimal), l9.Bytes()...)
	want = deflate.Compress(want, data[block:], data[block-dictSize:block], true)
	want = binary.LittleEndian.AppendUint32(want, crc32.ChecksumIEEE(data))
	want = binary.LittleEndian.AppendUint32(want, uint32(len(data)))
	if !bytes.Equal(got, want) {
		t.Fatalf("gzip best wrote %d bytes; level 9 for the text block and the parser for the binary one make %d", len(got), len(want))
	}
	if !bytes.Equal(decompress(t, Gzip, got), data) {
		t.Fatal("the stream does not decode to its input")
	}
}

func TestIsText(t *testing.T) {
	line := "const x = require('y'); // comment\n"
	for _, tc := range []struct {
		name string
		in   []byte
		want bool
	}{
		{"source", []byte(strings.Repeat(line, 100)), true},
		{"tar of text: headers and NUL padding", append(append(make([]byte, 512), strings.Repeat(line, 10)...), make([]byte, 1000)...), true},
		{"all NUL", make([]byte, 4096), false},
		{"empty", nil, false},
		{"4% control bytes", append([]byte(strings.Repeat("a", 96)), 1, 2, 3, 4), true},
		{"6% control bytes", append([]byte(strings.Repeat("a", 94)), 1, 2, 3, 4, 5, 6), false},
		{"UTF-8 beyond ASCII", []byte(strings.Repeat("漢字かな\n", 100)), false},
		{"ELF header", []byte("\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x3e\x00"), false},
	} {
		if got := isText(tc.in); got != tc.want {
			t.Errorf("%s: isText = %v, want %v", tc.name, got, tc.want)
		}
	}
}

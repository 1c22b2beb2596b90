package imagefs

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"
)

func gunzipAll(open func(*bufio.Reader) (io.ReadCloser, error), data []byte) ([]byte, error) {
	zr, err := open(bufio.NewReaderSize(bytes.NewReader(data), 64))
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	return io.ReadAll(zr)
}

// sameGunzip checks gzipNoCRC against gzip.Reader: same bytes, same
// failures, except that a CRC mismatch only gzip.Reader sees.
func sameGunzip(t testing.TB, data []byte) {
	t.Helper()
	want, werr := gunzipAll(func(r *bufio.Reader) (io.ReadCloser, error) { return gzip.NewReader(r) }, data)
	got, gerr := gunzipAll(func(r *bufio.Reader) (io.ReadCloser, error) { return newGzipNoCRC(r) }, data)
	if errors.Is(werr, gzip.ErrChecksum) {
		// gzip.Reader stopped at a trailer gzipNoCRC may have accepted.
		if !bytes.HasPrefix(got, want) {
			t.Fatalf("after a checksum error: %d bytes not starting with gzip.Reader's %d", len(got), len(want))
		}
		return
	}
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("error %v, gzip.Reader %v", gerr, werr)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%d bytes differ from gzip.Reader's %d", len(got), len(want))
	}
}

func gzipSeeds(t testing.TB) [][]byte {
	t.Helper()
	member := func(body []byte, hdr gzip.Header) []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Header = hdr
		zw.Write(body)
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	body := bytes.Repeat([]byte("tar blocks and file content "), 5000)
	plain := member(body, gzip.Header{})
	named := member(body[:1000], gzip.Header{Name: "layer.tar", Comment: "é comment", Extra: []byte("xtra"), ModTime: time.Unix(1700000000, 0)})
	empty := member(nil, gzip.Header{})

	// FHCRC is not written by gzip.Writer: by hand, with a name.
	var hc bytes.Buffer
	hc.Write([]byte{0x1f, 0x8b, 8, gzipFlagHdrCrc | gzipFlagName, 0, 0, 0, 0, 0, 3})
	hc.WriteString("hcrc\x00")
	binary.Write(&hc, binary.LittleEndian, uint16(crc32.ChecksumIEEE(hc.Bytes())))
	fw, _ := flate.NewWriter(&hc, 6)
	fw.Write(body[:3000])
	fw.Close()
	binary.Write(&hc, binary.LittleEndian, crc32.ChecksumIEEE(body[:3000]))
	binary.Write(&hc, binary.LittleEndian, uint32(3000))

	badCRC := bytes.Clone(plain)
	badCRC[len(badCRC)-8] ^= 1
	badSize := bytes.Clone(plain)
	badSize[len(badSize)-4] ^= 1
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	return [][]byte{
		nil, plain, named, empty, hc.Bytes(), badCRC, badSize,
		cat(plain, named, empty, hc.Bytes()),
		cat(badCRC, plain),
		cat(plain, []byte("trailing garbage")),
		cat(plain, []byte{0x1f}),
		cat(named, make([]byte, 10)),
	}
}

func TestGzipNoCRCMatchesGzipReader(t *testing.T) {
	seeds := gzipSeeds(t)
	for _, i := range []int{1, 2, 3, 4, 7} { // the well-formed ones
		if _, err := gunzipAll(func(r *bufio.Reader) (io.ReadCloser, error) { return newGzipNoCRC(r) }, seeds[i]); err != nil {
			t.Fatalf("seed %d: %v", i, err)
		}
	}
	for i, data := range seeds {
		sameGunzip(t, data)
		for n := 0; n < len(data); n += 1 + n/8 {
			sameGunzip(t, data[:n])
		}
		c := bytes.Clone(data)
		for j := range min(len(c), 64) {
			c[j] ^= 0x55
			sameGunzip(t, c)
			c[j] ^= 0x55
		}
		if t.Failed() {
			t.Fatalf("seed %d", i)
		}
	}
}

func FuzzGzipNoCRC(f *testing.F) {
	for _, data := range gzipSeeds(f) {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sameGunzip(t, data)
	})
}

// BenchmarkGunzipCached decompresses the cached bench image's blobs with
// gzip.Reader and with gzipNoCRC: the difference is the CRC-32 the
// indexing pass leaves out.
func BenchmarkGunzipCached(b *testing.B) {
	blobs, _ := filepath.Glob("../../.cache/bench/index-256-100000/layer*.tar.gz")
	if len(blobs) == 0 {
		b.Skip("no cached bench image")
	}
	var data [][]byte
	var total int64
	for _, f := range blobs {
		d, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		data = append(data, d)
		total += int64(len(d))
	}
	for _, tc := range []struct {
		name string
		open func(*bufio.Reader) (io.ReadCloser, error)
	}{
		{"gzip.Reader", func(r *bufio.Reader) (io.ReadCloser, error) { return gzip.NewReader(r) }},
		{"gzipNoCRC", func(r *bufio.Reader) (io.ReadCloser, error) { return newGzipNoCRC(r) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(total)
			buf := make([]byte, scanBufSize)
			cpu0 := processCPU()
			for b.Loop() {
				for _, d := range data {
					zr, err := tc.open(bufio.NewReaderSize(bytes.NewReader(d), blobBufSize))
					if err != nil {
						b.Fatal(err)
					}
					for {
						_, err := zr.Read(buf)
						if errors.Is(err, io.EOF) {
							break
						}
						if err != nil {
							b.Fatal(err)
						}
					}
				}
			}
			b.ReportMetric(float64((processCPU()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}

// processCPU is user+system time: on a shared machine the steady figure.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

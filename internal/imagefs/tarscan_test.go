package imagefs

import (
	"archive/tar"
	"bytes"
	"compress/bzip2"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// chunkReader hands out data in reads of varying sizes, the last one with
// io.EOF attached, so the scanner meets blocks split across reads.
type chunkReader struct {
	data  []byte
	sizes []int
	i     int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := len(c.data)
	if len(c.sizes) > 0 {
		n = min(n, c.sizes[c.i%len(c.sizes)])
		c.i++
	}
	n = copy(p, c.data[:n])
	c.data = c.data[n:]
	if len(c.data) == 0 {
		return n, io.EOF
	}
	return n, nil
}

// countingReader is how readTar found content offsets before the scanner:
// after tar.Reader.Next returns, it is the offset of the entry's content,
// because tar.Reader reads exactly the header blocks it needs and, since
// this reader is no io.Seeker, skips content by reading it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

type scanStep struct {
	hdr *tar.Header
	off int64
	err error
}

// scanWithTar is what readTar did before the scanner: tar.Reader over a
// reader that is no io.Seeker, the offset counted under it.
func scanWithTar(data []byte) (steps []scanStep, total int64) {
	cr := &countingReader{r: bytes.NewReader(data)}
	tr := tar.NewReader(cr)
	for {
		h, err := tr.Next()
		if err != nil {
			steps = append(steps, scanStep{err: err})
			if err == io.EOF {
				io.Copy(io.Discard, cr)
				return steps, cr.n
			}
			return steps, -1
		}
		steps = append(steps, scanStep{hdr: h, off: cr.n})
	}
}

func scanWithScanner(r io.Reader, bufSize int) (steps []scanStep, total int64) {
	s := newTarScanner(r, bufSize)
	for {
		h, off, err := s.Next()
		if err != nil {
			steps = append(steps, scanStep{err: err})
			if err == io.EOF {
				n, err := s.finish()
				if err != nil {
					return steps, -2
				}
				return steps, n
			}
			return steps, -1
		}
		c := *h // valid until the next call
		steps = append(steps, scanStep{hdr: &c, off: off})
	}
}

// sameScan checks that the scanner reports what tar.Reader does on data,
// whatever the read sizes and buffer size.
func sameScan(t testing.TB, data []byte) {
	t.Helper()
	want, wantTotal := scanWithTar(data)
	readers := []struct {
		name    string
		r       io.Reader
		bufSize int
	}{
		// Not scanBufSize: allocating it dominates thousands of short runs.
		{"whole", bytes.NewReader(data), 16 << 10},
		{"chunks", &chunkReader{data: data, sizes: []int{1, 700, 513, 4096, 31, 100000}}, scanBufSize},
		{"smallbuf", &chunkReader{data: data, sizes: []int{3000, 17, 512}}, 1024},
		{"blockbuf", &chunkReader{data: data, sizes: []int{511, 1}}, blockSize},
	}
	for _, rd := range readers {
		got, gotTotal := scanWithScanner(rd.r, rd.bufSize)
		if err := diffSteps(want, got); err != nil {
			t.Fatalf("%s: %v", rd.name, err)
		}
		if gotTotal != wantTotal {
			t.Fatalf("%s: stream length %d, tar.Reader %d", rd.name, gotTotal, wantTotal)
		}
	}
}

func diffSteps(want, got []scanStep) error {
	for i := range max(len(want), len(got)) {
		if i >= len(want) || i >= len(got) {
			return fmt.Errorf("%d steps, tar.Reader %d", len(got), len(want))
		}
		w, g := want[i], got[i]
		if (w.err == nil) != (g.err == nil) || (w.err == io.EOF) != (g.err == io.EOF) {
			return fmt.Errorf("entry %d: error %v, tar.Reader %v", i, g.err, w.err)
		}
		if w.err != nil {
			continue
		}
		wh, gh := *w.hdr, *g.hdr
		if wh.Typeflag == tar.TypeXGlobalHeader && wh.PAXRecords == nil {
			// tar.Reader ignores a failed merge of global records, and
			// what it had set by then depends on map order.
			wh.Name, gh.Name = "", ""
			wh.Xattrs, gh.Xattrs = nil, nil
		}
		if !reflect.DeepEqual(wh, gh) {
			return fmt.Errorf("entry %d:\n got %+v\nwant %+v", i, gh, wh)
		}
		if w.off != g.off {
			return fmt.Errorf("entry %d (%q): offset %d, tar.Reader %d", i, wh.Name, g.off, w.off)
		}
	}
	return nil
}

// writeTar builds an archive with tar.Writer; bodies are generated from
// Size.
func writeTar(t testing.TB, hdrs ...*tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hdrs {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatalf("writing %q: %v", h.Name, err)
		}
		if h.Typeflag == tar.TypeReg && h.Size > 0 {
			if _, err := tw.Write(bytes.Repeat([]byte{'x'}, int(h.Size))); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// setChecksum rewrites the checksum of the header block at off, signed
// (bytes as int8, as some old tars did) or not.
func setChecksum(b []byte, off int, signed bool) {
	blk := b[off : off+blockSize]
	copy(blk[148:156], "        ")
	var sum int64
	for _, c := range blk {
		if signed {
			sum += int64(int8(c))
		} else {
			sum += int64(c)
		}
	}
	copy(blk[148:156], fmt.Sprintf("%06o\x00 ", sum&0o777777))
}

// tarSeeds are archives in every format tar.Writer writes, plus hand-made
// oddities, plus GNU tar's sparse formats when tar is installed.
func tarSeeds(t testing.TB) map[string][]byte {
	t.Helper()
	mt := time.Unix(1700000000, 0)
	seeds := map[string][]byte{}
	for _, f := range []tar.Format{tar.FormatUnknown, tar.FormatUSTAR, tar.FormatPAX, tar.FormatGNU} {
		hdrs := []*tar.Header{
			{Typeflag: tar.TypeDir, Name: "usr/", Mode: 0o755, ModTime: mt, Uname: "root", Gname: "root"},
			{Typeflag: tar.TypeReg, Name: "usr/empty", Mode: 0o644, ModTime: mt},
			{Typeflag: tar.TypeReg, Name: "usr/one", Size: 1, Mode: 0o644, ModTime: mt, Uid: 1000, Gid: 1000, Uname: "user", Gname: "user"},
			{Typeflag: tar.TypeReg, Name: "usr/block", Size: 512, Mode: 0o600, ModTime: mt},
			{Typeflag: tar.TypeReg, Name: "usr/more", Size: 3000, Mode: 0o4755, ModTime: mt},
			{Typeflag: tar.TypeSymlink, Name: "usr/link", Linkname: "more", ModTime: mt},
			{Typeflag: tar.TypeLink, Name: "usr/hard", Linkname: "usr/more", ModTime: mt},
			{Typeflag: tar.TypeChar, Name: "dev/null", Devmajor: 1, Devminor: 3, Mode: 0o666, ModTime: mt},
			{Typeflag: tar.TypeBlock, Name: "dev/sda", Devmajor: 8, Devminor: 0, ModTime: mt},
			{Typeflag: tar.TypeFifo, Name: "run/fifo", ModTime: mt},
			{Typeflag: tar.TypeReg, Name: strings.Repeat("p", 120) + "/" + strings.Repeat("n", 90), Size: 5, ModTime: mt},
		}
		if f != tar.FormatUSTAR {
			hdrs = append(hdrs,
				&tar.Header{Typeflag: tar.TypeReg, Name: strings.Repeat("long/", 70) + "name", Size: 10, ModTime: mt},
				&tar.Header{Typeflag: tar.TypeSymlink, Name: "usr/longlink", Linkname: strings.Repeat("t", 300), ModTime: mt},
				&tar.Header{Typeflag: tar.TypeReg, Name: "usr/bigid", Uid: 1 << 30, Gid: 1<<21 + 5, ModTime: mt},
				&tar.Header{Typeflag: tar.TypeReg, Name: "usr/old", ModTime: time.Unix(-100, 0)},
				&tar.Header{Typeflag: tar.TypeReg, Name: "usr/future", ModTime: time.Unix(1<<34, 0)},
			)
		}
		if f != tar.FormatUSTAR && f != tar.FormatGNU {
			hdrs = append(hdrs,
				&tar.Header{Typeflag: tar.TypeReg, Name: "usr/ü-nicode", Size: 2, ModTime: mt},
				&tar.Header{Typeflag: tar.TypeReg, Name: "usr/xattr", Size: 7, ModTime: time.Unix(1700000000, 123456789),
					AccessTime: time.Unix(1700000001, 5e8), ChangeTime: time.Unix(1700000002, 1),
					PAXRecords: map[string]string{
						"SCHILY.xattr.user.mime":           "text/plain",
						"SCHILY.xattr.security.capability": "\x01\x00\x00\x02",
						"LIBARCHIVE.creationtime":          "1700000000",
						"comment":                          "kept in PAXRecords",
					}},
			)
		}
		if f == tar.FormatGNU || f == tar.FormatUnknown {
			hdrs = append(hdrs, &tar.Header{Typeflag: tar.TypeReg, Name: "usr/times", ModTime: mt,
				AccessTime: time.Unix(1600000000, 0), ChangeTime: time.Unix(1600000001, 0), Format: tar.FormatGNU})
		}
		for _, h := range hdrs {
			if h.Format == 0 {
				h.Format = f
			}
		}
		seeds[fmt.Sprintf("writer-%v", f)] = writeTar(t, hdrs...)
	}
	seeds["global"] = writeTar(t,
		&tar.Header{Typeflag: tar.TypeXGlobalHeader, Name: "global", PAXRecords: map[string]string{"comment": "g", "path": "ignored", "SCHILY.xattr.user.a": "b"}},
		&tar.Header{Typeflag: tar.TypeReg, Name: "after-global", Size: 3, ModTime: mt},
	)
	seeds["gnu-bigid"] = writeTar(t, &tar.Header{Typeflag: tar.TypeReg, Name: "big", Uid: 1 << 40, Gid: -5, Mode: 0o644, ModTime: mt, Format: tar.FormatGNU})
	seeds["empty"] = nil
	seeds["zeros-one"] = make([]byte, blockSize)
	seeds["zeros-one-half"] = make([]byte, blockSize+100)

	// A base-256 size far beyond the stream: both must fail skipping it.
	big := writeTar(t, &tar.Header{Typeflag: tar.TypeReg, Name: "huge", ModTime: mt, Format: tar.FormatGNU})
	copy(big[124:136], "\x80\x00\x00\x00\x00\x00\x00\x04\x00\x00\x00\x00")
	setChecksum(big, 0, false)
	seeds["base256-size"] = big

	// Old-style archives: V7 (no magic), a regular file as '\x00' with a
	// trailing slash (a directory), a signed checksum over high bytes.
	v7 := writeTar(t, &tar.Header{Typeflag: tar.TypeReg, Name: "v7dirX", ModTime: mt, Format: tar.FormatUSTAR},
		&tar.Header{Typeflag: tar.TypeReg, Name: "v7file", Size: 20, ModTime: mt, Format: tar.FormatUSTAR})
	for _, off := range []int{0, 1024} {
		clear(v7[off+257 : off+500])
		v7[5] = '/' // tar.Writer refuses a trailing slash on a regular file
		v7[off+156] = 0
		setChecksum(v7, off, false)
	}
	seeds["v7"] = v7
	signed := writeTar(t, &tar.Header{Typeflag: tar.TypeReg, Name: "name", Size: 4, ModTime: mt, Format: tar.FormatUSTAR})
	copy(signed[0:], "n\xe9\xff\x80")
	setChecksum(signed, 0, true)
	seeds["signed-checksum"] = signed
	nonASCII := bytes.Clone(signed)
	setChecksum(nonASCII, 0, false)
	seeds["unsigned-nonascii"] = nonASCII

	if _, err := exec.LookPath("tar"); err == nil {
		for name, data := range gnuTarSeeds(t) {
			seeds[name] = data
		}
	}
	return seeds
}

// gnuTarSeeds has GNU tar write a sparse file, long names and such in its
// formats, the sparse ones in each PAX sparse version.
func gnuTarSeeds(t testing.TB) map[string][]byte {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	long := filepath.Join(src, strings.Repeat("d", 60), strings.Repeat("e", 60), strings.Repeat("f", 60))
	if err := os.MkdirAll(long, 0o755); err != nil {
		t.Fatal(err)
	}
	sp, err := os.Create(filepath.Join(src, "sparse"))
	if err != nil {
		t.Fatal(err)
	}
	sp.WriteAt(bytes.Repeat([]byte("data"), 300), 0)
	sp.WriteAt(bytes.Repeat([]byte("more"), 2000), 300000)
	sp.WriteAt([]byte("end"), 1<<20)
	sp.Truncate(2 << 20)
	sp.Close()
	os.WriteFile(filepath.Join(long, strings.Repeat("g", 120)), []byte("deep"), 0o644)
	os.Symlink(strings.Repeat("../", 40)+"sparse", filepath.Join(long, "link"))
	os.Link(filepath.Join(src, "sparse"), filepath.Join(src, "hardlink"))

	seeds := map[string][]byte{}
	for name, args := range map[string][]string{
		"gnutar-gnu":       {"--format=gnu", "-S"},
		"gnutar-oldgnu":    {"--format=oldgnu", "-S"},
		"gnutar-pax-0.0":   {"--format=pax", "-S", "--sparse-version=0.0"},
		"gnutar-pax-0.1":   {"--format=pax", "-S", "--sparse-version=0.1"},
		"gnutar-pax-1.0":   {"--format=pax", "-S", "--sparse-version=1.0"},
		"gnutar-ustar":     {"--format=ustar"},
		"gnutar-v7":        {"--format=v7"},
		"gnutar-pax-plain": {"--format=pax", "--pax-option=exthdr.name=%d/PaxHeaders/%f,atime:=0"},
	} {
		out := filepath.Join(dir, name+".tar")
		cmd := exec.Command("tar", append(append([]string{"-cf", out}, args...), "-C", src, ".")...)
		if b, err := cmd.CombinedOutput(); err != nil {
			// ustar and v7 cannot hold the long names: what they wrote is
			// still a seed.
			t.Logf("tar %s: %v: %s", name, err, b)
		}
		if b, err := os.ReadFile(out); err == nil && len(b) > 0 {
			seeds[name] = b
		}
	}
	return seeds
}

// goTarSeeds are archive/tar's own test archives, odd ones included.
func goTarSeeds(t testing.TB) map[string][]byte {
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Logf("no GOROOT: %v", err)
		return nil
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "src", "archive", "tar", "testdata")
	files, _ := filepath.Glob(filepath.Join(dir, "*.tar*"))
	seeds := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.HasSuffix(f, ".base64"):
			if b, err = base64.StdEncoding.DecodeString(string(b)); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
		case strings.HasSuffix(f, ".bz2"):
			if b, err = io.ReadAll(io.LimitReader(bzip2.NewReader(bytes.NewReader(b)), 64<<20)); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
		}
		seeds["go-"+filepath.Base(f)] = b
	}
	return seeds
}

func TestTarScanMatchesArchiveTar(t *testing.T) {
	seeds := tarSeeds(t)
	for name, data := range goTarSeeds(t) {
		seeds[name] = data
	}
	for name, data := range seeds {
		t.Run(name, func(t *testing.T) {
			sameScan(t, data)
			got, _ := scanWithScanner(bytes.NewReader(data), scanBufSize)
			if want, _ := scanWithTar(data); diffSteps(want, got) != nil {
				t.Fatalf("with the full buffer: %v", diffSteps(want, got))
			}
			if len(data) > 1<<20 {
				return
			}
			// Cut short anywhere, and at and around every block boundary.
			for n := 0; n < len(data); n += 97 {
				sameScan(t, data[:n])
			}
			for n := blockSize; n < len(data); n += blockSize {
				sameScan(t, data[:n-1])
				sameScan(t, data[:n])
				sameScan(t, data[:n+1])
			}
			// Damage the first blocks byte by byte, with values that end,
			// extend or break fields in turn.
			c := bytes.Clone(data)
			vals := []byte{0, '7', 0xff, ' ', '\n', '9', 0x80}
			for i := range min(len(c), 3*blockSize) {
				old := c[i]
				c[i] = vals[i%len(vals)]
				sameScan(t, c)
				c[i] = old
			}
		})
	}
}

func TestTarScanReadError(t *testing.T) {
	errBoom := errors.New("boom")
	data := writeTar(t, &tar.Header{Typeflag: tar.TypeReg, Name: "a", Size: 100000},
		&tar.Header{Typeflag: tar.TypeReg, Name: "b", Size: 10})
	for _, cut := range []int{0, 100, 512, 50000, len(data) - 1024} {
		s := newTarScanner(io.MultiReader(bytes.NewReader(data[:cut]), iotestErr{errBoom}), 4096)
		var err error
		for err == nil {
			_, _, err = s.Next()
		}
		if !errors.Is(err, errBoom) {
			t.Errorf("cut at %d: %v, want %v", cut, err, errBoom)
		}
	}
}

type iotestErr struct{ err error }

func (e iotestErr) Read([]byte) (int, error) { return 0, e.err }

func FuzzTarScan(f *testing.F) {
	for _, data := range tarSeeds(f) {
		if len(data) > 256<<10 {
			continue
		}
		f.Add(data)
		if len(data) > 2*blockSize {
			f.Add(data[:len(data)/2])
			f.Add(data[:blockSize+blockSize/2])
			c := bytes.Clone(data)
			c[blockSize+124] ^= 0x80 // a second header or content, mangled
			f.Add(c)
		}
	}
	for name, data := range goTarSeeds(f) {
		if len(data) <= 256<<10 && !strings.Contains(name, "many-zeros") {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sameScan(t, data)
	})
}

// BenchmarkTarScan walks the headers of an uncompressed layer of 20,000
// small files (the bench image's shape) with tar.Reader, as readTar did,
// and with the scanner: the parsing and skipping cost without inflate.
func BenchmarkTarScan(b *testing.B) {
	var hdrs []*tar.Header
	for i := range 20000 {
		hdrs = append(hdrs, &tar.Header{Typeflag: tar.TypeReg, Name: fmt.Sprintf("usr/share/l0/d%03d/f%06d", i%500, i),
			Size: 2600, Mode: 0o644, Uname: "root", Gname: "root", ModTime: time.Unix(1700000000, 0)})
	}
	data := writeTar(b, hdrs...)
	b.Run("tar.Reader", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			cr := &countingReader{r: bytes.NewReader(data)}
			tr := tar.NewReader(cr)
			for {
				if _, err := tr.Next(); err != nil {
					break
				}
			}
		}
	})
	b.Run("tarScanner", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			s := newTarScanner(bytes.NewReader(data), scanBufSize)
			for {
				if _, _, err := s.Next(); err != nil {
					break
				}
			}
		}
	})
}

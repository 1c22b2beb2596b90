package deflate

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
)

// inflate decompresses a raw deflate stream with the standard library, the reference
// decoder here: it refuses malformed headers and incomplete codes.
func inflate(t testing.TB, stream []byte) []byte {
	t.Helper()
	got, err := io.ReadAll(flate.NewReader(bytes.NewReader(stream)))
	if err != nil {
		t.Fatalf("inflating %d bytes: %v", len(stream), err)
	}
	return got
}

func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// textLike is pseudo-English: words from a small vocabulary, so it has the literal
// skew and the medium-length repeats of real text.
func textLike(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 2))
	words := strings.Fields("the of and to in is that for it as was with be by on not he this are or his from at which but have an they you were her she there been one all we their has would when if so no will can more about out do up what some into than them only could new its time very also like other any")
	var b bytes.Buffer
	for b.Len() < n {
		b.WriteString(words[r.IntN(len(words))])
		if r.IntN(12) == 0 {
			b.WriteString(".\n")
		} else {
			b.WriteByte(' ')
		}
	}
	return b.Bytes()[:n]
}

// elfLike mimics machine code and tables: little-endian words with small values,
// opcodes drawn from a skewed set, runs of zeros and repeated instruction sequences.
func elfLike(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 3))
	ops := []byte{0x48, 0x89, 0x8b, 0xe8, 0xc3, 0x0f, 0x85, 0x84, 0x31, 0xc0, 0xff, 0x83}
	b := make([]byte, 0, n+64)
	for len(b) < n {
		switch r.IntN(6) {
		case 0:
			b = binary.LittleEndian.AppendUint32(b, uint32(r.IntN(4096)))
		case 1:
			b = append(b, make([]byte, r.IntN(40))...)
		case 2:
			if len(b) > 100 {
				start := r.IntN(len(b) - 50)
				b = append(b, b[start:start+r.IntN(50)]...)
			}
		default:
			for range r.IntN(16) {
				b = append(b, ops[r.IntN(len(ops))])
			}
		}
	}
	return b[:n]
}

// moduleLike mimics a node_modules tree: small CommonJS modules of templated functions
// with header-padded boundaries, so most positions lie inside long matches (longer than
// niceLen) that end where a fresh identifier starts. That is the input on which the
// match finder's insertions dominate the encoder's time.
func moduleLike(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 4))
	words := strings.Fields("value options index result buffer stream path config parse format string object array number callback error module exports require default")
	w := func() string { return words[r.IntN(len(words))] }
	var b bytes.Buffer
	for b.Len() < n {
		// A tar header's worth of zeros and a name between files.
		b.Write(make([]byte, 100+r.IntN(300)))
		fmt.Fprintf(&b, "lib/%s%d.js", w(), r.IntN(100))
		b.WriteString("'use strict';\n\nObject.defineProperty(exports, '__esModule', { value: true });\n\n")
		for range 1 + r.IntN(12) {
			fn := w() + fmt.Sprint(r.IntN(100))
			fmt.Fprintf(&b, "function %s(%s, options) {\n  if (%s == null) {\n    throw new TypeError('%s: expected a %s');\n  }\n  const %s = options && options.%s !== undefined ? options.%s : %d;\n  return %s.%s(%s);\n}\nexports.%s = %s;\n\n",
				fn, w(), w(), fn, w(), w(), w(), w(), r.IntN(1000), w(), w(), w(), fn, fn)
		}
	}
	return b.Bytes()[:n]
}

func roundTripInputs() map[string][]byte {
	long := bytes.Repeat([]byte("abcdefghij"), 10000)
	farRepeat := append(randomBytes(7, 32768), randomBytes(7, 32768)...) // distance exactly 32768
	justInside := append(randomBytes(8, 32767), randomBytes(8, 1000)...) // distance 32767
	m := map[string][]byte{
		"empty":          {},
		"one byte":       {'x'},
		"two bytes":      {'x', 'y'},
		"four same":      {0, 0, 0, 0},
		"zeros 1M":       make([]byte, 1<<20),
		"random 100K":    randomBytes(1, 100000),
		"random 70000":   randomBytes(2, 70000), // more than one stored block
		"text 300K":      textLike(1, 300000),
		"elf 400K":       elfLike(1, 400000),
		"modules 400K":   moduleLike(1, 400000),
		"repeats":        long,
		"len 258":        bytes.Repeat([]byte{'a'}, 259),
		"len 259":        append([]byte("q"), bytes.Repeat([]byte("z"), 259)...),
		"len 261":        append(randomBytes(3, 10), bytes.Repeat(randomBytes(3, 10), 27)...),
		"distance 32768": farRepeat,
		"distance 32767": justInside,
		"mixed":          append(append(textLike(4, 50000), randomBytes(4, 50000)...), elfLike(4, 50000)...),
	}
	for _, n := range []int{3, 5, 257, 258, 259, 260, 515, 516, 517} {
		m[fmt.Sprintf("period-3 %d", n)] = bytes.Repeat([]byte("abc"), n)[:n]
	}
	return m
}

func TestRoundTrip(t *testing.T) {
	for name, in := range roundTripInputs() {
		t.Run(name, func(t *testing.T) {
			out := Compress(nil, in, nil, true)
			if got := inflate(t, out); !bytes.Equal(got, in) {
				t.Fatalf("round trip of %d bytes gave %d different bytes", len(in), len(got))
			}
			if len(in) > 1000 && len(out) > len(in)+len(in)/1000+64 {
				t.Errorf("%d bytes compressed to %d: worse than stored", len(in), len(out))
			}
		})
	}
}

// TestSegments cuts inputs into segments, each primed with the preceding 32 KiB and
// all but the last ending in a sync flush, as the parallel gzip writer does; the
// concatenation must be one valid stream.
func TestSegments(t *testing.T) {
	e := NewEncoder()
	for name, in := range roundTripInputs() {
		for _, seg := range []int{1, 1000, 32768, 100000} {
			// Every segment inserts its dictionary into the match finder: keep the
			// number of segments small.
			if len(in)/seg > 200 {
				continue
			}
			t.Run(fmt.Sprintf("%s/%d", name, seg), func(t *testing.T) {
				var out []byte
				for start := 0; ; start += seg {
					end := min(start+seg, len(in))
					dict := in[max(0, start-windowSize):start]
					out = e.Compress(out, in[start:end], dict, end == len(in))
					if end == len(in) {
						break
					}
				}
				if got := inflate(t, out); !bytes.Equal(got, in) {
					t.Fatalf("segmented round trip of %d bytes failed", len(in))
				}
			})
		}
	}
}

func TestNonFinalSegmentIsSyncFlushed(t *testing.T) {
	out := Compress(nil, textLike(9, 5000), nil, false)
	if !bytes.HasSuffix(out, []byte{0, 0, 0xff, 0xff}) {
		t.Fatalf("non-final segment does not end in a sync marker: % x", out[max(0, len(out)-8):])
	}
	// Without the final block, a reader must still produce everything it was given.
	r := flate.NewReader(bytes.NewReader(out))
	got := make([]byte, 5000)
	if _, err := io.ReadFull(r, got); err != nil {
		t.Fatalf("reading a sync-flushed segment: %v", err)
	}
}

// TestDictionaryIsUsed checks that the dictionary is both searched and not emitted:
// a segment repeating its dictionary must shrink to almost nothing.
func TestDictionaryIsUsed(t *testing.T) {
	dict := randomBytes(5, 20000)
	out := Compress(nil, dict, dict, true)
	if len(out) > 200 {
		t.Fatalf("segment equal to its dictionary took %d bytes", len(out))
	}
	// Decoding needs the dictionary: feed the stream after a stored copy of it.
	prefix := storedPrefix(dict)
	got := inflate(t, append(prefix, out...))
	if !bytes.Equal(got[len(dict):], dict) {
		t.Fatal("segment did not decode against its dictionary")
	}
}

// storedPrefix is b as non-final stored blocks.
func storedPrefix(b []byte) []byte {
	var w blockWriter
	w.reset(nil)
	w.writeStored(b, 0)
	return w.out
}

func TestDeterministic(t *testing.T) {
	in := append(textLike(6, 200000), elfLike(6, 200000)...)
	dict := randomBytes(6, windowSize)
	want := Compress(nil, in, dict, false)
	e := NewEncoder()
	// A used encoder must not carry anything from earlier segments into the output.
	e.Compress(nil, randomBytes(10, 100000), nil, true)
	for i := range 3 {
		if got := e.Compress(nil, in, dict, false); !bytes.Equal(got, want) {
			t.Fatalf("run %d gave different bytes", i)
		}
	}
}

func TestBetterThanStdlibBest(t *testing.T) {
	for name, in := range map[string][]byte{"text": textLike(11, 500000), "elf": elfLike(11, 500000)} {
		var b bytes.Buffer
		fw, _ := flate.NewWriter(&b, flate.BestCompression)
		fw.Write(in)
		fw.Close()
		out := Compress(nil, in, nil, true)
		t.Logf("%s: %d -> %d (stdlib best %d)", name, len(in), len(out), b.Len())
		if len(out) >= b.Len() {
			t.Errorf("%s: %d bytes, stdlib best level %d", name, len(out), b.Len())
		}
	}
}

func FuzzCompress(f *testing.F) {
	f.Add([]byte{}, []byte{}, true)
	f.Add([]byte("hello, hello, hello world"), []byte("hello"), false)
	f.Add(bytes.Repeat([]byte{0}, 1000), []byte{}, true)
	f.Add(textLike(12, 3000), textLike(13, 500), true)
	f.Add(elfLike(12, 3000), []byte{}, false)
	f.Fuzz(func(t *testing.T, in, dict []byte, final bool) {
		out := Compress(nil, in, dict, final)
		// Decode after the dictionary, sent stored, so that back-references into it
		// resolve; a non-final segment is completed by an empty final block.
		stream := append(storedPrefix(dict), out...)
		if !final {
			stream = Compress(stream, nil, nil, true)
		}
		got := inflate(t, stream)
		if !bytes.Equal(got[len(dict):], in) {
			t.Fatalf("round trip failed: %d bytes in, %d out", len(in), len(got)-len(dict))
		}
	})
}

// benchInput is real data when SLIM_DEFLATE_BENCH names a file (its first 16 MiB),
// otherwise a synthetic mix of text and machine code.
func benchInput(b *testing.B) []byte {
	if p := os.Getenv("SLIM_DEFLATE_BENCH"); p != "" {
		f, err := os.Open(p)
		if err != nil {
			b.Fatalf("opening benchmark input: %v", err)
		}
		defer f.Close()
		buf := make([]byte, 16<<20)
		n, _ := io.ReadFull(f, buf)
		return buf[:n]
	}
	return append(textLike(20, 1<<20), elfLike(20, 1<<20)...)
}

func BenchmarkEncoder(b *testing.B) { benchmarkEncoder(b, benchInput(b)) }

// BenchmarkEncoderModules is the text-heavy case, where long matches are the rule and
// inserting the positions they cover is most of the work.
func BenchmarkEncoderModules(b *testing.B) { benchmarkEncoder(b, moduleLike(21, 4<<20)) }

func benchmarkEncoder(b *testing.B, in []byte) {
	e := NewEncoder()
	var out []byte
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		out = out[:0]
		// 1 MiB segments with dictionaries, as the gzip writer uses it.
		for start := 0; start < len(in); start += 1 << 20 {
			end := min(start+1<<20, len(in))
			out = e.Compress(out, in[start:end], in[max(0, start-windowSize):start], end == len(in))
		}
	}
	b.ReportMetric(float64(len(out)), "bytes")
	b.ReportMetric(float64(len(out))/float64(len(in)), "ratio")
}

// TestInsertMatchesAdvance checks that insert, advance without the matches, leaves the
// match finder exactly as advance does: the encoder mixes the two freely, and its
// output is pinned by golden digests elsewhere.
func TestInsertMatchesAdvance(t *testing.T) {
	for name, in := range map[string][]byte{
		"modules": moduleLike(3, 200000),
		"zeros":   make([]byte, 70000),
		"elf":     elfLike(3, 100000),
	} {
		a, b := newMatchFinder(), newMatchFinder()
		a.reset()
		b.reset()
		for p := 0; p+4 <= len(in); p++ {
			maxLen := min(maxMatch, len(in)-p)
			nice := min(niceLen, maxLen)
			a.advance(in, p, maxLen, nice, skipDepth, nil)
			b.insert(in, p, nice, skipDepth)
		}
		if *a.child != *b.child || *a.hash3 != *b.hash3 || *a.hash4 != *b.hash4 {
			t.Errorf("%s: insert and advance left different match finders", name)
		}
	}
}

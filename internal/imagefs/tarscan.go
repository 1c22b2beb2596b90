package imagefs

// The scanner below follows archive/tar's Reader.Next (Go 1.26,
// src/archive/tar/reader.go, BSD licence) step by step, because the index
// must see exactly the headers tar.Reader would give the later content reads
// (sparse files are still read with tar.Reader, by entry ordinal). What
// differs is only how bytes are obtained and how the common header block is
// parsed; FuzzTarScan holds the two to the same results.

import (
	"archive/tar"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"math/bits"
	"strconv"
	"strings"
	"time"
)

const (
	blockSize = 512
	// scanBufSize: the decompressors hand out at most a window (32 KiB for
	// flate) per Read; a buffer several times that keeps the scanner's own
	// bookkeeping per Read call negligible and whole header runs in cache.
	scanBufSize = 256 << 10

	// Limits archive/tar applies to PAX data, long names and sparse maps.
	maxSpecialFileSize   = 1 << 20
	maxSparseFileEntries = 1 << 20

	// Unexported tar.Format bits, either side of the exported ones as in
	// archive/tar.
	formatV7   = tar.FormatUSTAR >> 1
	formatSTAR = tar.FormatGNU << 1

	paxSchilyXattr        = "SCHILY.xattr."
	paxGNUSparseNumBlocks = "GNU.sparse.numblocks"
	paxGNUSparseOffset    = "GNU.sparse.offset"
	paxGNUSparseNumBytes  = "GNU.sparse.numbytes"
	paxGNUSparseMap       = "GNU.sparse.map"
	paxGNUSparseName      = "GNU.sparse.name"
	paxGNUSparseMajor     = "GNU.sparse.major"
	paxGNUSparseMinor     = "GNU.sparse.minor"
	paxGNUSparseSize      = "GNU.sparse.size"
	paxGNUSparseRealSize  = "GNU.sparse.realsize"
)

var (
	errSparseTooLong = errors.New("sparse map too long")
	zeroBlock        [blockSize]byte
)

// tarScanner walks the headers of a tar stream the way tar.Reader.Next
// does, for a pass that never reads content: it reads the stream in large
// chunks into its own buffer and skips content by moving in that buffer,
// where tar.Reader would push every skipped byte through io.Discard's small
// reads, and it parses the common header block without the per-byte rune
// decoding and the allocations of tar.Reader.
type tarScanner struct {
	r      io.Reader
	buf    []byte
	rp, wp int   // unread bytes are buf[rp:wp]
	pos    int64 // stream offset of buf[rp]
	rerr   error // error from r, due once buf[rp:wp] is used up
	err    error // sticky error of Next

	remain int64 // bytes of the current entry's data section not read yet
	pad    int64 // padding after that data section

	hdr   tar.Header // returned by Next, reused
	raw   [blockSize]byte
	uname string // last user and group names, reused while they repeat
	gname string
}

// newTarScanner reads r with a buffer of size bytes (at least a block).
func newTarScanner(r io.Reader, size int) *tarScanner {
	return &tarScanner{r: r, buf: make([]byte, max(size, blockSize))}
}

// Next returns the next entry's header, as tar.Reader.Next would, and the
// stream offset of its content. The header is valid until the next call.
// At the end of the archive it returns io.EOF.
func (s *tarScanner) Next() (*tar.Header, int64, error) {
	if s.err != nil {
		return nil, 0, s.err
	}
	h, err := s.next()
	if err != nil {
		s.err = err
		return nil, 0, err
	}
	return h, s.pos, nil
}

// finish reads the stream to its end, past the end-of-archive blocks, and
// returns its length.
func (s *tarScanner) finish() (int64, error) {
	for {
		s.advance(s.wp - s.rp)
		if !s.fill() {
			if s.rerr == io.EOF {
				return s.pos, nil
			}
			return s.pos, s.rerr
		}
	}
}

func (s *tarScanner) advance(n int) {
	s.rp += n
	s.pos += int64(n)
}

// fill reads more of the stream into the buffer, and reports false once it
// has no more to give (s.rerr says why).
func (s *tarScanner) fill() bool {
	if s.rerr != nil {
		return false
	}
	if s.rp == s.wp {
		s.rp, s.wp = 0, 0
	} else if len(s.buf)-s.wp < blockSize {
		s.wp = copy(s.buf, s.buf[s.rp:s.wp])
		s.rp = 0
	}
	for {
		n, err := s.r.Read(s.buf[s.wp:])
		s.wp += n
		if err != nil {
			s.rerr = err
			return n > 0
		}
		if n > 0 {
			return true
		}
	}
}

// readBlock returns the next block, with io.ReadFull's errors: io.EOF when
// the stream ends before it, io.ErrUnexpectedEOF when it ends inside it.
func (s *tarScanner) readBlock() ([]byte, error) {
	for s.wp-s.rp < blockSize {
		if !s.fill() {
			n := s.wp - s.rp
			s.advance(n)
			if s.rerr == io.EOF && n > 0 {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, s.rerr
		}
	}
	b := s.buf[s.rp : s.rp+blockSize]
	s.advance(blockSize)
	return b, nil
}

// skip consumes n bytes; the stream ending first is io.ErrUnexpectedEOF,
// as for tar.Reader's discard.
func (s *tarScanner) skip(n int64) error {
	for n > 0 {
		if s.rp == s.wp && !s.fill() {
			if s.rerr == io.EOF {
				return io.ErrUnexpectedEOF
			}
			return s.rerr
		}
		k := int(min(n, int64(s.wp-s.rp)))
		s.advance(k)
		n -= int64(k)
	}
	return nil
}

// skipPad consumes the padding after a data section. The stream ending
// inside it is a clean io.EOF, as for tar.Reader (its tryReadFull).
func (s *tarScanner) skipPad(n int64) error {
	err := s.skip(n)
	if err == io.ErrUnexpectedEOF {
		return io.EOF
	}
	return err
}

// readData reads up to n bytes of the current data section, as
// io.ReadAll(io.LimitReader(tr, n)) would.
func (s *tarScanner) readData(n int64) ([]byte, error) {
	n = min(n, s.remain)
	var out []byte
	for int64(len(out)) < n {
		if s.rp == s.wp && !s.fill() {
			s.remain -= int64(len(out))
			if s.rerr == io.EOF {
				return out, io.ErrUnexpectedEOF // the data section is cut short
			}
			return out, s.rerr
		}
		k := int(min(n-int64(len(out)), int64(s.wp-s.rp)))
		out = append(out, s.buf[s.rp:s.rp+k]...)
		s.advance(k)
	}
	s.remain -= int64(len(out))
	return out, nil
}

// readSpecialFile is archive/tar's: the rest of the data section, at most
// maxSpecialFileSize bytes.
func (s *tarScanner) readSpecialFile() ([]byte, error) {
	buf, err := s.readData(maxSpecialFileSize + 1)
	if len(buf) > maxSpecialFileSize {
		return nil, tar.ErrFieldTooLong
	}
	return buf, err
}

func isHeaderOnlyType(flag byte) bool {
	switch flag {
	case tar.TypeLink, tar.TypeSymlink, tar.TypeChar, tar.TypeBlock, tar.TypeDir, tar.TypeFifo:
		return true
	}
	return false
}

func blockPadding(offset int64) int64 { return -offset & (blockSize - 1) }

func (s *tarScanner) next() (*tar.Header, error) {
	var paxHdrs map[string]string
	var gnuLongName, gnuLongLink string

	format := tar.FormatUSTAR | tar.FormatPAX | tar.FormatGNU
	for {
		if err := s.skip(s.remain); err != nil {
			return nil, err
		}
		s.remain = 0
		if err := s.skipPad(s.pad); err != nil {
			return nil, err
		}
		s.pad = 0

		hdr, rawFormat, err := s.readHeader()
		if err != nil {
			return nil, err
		}
		if err := s.handleRegularFile(hdr); err != nil {
			return nil, err
		}
		format &= hdr.Format

		switch hdr.Typeflag {
		case tar.TypeXHeader, tar.TypeXGlobalHeader:
			format &= tar.FormatPAX
			paxHdrs, err = s.parsePAX()
			if err != nil {
				return nil, err
			}
			if hdr.Typeflag == tar.TypeXGlobalHeader {
				mergePAX(hdr, paxHdrs) //nolint:errcheck // archive/tar ignores it too
				name, typ, xattrs, recs := hdr.Name, hdr.Typeflag, hdr.Xattrs, hdr.PAXRecords
				s.hdr = tar.Header{Name: name, Typeflag: typ, Xattrs: xattrs, PAXRecords: recs, Format: format}
				return &s.hdr, nil
			}
			continue
		case tar.TypeGNULongName, tar.TypeGNULongLink:
			format &= tar.FormatGNU
			realname, err := s.readSpecialFile()
			if err != nil {
				return nil, err
			}
			if hdr.Typeflag == tar.TypeGNULongName {
				gnuLongName = cString(realname)
			} else {
				gnuLongLink = cString(realname)
			}
			continue
		default:
			if err := mergePAX(hdr, paxHdrs); err != nil {
				return nil, err
			}
			if gnuLongName != "" {
				hdr.Name = gnuLongName
			}
			if gnuLongLink != "" {
				hdr.Linkname = gnuLongLink
			}
			if hdr.Typeflag == tar.TypeRegA {
				if strings.HasSuffix(hdr.Name, "/") {
					hdr.Typeflag = tar.TypeDir
				} else {
					hdr.Typeflag = tar.TypeReg
				}
			}
			// PAX records may have changed the size.
			if err := s.handleRegularFile(hdr); err != nil {
				return nil, err
			}
			if err := s.handleSparseFile(hdr, rawFormat); err != nil {
				return nil, err
			}
			if format&tar.FormatUSTAR != 0 && format&tar.FormatPAX != 0 {
				format &= tar.FormatUSTAR
			}
			hdr.Format = format
			return hdr, nil
		}
	}
}

func (s *tarScanner) handleRegularFile(hdr *tar.Header) error {
	nb := hdr.Size
	if isHeaderOnlyType(hdr.Typeflag) {
		nb = 0
	}
	if nb < 0 {
		return tar.ErrHeader
	}
	s.pad = blockPadding(nb)
	s.remain = nb
	return nil
}

// blockSums returns the checksums of a header block (unsigned and signed,
// the checksum field counted as spaces) and whether it has a byte ≥ 0x80,
// which is what tar.Reader's bytes.IndexFunc(notASCII) finds: such a byte
// starts either a multi-byte rune or an invalid one (U+FFFD), both ≥ 0x80.
// Eight bytes at a time: this runs for every entry.
func blockSums(b []byte) (unsigned, signed int64, nonASCII bool) {
	const lo = 0x00ff00ff00ff00ff
	var sum16, high uint64
	for i := 0; i < blockSize; i += 8 {
		w := binary.LittleEndian.Uint64(b[i:])
		sum16 += w&lo + (w>>8)&lo // 64 words × 2 × 255 fits each 16-bit lane
		high += uint64(bits.OnesCount64(w & 0x8080808080808080))
	}
	// The four lanes together may exceed 16 bits: add them apart.
	total := int64(sum16&0xffff + sum16>>16&0xffff + sum16>>32&0xffff + sum16>>48)
	var chk int64
	var chkHigh int64
	for _, c := range b[148:156] {
		chk += int64(c)
		chkHigh += int64(c >> 7)
	}
	unsigned = total - chk + 8*' '
	signed = unsigned - 256*(int64(high)-chkHigh)
	return unsigned, signed, high != 0
}

// cString is archive/tar's parseString: up to the first NUL.
func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// cStringReuse is cString returning last when it holds the same bytes: user
// and group names repeat from entry to entry.
func cStringReuse(b []byte, last *string) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	if string(b) != *last { // compiled without a conversion
		*last = string(b)
	}
	return *last
}

// numParser is archive/tar's parser: parse errors are sticky in err.
type numParser struct{ err error }

// parseNumeric reads octal or, with the high bit set, base-256.
func (p *numParser) parseNumeric(b []byte) int64 {
	if len(b) > 0 && b[0]&0x80 != 0 {
		var inv byte // 0xff for negative numbers
		if b[0]&0x40 != 0 {
			inv = 0xff
		}
		var x uint64
		for i, c := range b {
			c ^= inv
			if i == 0 {
				c &= 0x7f
			}
			if (x >> 56) > 0 {
				p.err = tar.ErrHeader
				return 0
			}
			x = x<<8 | uint64(c)
		}
		if (x >> 63) > 0 {
			p.err = tar.ErrHeader
			return 0
		}
		if inv == 0xff {
			return ^int64(x)
		}
		return int64(x)
	}
	return p.parseOctal(b)
}

// parseOctal accepts what archive/tar's does (bytes.Trim of spaces and
// NULs, up to the next NUL, strconv.ParseUint base 8) without allocating.
func (p *numParser) parseOctal(b []byte) int64 {
	i, j := 0, len(b)
	for i < j && (b[i] == ' ' || b[i] == 0) {
		i++
	}
	for j > i && (b[j-1] == ' ' || b[j-1] == 0) {
		j--
	}
	b = b[i:j]
	if k := bytes.IndexByte(b, 0); k >= 0 {
		b = b[:k]
	}
	if len(b) == 0 {
		return 0
	}
	if len(b) > 21 { // may overflow 64 bits: let strconv decide
		x, err := strconv.ParseUint(string(b), 8, 64)
		if err != nil {
			p.err = tar.ErrHeader
		}
		return int64(x)
	}
	var x uint64
	for _, c := range b {
		if c < '0' || c > '7' {
			p.err = tar.ErrHeader
			return 0
		}
		x = x<<3 | uint64(c-'0')
	}
	return int64(x)
}

func nulEnded(b []byte) bool { return b[len(b)-1] == 0 }

// readHeader is tar.Reader.readHeader. It also returns the format the block
// itself has (before the USTAR checks), which the old GNU sparse format
// needs; the block is kept in s.raw for it.
func (s *tarScanner) readHeader() (*tar.Header, tar.Format, error) {
	b, err := s.readBlock()
	if err != nil {
		return nil, 0, err
	}
	if bytes.Equal(b, zeroBlock[:]) {
		if b, err = s.readBlock(); err != nil {
			return nil, 0, err // io.EOF here is a single zero block, then the end
		}
		if bytes.Equal(b, zeroBlock[:]) {
			return nil, 0, io.EOF
		}
		return nil, 0, tar.ErrHeader
	}

	unsigned, signed, nonASCII := blockSums(b)
	var p numParser
	if v := p.parseOctal(b[148:156]); p.err != nil || (v != unsigned && v != signed) {
		return nil, 0, tar.ErrHeader
	}
	var format tar.Format
	magic, version, trailer := b[257:263], b[263:265], b[508:512]
	switch {
	case string(magic) == "ustar\x00" && string(trailer) == "tar\x00":
		format = formatSTAR
	case string(magic) == "ustar\x00":
		format = tar.FormatUSTAR | tar.FormatPAX
	case string(magic) == "ustar " && string(version) == " \x00":
		format = tar.FormatGNU
	default:
		format = formatV7
	}

	s.hdr = tar.Header{}
	hdr := &s.hdr
	hdr.Typeflag = b[156]
	hdr.Name = cString(b[0:100])
	if b[157] != 0 {
		hdr.Linkname = cString(b[157:257])
	}
	hdr.Size = p.parseNumeric(b[124:136])
	hdr.Mode = p.parseNumeric(b[100:108])
	hdr.Uid = int(p.parseNumeric(b[108:116]))
	hdr.Gid = int(p.parseNumeric(b[116:124]))
	hdr.ModTime = time.Unix(p.parseNumeric(b[136:148]), 0)

	if format > formatV7 {
		hdr.Uname = cStringReuse(b[265:297], &s.uname)
		hdr.Gname = cStringReuse(b[297:329], &s.gname)
		hdr.Devmajor = p.parseNumeric(b[329:337])
		hdr.Devminor = p.parseNumeric(b[337:345])

		var prefix string
		switch {
		case format&(tar.FormatUSTAR|tar.FormatPAX) != 0:
			hdr.Format = format
			if b[345] != 0 {
				prefix = cString(b[345:500])
			}
			if nonASCII {
				hdr.Format = tar.FormatUnknown
			}
			if !(nulEnded(b[124:136]) && nulEnded(b[100:108]) && nulEnded(b[108:116]) && nulEnded(b[116:124]) &&
				nulEnded(b[136:148]) && nulEnded(b[329:337]) && nulEnded(b[337:345])) {
				hdr.Format = tar.FormatUnknown // numeric fields must end in NUL
			}
		case format&formatSTAR != 0:
			prefix = cString(b[345:476])
			hdr.AccessTime = time.Unix(p.parseNumeric(b[476:488]), 0)
			hdr.ChangeTime = time.Unix(p.parseNumeric(b[488:500]), 0)
		case format&tar.FormatGNU != 0:
			hdr.Format = format
			var p2 numParser
			if a := b[345:357]; a[0] != 0 {
				hdr.AccessTime = time.Unix(p2.parseNumeric(a), 0)
			}
			if c := b[357:369]; c[0] != 0 {
				hdr.ChangeTime = time.Unix(p2.parseNumeric(c), 0)
			}
			// Files from Go before 1.8 put a USTAR prefix here; see
			// archive/tar (golang.org/issue/12594).
			if p2.err != nil {
				hdr.AccessTime, hdr.ChangeTime = time.Time{}, time.Time{}
				if ps := cString(b[345:500]); isASCII(ps) {
					prefix = ps
				}
				hdr.Format = tar.FormatUnknown
			}
		}
		if len(prefix) > 0 {
			hdr.Name = prefix + "/" + hdr.Name
		}
	}
	if hdr.Typeflag == tar.TypeGNUSparse {
		copy(s.raw[:], b)
	}
	return hdr, format, p.err
}

func isASCII(s string) bool {
	for _, c := range s {
		if c >= 0x80 || c == 0x00 {
			return false
		}
	}
	return true
}

// parsePAX is archive/tar's: the records of the current data section, GNU
// sparse 0.0 offset/numbytes pairs folded into GNU.sparse.map.
func (s *tarScanner) parsePAX() (map[string]string, error) {
	buf, err := s.readSpecialFile()
	if err != nil {
		return nil, err
	}
	sbuf := string(buf)
	var sparseMap []string
	paxHdrs := make(map[string]string)
	for len(sbuf) > 0 {
		key, value, residual, err := parsePAXRecord(sbuf)
		if err != nil {
			return nil, tar.ErrHeader
		}
		sbuf = residual
		switch key {
		case paxGNUSparseOffset, paxGNUSparseNumBytes:
			if (len(sparseMap)%2 == 0 && key != paxGNUSparseOffset) ||
				(len(sparseMap)%2 == 1 && key != paxGNUSparseNumBytes) ||
				strings.Contains(value, ",") {
				return nil, tar.ErrHeader
			}
			sparseMap = append(sparseMap, value)
		default:
			paxHdrs[key] = value
		}
	}
	if len(sparseMap) > 0 {
		paxHdrs[paxGNUSparseMap] = strings.Join(sparseMap, ",")
	}
	return paxHdrs, nil
}

// parsePAXRecord reads one "%d %s=%s\n" record.
func parsePAXRecord(s string) (k, v, r string, err error) {
	nStr, rest, ok := strings.Cut(s, " ")
	if !ok {
		return "", "", s, tar.ErrHeader
	}
	n, perr := strconv.ParseInt(nStr, 10, 0)
	if perr != nil || n < 5 || n > int64(len(s)) {
		return "", "", s, tar.ErrHeader
	}
	n -= int64(len(nStr) + 1)
	if n <= 0 {
		return "", "", s, tar.ErrHeader
	}
	rec, nl, rem := rest[:n-1], rest[n-1:n], rest[n:]
	if nl != "\n" {
		return "", "", s, tar.ErrHeader
	}
	k, v, ok = strings.Cut(rec, "=")
	if !ok || !validPAXRecord(k, v) {
		return "", "", s, tar.ErrHeader
	}
	return k, v, rem, nil
}

func validPAXRecord(k, v string) bool {
	if k == "" || strings.Contains(k, "=") {
		return false
	}
	switch k {
	case "path", "linkpath", "uname", "gname":
		return !strings.Contains(v, "\x00")
	}
	return !strings.Contains(k, "\x00")
}

// mergePAX is archive/tar's, errors and all: on an error it stops where it
// is and leaves PAXRecords unset.
func mergePAX(hdr *tar.Header, paxHdrs map[string]string) (err error) {
	for k, v := range paxHdrs {
		if v == "" {
			continue
		}
		var id64 int64
		switch k {
		case "path":
			hdr.Name = v
		case "linkpath":
			hdr.Linkname = v
		case "uname":
			hdr.Uname = v
		case "gname":
			hdr.Gname = v
		case "uid":
			id64, err = strconv.ParseInt(v, 10, 64)
			hdr.Uid = int(id64)
		case "gid":
			id64, err = strconv.ParseInt(v, 10, 64)
			hdr.Gid = int(id64)
		case "atime":
			hdr.AccessTime, err = parsePAXTime(v)
		case "mtime":
			hdr.ModTime, err = parsePAXTime(v)
		case "ctime":
			hdr.ChangeTime, err = parsePAXTime(v)
		case "size":
			hdr.Size, err = strconv.ParseInt(v, 10, 64)
		default:
			if strings.HasPrefix(k, paxSchilyXattr) {
				if hdr.Xattrs == nil {
					hdr.Xattrs = make(map[string]string)
				}
				hdr.Xattrs[k[len(paxSchilyXattr):]] = v
			}
		}
		if err != nil {
			return tar.ErrHeader
		}
	}
	hdr.PAXRecords = paxHdrs
	return nil
}

func parsePAXTime(s string) (time.Time, error) {
	const maxNanoSecondDigits = 9
	ss, sn, _ := strings.Cut(s, ".")
	secs, err := strconv.ParseInt(ss, 10, 64)
	if err != nil {
		return time.Time{}, tar.ErrHeader
	}
	if len(sn) == 0 {
		return time.Unix(secs, 0), nil
	}
	nanoDigits := [maxNanoSecondDigits]byte{'0', '0', '0', '0', '0', '0', '0', '0', '0'}
	for i := range len(sn) {
		switch c := sn[i]; {
		case c < '0' || c > '9':
			return time.Time{}, tar.ErrHeader
		case i < len(nanoDigits):
			nanoDigits[i] = c
		}
	}
	nsecs, _ := strconv.ParseInt(string(nanoDigits[:]), 10, 64)
	if len(ss) > 0 && ss[0] == '-' {
		return time.Unix(secs, -1*nsecs), nil
	}
	return time.Unix(secs, nsecs), nil
}

type sparseEntry struct{ Offset, Length int64 }

func (s sparseEntry) endOffset() int64 { return s.Offset + s.Length }

// handleSparseFile reads the sparse map, if any, for what it consumes from
// the stream and for its errors; the map itself is left to tar.Reader.
func (s *tarScanner) handleSparseFile(hdr *tar.Header, rawFormat tar.Format) error {
	var spd []sparseEntry
	var err error
	if hdr.Typeflag == tar.TypeGNUSparse {
		spd, err = s.readOldGNUSparseMap(hdr, rawFormat)
	} else {
		spd, err = s.readGNUSparsePAXHeaders(hdr)
	}
	if err == nil && spd != nil {
		if isHeaderOnlyType(hdr.Typeflag) || !validateSparseEntries(spd, hdr.Size) {
			return tar.ErrHeader
		}
	}
	return err
}

func (s *tarScanner) readGNUSparsePAXHeaders(hdr *tar.Header) ([]sparseEntry, error) {
	var is1x0 bool
	major, minor := hdr.PAXRecords[paxGNUSparseMajor], hdr.PAXRecords[paxGNUSparseMinor]
	switch {
	case major == "0" && (minor == "0" || minor == "1"):
		is1x0 = false
	case major == "1" && minor == "0":
		is1x0 = true
	case major != "" || minor != "":
		return nil, nil // unknown GNU sparse PAX version
	case hdr.PAXRecords[paxGNUSparseMap] != "":
		is1x0 = false // 0.0 and 0.1 had no version records
	default:
		return nil, nil
	}
	hdr.Format &= tar.FormatPAX

	if name := hdr.PAXRecords[paxGNUSparseName]; name != "" {
		hdr.Name = name
	}
	size := hdr.PAXRecords[paxGNUSparseSize]
	if size == "" {
		size = hdr.PAXRecords[paxGNUSparseRealSize]
	}
	if size != "" {
		n, err := strconv.ParseInt(size, 10, 64)
		if err != nil {
			return nil, tar.ErrHeader
		}
		hdr.Size = n
	}
	if is1x0 {
		return s.readGNUSparseMap1x0()
	}
	return readGNUSparseMap0x1(hdr.PAXRecords)
}

func (s *tarScanner) readOldGNUSparseMap(hdr *tar.Header, rawFormat tar.Format) ([]sparseEntry, error) {
	// STAR uses the same type flag with another layout.
	if rawFormat != tar.FormatGNU {
		return nil, tar.ErrHeader
	}
	hdr.Format &= tar.FormatGNU

	var p numParser
	hdr.Size = p.parseNumeric(s.raw[483:495])
	if p.err != nil {
		return nil, p.err
	}
	sa := s.raw[386 : 386+24*4+1]
	spd := make([]sparseEntry, 0, len(sa)/24)
	totalSize := len(sa)
	for totalSize < maxSpecialFileSize {
		n := len(sa) / 24
		for i := range n {
			e := sa[i*24:]
			if e[0] == 0 {
				break // the end, as for GNU and BSD tar
			}
			offset := p.parseNumeric(e[0:12])
			length := p.parseNumeric(e[12:24])
			if p.err != nil {
				return nil, p.err
			}
			if len(spd) >= maxSparseFileEntries {
				return nil, errSparseTooLong
			}
			spd = append(spd, sparseEntry{offset, length})
		}
		if sa[24*n] > 0 {
			// Extension headers are not part of the data section.
			b, err := s.readBlock()
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			if err != nil {
				return nil, err
			}
			copy(s.raw[:], b)
			sa = s.raw[:]
			totalSize += len(sa)
			continue
		}
		return spd, nil
	}
	return nil, errSparseTooLong
}

// readGNUSparseMap1x0 reads the map at the start of the data section: a
// count, then offset and length pairs, one decimal number a line, up to the
// end of the block holding the last newline.
func (s *tarScanner) readGNUSparseMap1x0() ([]sparseEntry, error) {
	var (
		cntNewline int64
		buf        bytes.Buffer
		totalSize  int
	)
	feedTokens := func(n int64) error {
		for cntNewline < n {
			totalSize += blockSize
			if totalSize > maxSpecialFileSize {
				return errSparseTooLong
			}
			blk, err := s.readData(blockSize)
			if err == nil && len(blk) < blockSize {
				err = io.ErrUnexpectedEOF // the data section is shorter than a block
			}
			if err != nil {
				return err
			}
			buf.Write(blk)
			cntNewline += int64(bytes.Count(blk, []byte{'\n'}))
		}
		return nil
	}
	nextToken := func() string {
		cntNewline--
		tok, _ := buf.ReadString('\n')
		return strings.TrimRight(tok, "\n")
	}

	if err := feedTokens(1); err != nil {
		return nil, err
	}
	numEntries, err := strconv.ParseInt(nextToken(), 10, 0)
	if err != nil || numEntries < 0 || int(2*numEntries) < int(numEntries) {
		return nil, tar.ErrHeader
	}
	if err := feedTokens(2 * numEntries); err != nil {
		return nil, err
	}
	spd := make([]sparseEntry, 0, numEntries)
	for range numEntries {
		offset, err1 := strconv.ParseInt(nextToken(), 10, 64)
		length, err2 := strconv.ParseInt(nextToken(), 10, 64)
		if err1 != nil || err2 != nil {
			return nil, tar.ErrHeader
		}
		if len(spd) >= maxSparseFileEntries {
			return nil, errSparseTooLong
		}
		spd = append(spd, sparseEntry{offset, length})
	}
	return spd, nil
}

func readGNUSparseMap0x1(paxHdrs map[string]string) ([]sparseEntry, error) {
	numEntries, err := strconv.ParseInt(paxHdrs[paxGNUSparseNumBlocks], 10, 0)
	if err != nil || numEntries < 0 || int(2*numEntries) < int(numEntries) {
		return nil, tar.ErrHeader
	}
	sparseMap := strings.Split(paxHdrs[paxGNUSparseMap], ",")
	if len(sparseMap) == 1 && sparseMap[0] == "" {
		sparseMap = sparseMap[:0]
	}
	if int64(len(sparseMap)) != 2*numEntries {
		return nil, tar.ErrHeader
	}
	spd := make([]sparseEntry, 0, numEntries)
	for len(sparseMap) >= 2 {
		offset, err1 := strconv.ParseInt(sparseMap[0], 10, 64)
		length, err2 := strconv.ParseInt(sparseMap[1], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, tar.ErrHeader
		}
		if len(spd) >= maxSparseFileEntries {
			return nil, errSparseTooLong
		}
		spd = append(spd, sparseEntry{offset, length})
		sparseMap = sparseMap[2:]
	}
	return spd, nil
}

// validateSparseEntries holds the checks archive/tar (and BSD tar) make.
func validateSparseEntries(sp []sparseEntry, size int64) bool {
	if size < 0 {
		return false
	}
	var pre sparseEntry
	for _, cur := range sp {
		switch {
		case cur.Offset < 0 || cur.Length < 0:
			return false
		case cur.Offset > math.MaxInt64-cur.Length:
			return false
		case cur.endOffset() > size:
			return false
		case pre.endOffset() > cur.Offset:
			return false
		}
		pre = cur
	}
	return true
}

package imagefs

import (
	"bufio"
	"encoding/binary"
	"hash/crc32"
	"io"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"
)

// gzipNoCRC is klauspost's gzip.Reader, multistream as by default, less
// the CRC-32 of the uncompressed data, for the indexing pass only: there
// the blob's digest is checked over every compressed byte (blobReader), so
// the CRC (2.5% of the pass) can only repeat that check. The rest of the
// trailer (ISIZE) and the headers are checked as gzip.Reader does, so a
// stream one accepts the other accepts too, byte for byte.
type gzipNoCRC struct {
	r    *bufio.Reader
	dec  io.ReadCloser
	size uint32 // uncompressed bytes of the current member, mod 2³²
	err  error
	buf  [512]byte
}

const (
	gzipFlagHdrCrc  = 1 << 1
	gzipFlagExtra   = 1 << 2
	gzipFlagName    = 1 << 3
	gzipFlagComment = 1 << 4
)

// newGzipNoCRC reads the first member header, failing as gzip.NewReader
// would (io.EOF for an empty stream).
func newGzipNoCRC(r *bufio.Reader) (*gzipNoCRC, error) {
	z := &gzipNoCRC{r: r}
	if err := z.readHeader(); err != nil {
		return nil, err
	}
	return z, nil
}

// noEOF: the stream ending inside a member is ErrUnexpectedEOF.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// readHeader reads a member header (RFC 1952 section 2.3.1). Its own CRC
// (FHCRC) is still checked: it covers a few bytes only.
func (z *gzipNoCRC) readHeader() error {
	if _, err := io.ReadFull(z.r, z.buf[:10]); err != nil {
		return err // io.EOF: zero members is fine, as for gzip.Reader
	}
	if z.buf[0] != 0x1f || z.buf[1] != 0x8b || z.buf[2] != 8 {
		return gzip.ErrHeader
	}
	flg := z.buf[3]
	digest := crc32.ChecksumIEEE(z.buf[:10])
	if flg&gzipFlagExtra != 0 {
		if _, err := io.ReadFull(z.r, z.buf[:2]); err != nil {
			return noEOF(err)
		}
		digest = crc32.Update(digest, crc32.IEEETable, z.buf[:2])
		n := int(binary.LittleEndian.Uint16(z.buf[:2]))
		for n > 0 {
			k, err := io.ReadFull(z.r, z.buf[:min(n, len(z.buf))])
			if err != nil {
				return noEOF(err)
			}
			digest = crc32.Update(digest, crc32.IEEETable, z.buf[:k])
			n -= k
		}
	}
	for _, f := range []byte{gzipFlagName, gzipFlagComment} {
		if flg&f == 0 {
			continue
		}
		// NUL-terminated, at most 512 bytes with the NUL as for gzip.Reader.
		for i := 0; ; i++ {
			if i >= len(z.buf) {
				return gzip.ErrHeader
			}
			c, err := z.r.ReadByte()
			if err != nil {
				return noEOF(err)
			}
			z.buf[i] = c
			if c == 0 {
				digest = crc32.Update(digest, crc32.IEEETable, z.buf[:i+1])
				break
			}
		}
	}
	if flg&gzipFlagHdrCrc != 0 {
		if _, err := io.ReadFull(z.r, z.buf[:2]); err != nil {
			return noEOF(err)
		}
		if binary.LittleEndian.Uint16(z.buf[:2]) != uint16(digest) {
			return gzip.ErrHeader
		}
	}
	if flg>>5 != 0 { // reserved bits
		return gzip.ErrHeader
	}
	if z.dec == nil {
		z.dec = flate.NewReader(z.r)
	} else if err := z.dec.(flate.Resetter).Reset(z.r, nil); err != nil {
		return err
	}
	z.size = 0
	return nil
}

func (z *gzipNoCRC) Read(p []byte) (n int, err error) {
	if z.err != nil {
		return 0, z.err
	}
	for n == 0 {
		n, z.err = z.dec.Read(p)
		z.size += uint32(n)
		if z.err != io.EOF {
			return n, z.err
		}
		// End of a member: its trailer, then the next member if any.
		if _, err := io.ReadFull(z.r, z.buf[:8]); err != nil {
			z.err = noEOF(err)
			return n, z.err
		}
		if binary.LittleEndian.Uint32(z.buf[4:8]) != z.size {
			z.err = gzip.ErrChecksum
			return n, z.err
		}
		if z.err = z.readHeader(); z.err != nil {
			return n, z.err
		}
	}
	return n, nil
}

func (z *gzipNoCRC) Close() error {
	if z.dec == nil {
		return nil
	}
	return z.dec.Close()
}

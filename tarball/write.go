package tarball

import (
	"archive/tar"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"time"
)

// Entry is one file-system entry to pack. Open is nil for anything but regular files.
type Entry struct {
	Header *tar.Header
	Open   func() (io.ReadCloser, error)
	// ContentID, when not empty, names the content Open gives: two entries with
	// the same ContentID have the same bytes. The layer cache (WithCacheDir) then
	// keys the layer by the headers, these IDs and the digests of the other
	// entries' content, and a hit reads only the files without an ID. Leave it
	// empty unless equal IDs guarantee equal content (a blob digest does).
	ContentID string
}

// xattrPrefix is the PAX record prefix under which tar carries extended attributes.
const xattrPrefix = "SCHILY.xattr."

// WriteTar writes entries as one deterministic, uncompressed tar stream: sorted (parents
// before children, then byte order of the path), headers normalised, content streamed.
// The result depends only on the entries' content and the options, never on their
// order or on the clock. Compression options are ignored; see NewCompressWriter.
func WriteTar(w io.Writer, entries []Entry, opts ...Option) error {
	o := makeOptions(opts...)
	return writeTar(w, entries, &o)
}

func writeTar(w io.Writer, entries []Entry, o *options) error {
	plan, err := planEntries(entries, o)
	if err != nil {
		return err
	}
	return writePlan(w, plan, o.readAhead)
}

// TarSize is the length of the tar stream WriteTar would write for entries, found
// without reading any content: the headers do not depend on it.
func TarSize(entries []Entry, opts ...Option) (int64, error) {
	o := makeOptions(opts...)
	zeros := make([]Entry, len(entries))
	for i, e := range entries {
		zeros[i] = e
		if e.Open != nil {
			size := e.Header.Size
			zeros[i].Open = func() (io.ReadCloser, error) {
				return io.NopCloser(io.LimitReader(zeroReader{}, size)), nil
			}
		}
	}
	var n countWriter
	if err := writeTar(&n, zeros, &o); err != nil {
		return 0, err
	}
	return int64(n), nil
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// tarSizeBound is an upper bound of the tar stream writePlan produces: each entry
// takes at most a header, a PAX header with its records and padded content.
func tarSizeBound(plan []Entry) int64 {
	const block = 512
	n := int64(2 * block) // end-of-archive marker
	for _, e := range plan {
		h := e.Header
		pax := len(h.Name) + len(h.Linkname) + 3*block
		for k, v := range h.PAXRecords {
			pax += len(k) + len(v) + 32
		}
		n += block + int64(pax+block-1)/block*block + (h.Size+block-1)/block*block
	}
	return n
}

func writePlan(w io.Writer, plan []Entry, readAheadN int) error {
	tw := tar.NewWriter(w)
	buf := make([]byte, 128<<10)
	var ra *readAhead
	if readAheadN > 0 {
		ra = startReadAhead(plan, readAheadN)
		defer ra.close()
	}
	for i, e := range plan {
		if ra != nil {
			if p := ra.next(i); p != nil {
				if err := tw.WriteHeader(e.Header); err != nil {
					return fmt.Errorf("writing tar header for %q: %w", e.Header.Name, err)
				}
				err := writePrefetched(tw, e.Header, p)
				ra.release()
				if err != nil {
					return err
				}
				continue
			}
		}
		if err := writeEntry(tw, e, buf); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("finishing tar stream: %w", err)
	}
	return nil
}

func writeEntry(tw *tar.Writer, e Entry, buf []byte) error {
	h := e.Header
	if err := tw.WriteHeader(h); err != nil {
		return fmt.Errorf("writing tar header for %q: %w", h.Name, err)
	}
	if h.Typeflag != tar.TypeReg || h.Size == 0 && e.Open == nil {
		return nil
	}
	if e.Open == nil {
		return fmt.Errorf("writing %q: %d bytes declared but no content: %w", h.Name, h.Size, ErrSizeMismatch)
	}
	rc, err := e.Open()
	if err != nil {
		return fmt.Errorf("opening content of %q: %w", h.Name, err)
	}
	err = copyExact(tw, rc, h, buf)
	if cerr := rc.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("closing content of %q: %w", h.Name, cerr)
	}
	return err
}

// copyExact copies exactly h.Size bytes of content. Copying at most Size bytes and
// counting them lets a wrong Size be named as such, instead of surfacing as tar's
// generic short-write error.
func copyExact(tw *tar.Writer, rc io.Reader, h *tar.Header, buf []byte) error {
	n, err := io.CopyBuffer(tw, io.LimitReader(rc, h.Size), buf)
	if err != nil {
		return fmt.Errorf("writing content of %q: %w", h.Name, err)
	}
	if n < h.Size {
		return fmt.Errorf("writing content of %q: got %d bytes, header says %d: %w", h.Name, n, h.Size, ErrSizeMismatch)
	}
	// One more byte means the content is longer than declared: refuse rather than
	// silently cut a file.
	if m, _ := io.ReadFull(rc, buf[:1]); m > 0 {
		return fmt.Errorf("writing content of %q: more than the %d bytes the header says: %w", h.Name, h.Size, ErrSizeMismatch)
	}
	return nil
}

// planEntries normalises, checks, completes and sorts the entries. It returns new
// headers; the caller's are never modified.
func planEntries(entries []Entry, o *options) ([]Entry, error) {
	clamp := func(t time.Time) time.Time {
		if o.preserveMTime && !t.IsZero() {
			return t.Truncate(time.Second)
		}
		epoch := o.epoch.Truncate(time.Second)
		if t.IsZero() || t.After(epoch) {
			return epoch
		}
		return t.Truncate(time.Second)
	}

	out := make([]Entry, 0, len(entries))
	byName := make(map[string]int, len(entries))
	for _, e := range entries {
		if e.Header == nil {
			return nil, fmt.Errorf("normalising entry: nil header: %w", ErrUnsupportedType)
		}
		h, err := normaliseHeader(e.Header, clamp)
		if err != nil {
			return nil, err
		}
		if h == nil { // the root directory itself
			continue
		}
		key := strings.TrimSuffix(h.Name, "/")
		if _, dup := byName[key]; dup {
			return nil, fmt.Errorf("adding %q: %w", h.Name, ErrDuplicate)
		}
		byName[key] = len(out)
		open := e.Open
		if h.Typeflag != tar.TypeReg {
			open = nil
		}
		out = append(out, Entry{Header: h, Open: open, ContentID: e.ContentID})
	}

	// Check ancestors: nothing may live under a symlink or a file (a naive extractor
	// would follow the symlink out of the root), and missing directories are added
	// only when asked.
	n := len(out)
	for i := range n {
		h := out[i].Header
		if h.Typeflag == tar.TypeLink {
			// A hardlink target reached through a symlink would link a file outside
			// the root.
			for dir := path.Dir(h.Linkname); dir != "."; dir = path.Dir(dir) {
				if j, ok := byName[dir]; ok && out[j].Header.Typeflag != tar.TypeDir {
					return nil, fmt.Errorf("checking hardlink %q: target parent %q is not a directory: %w", h.Name, dir, ErrUnsafePath)
				}
			}
		}
		name := strings.TrimSuffix(h.Name, "/")
		for dir := path.Dir(name); dir != "."; dir = path.Dir(dir) {
			if j, ok := byName[dir]; ok {
				if out[j].Header.Typeflag != tar.TypeDir {
					return nil, fmt.Errorf("checking %q: parent %q is not a directory: %w", out[i].Header.Name, dir, ErrUnsafePath)
				}
				continue
			}
			if !o.parents {
				continue
			}
			byName[dir] = len(out)
			out = append(out, Entry{Header: &tar.Header{
				Typeflag: tar.TypeDir,
				Name:     dir + "/",
				Mode:     0o755,
				ModTime:  clamp(time.Time{}),
				Format:   tar.FormatUnknown,
			}})
		}
	}

	slices.SortFunc(out, compareEntries)
	for i := range out {
		byName[strings.TrimSuffix(out[i].Header.Name, "/")] = i
	}
	if err := orderHardlinks(out, byName); err != nil {
		return nil, err
	}
	return out, nil
}

// compareEntries is the order of a layer: every directory first, parents before
// children, then everything else grouped by kind of file (extension, shared libraries
// together) and name, so that similar content sits within the compressor's window.
// Measured by make bench on a Debian-like tree: gzip -9 of the same files 1.9% smaller
// than in path order, zstd unchanged. Parents still come before their children, as
// every directory precedes every file.
func compareEntries(a, b Entry) int {
	ad, bd := a.Header.Typeflag == tar.TypeDir, b.Header.Typeflag == tar.TypeDir
	switch {
	case ad && bd:
		return comparePaths(a.Header.Name, b.Header.Name)
	case ad:
		return -1
	case bd:
		return 1
	}
	an, bn := a.Header.Name, b.Header.Name
	if c := strings.Compare(kindOf(an), kindOf(bn)); c != 0 {
		return c
	}
	if c := strings.Compare(path.Base(an), path.Base(bn)); c != 0 {
		return c
	}
	return comparePaths(an, bn)
}

// kindOf groups a file by its name: shared libraries (name.so, name.so.1.2) together,
// else by lower-cased extension; files without one (programs, mostly) form one group.
func kindOf(name string) string {
	base := path.Base(name)
	if strings.HasSuffix(base, ".so") || strings.Contains(base, ".so.") {
		return ".so"
	}
	return strings.ToLower(path.Ext(base))
}

// comparePaths orders paths component by component, so a directory comes right
// before its own subtree and parents always precede children.
func comparePaths(a, b string) int {
	a, b = strings.TrimSuffix(a, "/"), strings.TrimSuffix(b, "/")
	for i := 0; i < len(a) && i < len(b); i++ {
		ca, cb := a[i], b[i]
		if ca == cb {
			continue
		}
		if ca == '/' {
			return -1
		}
		if cb == '/' {
			return 1
		}
		if ca < cb {
			return -1
		}
		return 1
	}
	return len(a) - len(b)
}

// orderHardlinks makes every hardlink point at an entry written before it. Sorting may
// put a link ahead of its target; then the first name of the group (in output order)
// takes the content and the others link to it, which also makes the output independent
// of which name the caller called the original.
func orderHardlinks(out []Entry, byName map[string]int) error {
	// root resolves chains of links to the regular file carrying the content, or -1
	// when the chain leaves the entries (a target in a lower layer stays as given).
	root := func(i int) (int, error) {
		for range len(out) + 1 {
			h := out[i].Header
			if h.Typeflag != tar.TypeLink {
				return i, nil
			}
			j, ok := byName[h.Linkname]
			if !ok {
				return -1, nil
			}
			i = j
		}
		return 0, fmt.Errorf("resolving hardlink %q: link cycle: %w", out[i].Header.Name, ErrUnsafePath)
	}
	groups := make(map[int][]int) // content entry -> its links, in output order
	var roots []int
	for i := range out {
		if out[i].Header.Typeflag != tar.TypeLink {
			continue
		}
		r, err := root(i)
		if err != nil {
			return err
		}
		if r < 0 {
			continue
		}
		if out[r].Header.Typeflag != tar.TypeReg {
			return fmt.Errorf("checking hardlink %q: target %q is not a regular file: %w", out[i].Header.Name, out[r].Header.Name, ErrUnsupportedType)
		}
		if _, ok := groups[r]; !ok {
			roots = append(roots, r)
		}
		groups[r] = append(groups[r], i)
	}
	for _, r := range roots {
		members := append(groups[r], r)
		slices.Sort(members)
		content := *out[r].Header
		open := out[r].Open
		content.Name = out[members[0]].Header.Name
		out[members[0]] = Entry{Header: &content, Open: open}
		for _, i := range members[1:] {
			// Extractors take nothing but the name from a hardlink header; keeping
			// the content's metadata (minus xattrs) mirrors what tar(1) writes
			// without forcing PAX headers.
			h := content
			h.Name = out[i].Header.Name
			h.Typeflag = tar.TypeLink
			h.Linkname = content.Name
			h.Size = 0
			h.PAXRecords = nil
			out[i] = Entry{Header: &h}
		}
	}
	return nil
}

// cleanName makes a tar path relative and clean, refusing any that climbs out of the root.
func cleanName(name string) (string, error) {
	rel := strings.TrimLeft(name, "/")
	c := path.Clean(rel)
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("cleaning path %q: escapes the layer root: %w", name, ErrUnsafePath)
	}
	if c == "." {
		return "", nil
	}
	return c, nil
}

// normaliseHeader returns a copy of h with everything that does not describe the file
// itself removed, or nil for the root directory (which belongs to the image, not to
// a layer).
func normaliseHeader(in *tar.Header, clamp func(time.Time) time.Time) (*tar.Header, error) {
	name, err := cleanName(in.Name)
	if err != nil {
		return nil, err
	}
	typ := in.Typeflag
	if typ == tar.TypeRegA { //nolint:staticcheck // old archives still use it
		typ = tar.TypeReg
	}
	h := &tar.Header{
		Typeflag: typ,
		Name:     name,
		Mode:     in.Mode & 0o7777, // permissions plus setuid, setgid and sticky
		Uid:      in.Uid,
		Gid:      in.Gid,
		ModTime:  clamp(in.ModTime),
		Format:   tar.FormatUnknown, // lets archive/tar pick USTAR, and PAX only when needed
	}
	if name == "" {
		if typ == tar.TypeDir {
			return nil, nil
		}
		return nil, fmt.Errorf("normalising %q: only a directory may name the root: %w", in.Name, ErrUnsafePath)
	}
	switch typ {
	case tar.TypeReg:
		if in.Size < 0 {
			return nil, fmt.Errorf("normalising %q: negative size %d: %w", in.Name, in.Size, ErrSizeMismatch)
		}
		h.Size = in.Size
	case tar.TypeDir:
		h.Name += "/"
	case tar.TypeSymlink:
		if in.Linkname == "" {
			return nil, fmt.Errorf("normalising symlink %q: empty target: %w", in.Name, ErrUnsupportedType)
		}
		// Symlink targets are resolved inside the container at run time, so they are
		// kept exactly as given.
		h.Linkname = in.Linkname
	case tar.TypeLink:
		target, err := cleanName(in.Linkname)
		if err != nil {
			return nil, fmt.Errorf("normalising hardlink %q: %w", in.Name, err)
		}
		if target == "" || target == name {
			return nil, fmt.Errorf("normalising hardlink %q to %q: %w", in.Name, in.Linkname, ErrUnsafePath)
		}
		h.Linkname = target
	case tar.TypeChar, tar.TypeBlock:
		h.Devmajor, h.Devminor = in.Devmajor, in.Devminor
	case tar.TypeFifo:
	default:
		return nil, fmt.Errorf("normalising %q: type %q: %w", in.Name, typ, ErrUnsupportedType)
	}
	// Only extended attributes survive from the PAX records: times, names and vendor
	// records would make the digest depend on the machine that built the files.
	for k, v := range in.Xattrs { //nolint:staticcheck // still filled by older callers
		setPAX(h, xattrPrefix+k, v)
	}
	for k, v := range in.PAXRecords {
		if strings.HasPrefix(k, xattrPrefix) {
			setPAX(h, k, v)
		}
	}
	return h, nil
}

func setPAX(h *tar.Header, k, v string) {
	if h.PAXRecords == nil {
		h.PAXRecords = make(map[string]string)
	}
	h.PAXRecords[k] = v
}

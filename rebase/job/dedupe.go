package job

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"path"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slim-dev/slim/internal/imagefs"
	"github.com/slim-dev/slim/tarball"
)

// baseOverlap is what the new layer has in common with the base.
type baseOverlap struct {
	// same counts the files the base already has byte for byte, left out of the layer,
	// baseConfig the configuration files the closure took that the base has its own
	// of, also left out; replaced the files the layer gives other content or metadata,
	// which the base's copy then wastes.
	same, baseConfig, replaced int
}

// dropBaseDuplicates leaves out of entries the regular files and symlinks that base
// already holds identically (content, link target, mode, owner, extended attributes),
// so that a file such as /etc/nsswitch.conf, which the closure takes from the source
// and the static base also ships, is not in the image twice. A file that differs stays:
// it replaces the base's, unless it is glibc system configuration under /etc that the
// closure added (added, by clean path: elfdeps.SystemConfig) rather than a --from named:
// a base's name service and resolver files are the system the result runs on (static's
// nsswitch.conf serves glibc as Debian's does), and taking the source's put both in the
// image. The closure's other data (a CA bundle with the source's own roots, OpenSSL's
// configuration) is what the program ran with and replaces the base's. Files other entries hard-link to stay, as do
// directories, whose metadata the new layer sets.
func dropBaseDuplicates(ctx context.Context, base v1.Image, entries []tarball.Entry, added map[string]bool) ([]tarball.Entry, baseOverlap, error) {
	var ov baseOverlap
	if base == nil {
		return entries, ov, nil
	}
	if ls, err := base.Layers(); err != nil {
		return nil, ov, fmt.Errorf("reading base layers: %w", err)
	} else if len(ls) == 0 {
		return entries, ov, nil
	}
	bfs, err := imagefs.New(ctx, base)
	if err != nil {
		return nil, ov, fmt.Errorf("reading the base: %w", err)
	}
	defer bfs.Close()
	linked := map[string]bool{}
	for _, e := range entries {
		if e.Header.Typeflag == tar.TypeLink {
			linked[cleanPath(e.Header.Linkname)] = true
		}
	}
	out := entries[:0:0]
	for _, e := range entries {
		h := e.Header
		name := cleanPath(h.Name)
		if (h.Typeflag != tar.TypeReg && h.Typeflag != tar.TypeSymlink) || linked[name] {
			out = append(out, e)
			continue
		}
		fi, err := bfs.Lstat(name)
		if errors.Is(err, fs.ErrNotExist) || (err == nil && !realParents(bfs, name)) {
			out = append(out, e)
			continue
		}
		if err != nil {
			return nil, ov, fmt.Errorf("reading %s in the base: %w", name, err)
		}
		same, err := sameFile(bfs, name, fi, e)
		if err != nil {
			return nil, ov, err
		}
		if same {
			ov.same++
			continue
		}
		if added[name] && strings.HasPrefix(name, "etc/") && fi.Mode().IsRegular() && h.Typeflag == tar.TypeReg {
			ov.baseConfig++
			continue
		}
		ov.replaced++
		out = append(out, e)
	}
	return out, ov, nil
}

func cleanPath(name string) string { return strings.TrimPrefix(path.Clean("/"+name), "/") }

// realParents reports whether every parent of name is a directory in the base, not a
// symlink: a layer whose own directory replaces a base's symlink (/lib on a merged-/usr
// base) would hide the base's file, so a file reached through one is kept.
func realParents(bfs *imagefs.FS, name string) bool {
	for d := path.Dir(name); d != "." && d != "/"; d = path.Dir(d) {
		fi, err := bfs.Lstat(d)
		if err != nil || !fi.IsDir() {
			return false
		}
	}
	return true
}

// sameFile reports whether the base's name (fi) is what e would write.
func sameFile(bfs *imagefs.FS, name string, fi fs.FileInfo, e tarball.Entry) (bool, error) {
	bh, ok := fi.Sys().(*tar.Header)
	h := e.Header
	if !ok || bh.Typeflag != h.Typeflag || bh.Mode&0o7777 != h.Mode&0o7777 || bh.Uid != h.Uid || bh.Gid != h.Gid ||
		!maps.Equal(xattrs(bh), xattrs(h)) {
		return false, nil
	}
	if h.Typeflag == tar.TypeSymlink {
		return bh.Linkname == h.Linkname, nil
	}
	if bh.Size != h.Size || e.Open == nil {
		return false, nil
	}
	a, err := bfs.Open(name)
	if err != nil {
		return false, fmt.Errorf("reading %s in the base: %w", name, err)
	}
	defer a.Close()
	b, err := e.Open()
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", name, err)
	}
	defer b.Close()
	return sameBytes(a, b)
}

func xattrs(h *tar.Header) map[string]string {
	out := map[string]string{}
	for k, v := range h.PAXRecords {
		if strings.HasPrefix(k, "SCHILY.xattr.") {
			out[k] = v
		}
	}
	return out
}

// sameBytes compares two streams in blocks, stopping at the first difference.
func sameBytes(a, b io.Reader) (bool, error) {
	ba, bb := make([]byte, 64<<10), make([]byte, 64<<10)
	for {
		na, ea := io.ReadFull(a, ba)
		nb, eb := io.ReadFull(b, bb)
		if !bytes.Equal(ba[:na], bb[:nb]) {
			return false, nil
		}
		aEnd := ea == io.EOF || ea == io.ErrUnexpectedEOF
		bEnd := eb == io.EOF || eb == io.ErrUnexpectedEOF
		if ea != nil && !aEnd {
			return false, ea
		}
		if eb != nil && !bEnd {
			return false, eb
		}
		if aEnd || bEnd {
			return aEnd && bEnd, nil
		}
	}
}

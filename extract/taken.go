package extract

import (
	"archive/tar"
	"fmt"
	"io/fs"
	"path"
	"testing/fstest"
)

// Taken is one file of a FileSet (not a directory) and where it came from, for what
// looks at the sources of a result: package ownership (extract/pkgdb) and SBOMs.
type Taken struct {
	Path    string // absolute output path
	Real    string // absolute real path in the source of the entry (a link's own)
	FS      fs.FS  // the source; nil for a file slim generated (AddFile)
	Source  string // the --from SRC
	Regular bool
	Mode    fs.FileMode // permission bits
}

// Taken lists the set's files and links, sorted by output path.
func (s *FileSet) Taken() []Taken {
	var out []Taken
	for _, name := range s.names() {
		it := s.items[name]
		if it.hdr.Typeflag == tar.TypeDir || it.implicit {
			continue
		}
		t := Taken{Path: "/" + name, Real: "/" + it.src, FS: it.fsys, Source: it.origin.name, Regular: it.hdr.Typeflag == tar.TypeReg, Mode: fs.FileMode(it.hdr.Mode) & fs.ModePerm}
		if it.origin == generated {
			t.FS, t.Real = nil, ""
		}
		out = append(out, t)
	}
	return out
}

// generated is the origin of the files slim writes itself (package metadata).
var generated = &origin{name: "slim"}

// AddFile adds a file slim generates (package metadata), mode 0644 and owned by root,
// with any missing parent directories (0755). A different entry already at name is a
// conflict (ErrConflict); the same content is kept once.
func (s *FileSet) AddFile(name string, data []byte) error {
	name = path.Clean(rel(name))
	for dir := path.Dir(name); dir != "."; dir = path.Dir(dir) {
		h := &tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755}
		if err := s.add(&item{hdr: h, origin: generated, reason: reasonParent, implicit: true}); err != nil {
			return fmt.Errorf("adding /%s: %w", name, err)
		}
	}
	h := &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(data))}
	it := &item{hdr: h, fsys: fstest.MapFS{"f": {Data: data, Mode: 0o644}}, src: "f", origin: generated,
		reason: "package metadata", key: linkKey{generated, 0, "generated:" + name}}
	return s.add(it)
}

package extract

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strings"
	"syscall"

	"github.com/moby/patternmatcher"

	"github.com/slim-dev/slim/extract/elfdeps"
	"github.com/slim-dev/slim/internal/rootfs"
	"github.com/slim-dev/slim/tarball"
)

// origin tells the files of one Select call apart from those of another, so that
// hardlink identities of different sources never meet. It is never empty: pointers to
// zero-size values may compare equal.
type origin struct{ name string }

// excluded says whether the spec being taken excludes src, a path inside the tree t
// it names (--exclude matches paths relative to the named one, as BuildKit's do).
func (s *selector) excluded(src string, t *tree) bool {
	if s.cur == nil || s.cur.exclude == nil || t == nil {
		return false
	}
	r, ok := strings.CutPrefix(src, t.src+"/")
	if t.src == "." || t.src == "" {
		r, ok = src, true
	}
	if !ok || r == "" {
		return false
	}
	m, err := s.cur.exclude.MatchesOrParentMatches(r)
	return err == nil && m
}

// applyAttrs gives a header the owner and mode the spec being taken asks for.
func (s *selector) applyAttrs(h *tar.Header) {
	if s.cur == nil {
		return
	}
	if o := s.cur.owner; o != nil {
		h.Uid, h.Gid, h.Uname, h.Gname = o.UID, o.GID, "", ""
	}
	if m := s.cur.mode; m != nil && h.Typeflag != tar.TypeSymlink {
		h.Mode = h.Mode&^0o7777 | int64(*m&0o7777)
	}
}

// linkKey is a regular file's identity in its source: names with the same key are one
// file (hardlinks) and stay one in the output.
type linkKey struct {
	origin *origin
	// spec numbers the spec that took the file (0 for the closure): each COPY makes
	// files of its own, so one source file named by two specs is two files, as
	// BuildKit makes it; hardlinks within what one spec takes stay hardlinks.
	spec int
	id   any
}

// item is one entry of a FileSet.
type item struct {
	hdr      *tar.Header // Name is the output path, relative and clean
	fsys     fs.FS
	src      string // real path in fsys of the content (regular files)
	origin   *origin
	reason   string
	key      linkKey // regular files only
	implicit bool    // a parent directory that the source does not have
	taken    bool    // taken by takeTree, with its subtree: not only as a parent
}

// FileSet is what Select took: output paths, where their content comes from, and why.
// Content is read from the source file systems only when Entries are written, so they
// must stay readable until then.
type FileSet struct {
	items map[string]*item
}

// File is one entry of a FileSet, for reports.
type File struct {
	Path   string `json:"path"` // absolute output path
	Size   int64  `json:"size"` // content bytes (regular files)
	Reason string `json:"reason"`
	Source string `json:"source"`
}

// reasonParent is the Reason of a directory taken only to hold what was.
const reasonParent = "parent directory"

// Named reports whether a --from named f (or a directory that holds it).
func (f File) Named() bool { return strings.HasPrefix(f.Reason, "--from ") }

// Added reports whether f was added by the closure (--deps): neither named by a
// --from, nor a parent directory, nor package metadata.
func (f File) Added() bool {
	return !f.Named() && f.Reason != reasonParent && f.Reason != ReasonMetadata
}

// Select takes the paths named by specs (all from one source, fsys) with everything they
// need: parent directories, the targets of symlinks they hold and, unless WithDeps(DepsNone),
// the ELF closure of every executable and shared object (see elfdeps).
//
// fsys must implement fs.ReadLinkFS: symlinks are copied as symlinks and followed by
// this package. A missing path gives an error wrapping ErrNotFound, a glob matching nothing
// one wrapping ErrNoMatch. When shared libraries or interpreters cannot be found, Select
// returns the FileSet of everything else together with an error wrapping elfdeps.ErrMissing
// for each, so that a caller may go on (--force).
func Select(fsys fs.FS, specs []Spec, opts ...Option) (*FileSet, error) {
	o, err := makeOptions(opts)
	if err != nil {
		return nil, err
	}
	links, ok := fsys.(fs.ReadLinkFS)
	if !ok {
		return nil, fmt.Errorf("selecting files from %s, a %T: it does not implement fs.ReadLinkFS: %w", o.source, fsys, errors.ErrUnsupported)
	}
	s := &selector{
		r:      resolver{fsys: fsys, links: links},
		o:      o,
		origin: &origin{name: o.source},
		set:    &FileSet{items: map[string]*item{}},
	}
	for _, sp := range specs {
		if err := s.takeSpec(sp); err != nil {
			return nil, err
		}
	}
	if o.program != "" {
		if err := s.takeProgram(o.program, o.programWhy); err != nil {
			return nil, err
		}
	}
	for _, n := range o.files {
		if err := s.takeProgram(n.path, n.why); err != nil {
			return nil, err
		}
	}
	for _, rn := range o.runs {
		if err := s.takeProgram(rn.path, rn.why); err != nil {
			return nil, err
		}
	}
	var missing error
	if err := s.finish(&missing); err != nil {
		return nil, err
	}
	if missing != nil {
		return s.set, fmt.Errorf("resolving shared libraries and interpreters in %s: %w", o.source, missing)
	}
	return s.set, nil
}

// tree is a copy in progress: the real source path that was named and where it goes.
type tree struct{ src, out string }

// pendingLink is a symlink found inside a copied tree.
type pendingLink struct {
	link string // real source path
	t    tree
}

type selector struct {
	r       resolver
	o       options
	origin  *origin
	set     *FileSet
	pending []pendingLink // symlinks taken whose targets are still to take
	checked int           // regular files before this index of order already went through elfdeps
	order   []string      // regular files taken, in order, for elfdeps
	sources []string      // source files taken not yet given to elfdeps for their imports
	elf     *elfdeps.Resolver
	cur     *specAttrs // the spec being taken, while takeSpec runs
	specN   int        // the number of the spec being taken (from 1), for linkKey
	nspecs  int
}

// specAttrs are what a spec asks of the files it names beyond taking them.
type specAttrs struct {
	owner   *Owner
	mode    *uint32
	exclude *patternmatcher.PatternMatcher
}

func (s *selector) where(p string) string { return s.o.source + ":" + p }

// takeSpec takes what one spec names.
func (s *selector) takeSpec(sp Spec) error {
	if sp.Exact {
		return s.takeExact(sp)
	}
	// Specs may come from callers other than ParseFrom: clean and check them here too.
	attrs := &specAttrs{owner: sp.Owner, mode: sp.Mode}
	pivot := sp.Pivot
	if len(sp.Exclude) > 0 {
		pm, err := patternmatcher.New(sp.Exclude)
		if err != nil {
			return fmt.Errorf("taking from %s: excluding %q: %w: %w", s.o.source, sp.Exclude, err, ErrBadSpec)
		}
		attrs.exclude = pm
	}
	why := sp.Reason
	sp, err := NewSpec(sp.Path, sp.Dest)
	if err != nil {
		return fmt.Errorf("taking from %s: %w", s.o.source, err)
	}
	s.nspecs++
	s.cur, s.specN = attrs, s.nspecs
	defer func() { s.cur, s.specN = nil, 0 }()
	comps, err := splitPattern(sp.Path)
	if err != nil {
		return err
	}
	dest := sp.Dest
	if dest == "" {
		dest = sp.Path
	}
	renamed := dest != sp.Path
	contents := strings.HasSuffix(sp.Path, "/") || sp.Path == "/"
	reason := "--from " + s.where(sp.Path)
	if why != "" {
		reason = why
	}

	glob := slices.ContainsFunc(comps, hasMeta)
	var matches []string
	if glob {
		if matches, err = s.glob(comps); err != nil {
			return fmt.Errorf("matching %s: %w", s.where(sp.Path), err)
		}
		if len(matches) == 0 {
			return fmt.Errorf("matching %s: nothing matches: %w", s.where(sp.Path), ErrNoMatch)
		}
	} else {
		matches = []string{rel(sp.Path)}
	}

	for _, m := range matches {
		// A named symlink is copied as its target's content under its own name, as
		// Dockerfile COPY does: the user named the file, not the link.
		real, _, err := rootfs.Resolve(s.r.links, m, true)
		if err != nil && glob && !contents && errors.Is(err, fs.ErrNotExist) {
			// A glob matched a dangling symlink: there is no content to copy, and the
			// user did not name it, so it is kept as the image has it.
			if link, _, lerr := rootfs.Resolve(s.r.links, m, false); lerr == nil {
				real, err = link, nil
			}
		}
		if err != nil {
			return fmt.Errorf("taking %s: %w", s.where("/"+m), describe(err))
		}
		fi, err := s.r.links.Lstat(real)
		if err != nil {
			return fmt.Errorf("taking %s: %w", s.where("/"+m), err)
		}
		if contents {
			if !fi.IsDir() {
				return fmt.Errorf("taking the contents of %s: not a directory: %w", s.where("/"+m+"/"), ErrNotFound)
			}
			into := rel(dest)
			if !renamed {
				into = m
			}
			outDir, err := s.placeDir(into, reason)
			if err != nil {
				return err
			}
			kids, err := fs.ReadDir(s.r.fsys, real)
			if err != nil {
				return fmt.Errorf("listing %s: %w", s.where("/"+real), err)
			}
			for _, k := range kids {
				if err := s.takeTree(join(real, k.Name()), join(outDir, k.Name()), reason, &tree{real, outDir}); err != nil {
					return err
				}
			}
			continue
		}
		out := m
		switch {
		case renamed && (glob || strings.HasSuffix(dest, "/")):
			out = join(rel(dest), path.Base(m))
		case renamed:
			out = rel(dest)
		}
		if out == "." {
			return fmt.Errorf("taking %s: a %s cannot replace the root directory: %w", s.where("/"+m), kind(fi), ErrBadSpec)
		}
		outDir, err := s.placeDir(path.Dir(out), reason)
		if err != nil {
			return err
		}
		if pivot != "" {
			if err := s.copyParents(rel(pivot), path.Dir(m), outDir); err != nil {
				return err
			}
		}
		out = join(outDir, path.Base(out))
		if real != m && !fi.IsDir() {
			origin, err := elfdeps.UsesOrigin(s.r.fsys, real)
			if err != nil {
				return fmt.Errorf("reading %s: %w", s.where("/"+real), err)
			}
			if origin {
				if err := s.takeOriginLink(out, real, renamed, reason); err != nil {
					return err
				}
				continue
			}
		}
		if err := s.takeTree(real, out, reason, &tree{real, out}); err != nil {
			return err
		}
	}
	return nil
}

// takeOriginLink takes a named symlink to a program that finds its libraries through
// $ORIGIN (java, through /etc/alternatives): glibc expands $ORIGIN from the program's
// real path, so a copy under the link's name would look in the wrong place. The link is
// kept as a link (under a new name, one to the real path) and the program at its real
// path, with every link on the way.
func (s *selector) takeOriginLink(out, real string, renamed bool, reason string) error {
	if renamed {
		h := &tar.Header{Typeflag: tar.TypeSymlink, Name: out, Linkname: "/" + real, Mode: 0o777}
		if err := s.set.add(&item{hdr: h, origin: s.origin, reason: reason, taken: true}); err != nil {
			return err
		}
		return s.takeAt(real, "target of "+reason+", at its real path for $ORIGIN", &tree{real, real})
	}
	return s.takeTree(out, out, reason, &tree{out, out})
}

// takeProgram takes the program at p under its own name, unless a spec took that name.
// takeProgram takes p under its own name for the reason why (WithProgram, WithFile).
func (s *selector) takeProgram(p, why string) error {
	p = rel(p)
	if _, ok := s.set.items[p]; ok {
		return nil
	}
	dir, err := s.placeDir(path.Dir(p), why)
	if err != nil {
		return err
	}
	out := join(dir, path.Base(p))
	if _, ok := s.set.items[out]; ok {
		return nil
	}
	return s.takeTree(out, out, why, &tree{out, out})
}

// takeExact takes what an Exact spec names: the symlinks on the way and at the
// end as symlinks (a chain of them link by link), then a file with its closure or
// a directory alone.
func (s *selector) takeExact(sp Spec) error {
	p, err := cleanAbs("path", sp.Path)
	if err != nil || (sp.Dest != "" && sp.Dest != sp.Path) || strings.HasSuffix(p, "/") {
		return fmt.Errorf("taking %s exactly: want a clean path and no other destination: %w", s.where(sp.Path), errors.Join(err, ErrBadSpec))
	}
	reason := sp.Reason
	if reason == "" {
		reason = "--from " + s.where(p)
	}
	cur := rel(p)
	for range 40 { // the kernel's limit of symlinks in one lookup
		if cur == "." {
			return nil
		}
		dir, err := s.placeDir(path.Dir(cur), reason)
		if err != nil {
			return err
		}
		cur = join(dir, path.Base(cur))
		fi, err := s.r.links.Lstat(cur)
		if err != nil {
			return fmt.Errorf("taking %s: %w", s.where("/"+cur), describe(err))
		}
		switch {
		case fi.IsDir():
			h, err := header(fi, cur, "")
			if err != nil {
				return err
			}
			if old, ok := s.set.items[cur]; ok && !old.implicit {
				if old.reason == reasonParent {
					old.reason = reason
				}
				return nil
			}
			return s.set.add(&item{hdr: h, fsys: s.r.fsys, src: cur, origin: s.origin, reason: reason})
		case fi.Mode()&fs.ModeSymlink != 0:
			if err := s.takeTree(cur, cur, reason, nil); err != nil {
				return err
			}
			target, err := s.r.links.ReadLink(cur)
			if err != nil {
				return fmt.Errorf("reading symlink %s: %w", s.where("/"+cur), err)
			}
			if !strings.HasPrefix(target, "/") {
				target = path.Dir("/"+cur) + "/" + target
			}
			if cur, err = cleanAbs("symlink target", path.Clean(target)); err != nil {
				return nil // climbs out of the root: nothing to take
			}
			cur = rel(cur)
			if _, _, err := rootfs.Resolve(s.r.links, cur, true); err != nil {
				return nil // dangling or a loop: the link is kept as the source has it
			}
			reason = "target of symlink " + s.where(p)
		default:
			return s.takeTree(cur, cur, reason, nil)
		}
	}
	return nil
}

// glob expands a pattern's components over the source, ** matching any number of
// directories (symlinked directories are not entered by **, as in bash's globstar, so
// a link loop cannot run forever). Matches are lexical paths, sorted.
func (s *selector) glob(comps []string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	var walk func(dir string, rest []string) error
	walk = func(dir string, rest []string) error {
		if len(rest) == 0 {
			if dir == "" || seen[dir] {
				return nil
			}
			if _, _, err := rootfs.Resolve(s.r.links, dir, false); err == nil {
				seen[dir] = true
				out = append(out, dir)
			}
			return nil
		}
		c := rest[0]
		if !hasMeta(c) && c != "**" {
			return walk(join(dir, c), rest[1:])
		}
		kids, err := s.r.readDir(join(dir, "."))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrInvalid) || isNotDir(err) {
				return nil
			}
			return fmt.Errorf("listing /%s: %w", dir, err)
		}
		if c == "**" {
			if err := walk(dir, rest[1:]); err != nil {
				return err
			}
			for _, k := range kids {
				if k.IsDir() {
					if err := walk(join(dir, k.Name()), rest); err != nil {
						return err
					}
				}
			}
			return nil
		}
		for _, k := range kids {
			ok, err := path.Match(c, k.Name())
			if err != nil {
				return fmt.Errorf("matching %q: %w: %w", c, err, ErrBadSpec)
			}
			if ok {
				if err := walk(join(dir, k.Name()), rest[1:]); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk("", comps); err != nil {
		return nil, err
	}
	slices.Sort(out)
	return out, nil
}

// placeDir makes sure the output has the directory dir and its parents, mirroring the
// source: directories that the source has are taken with its modes and owners, symlinked
// ones as the symlinks and their targets (so the result joins up with the real paths
// elfdeps returns), and the rest are made up (0755, root). It returns the real output
// path of dir.
func (s *selector) placeDir(dir, reason string) (string, error) {
	cur := ""
	mapped := true
	for _, c := range splitComps(dir) {
		if c == "." {
			continue
		}
		if mapped {
			next, links, err := rootfs.Resolve(s.r.links, join(cur, c), true)
			if err == nil {
				fi, err := s.r.links.Lstat(next)
				if err == nil && fi.IsDir() {
					for _, l := range links {
						if err := s.takeAt(l, "symlink on the way to /"+dir, nil); err != nil {
							return "", err
						}
					}
					if err := s.takeParents(next); err != nil {
						return "", err
					}
					cur = next
					continue
				}
			}
			mapped = false
		}
		cur = join(cur, c)
		h := &tar.Header{Typeflag: tar.TypeDir, Name: cur, Mode: 0o755}
		s.applyAttrs(h) // BuildKit makes a COPY's missing directories with its --chown/--chmod
		if err := s.set.add(&item{hdr: h, origin: s.origin, reason: reasonParent, implicit: true}); err != nil {
			return "", err
		}
	}
	if cur == "" {
		cur = "."
	}
	return cur, nil
}

// copyParents gives the output directories on the way to a --parents copy the modes and
// owners of the source directories they stand for: src's and its parents' below pivot,
// as dst's and its parents'.
func (s *selector) copyParents(pivot, src, dst string) error {
	for ; src != pivot && src != "." && src != "" && dst != "." && (pivot == "." || strings.HasPrefix(src, pivot+"/")); src, dst = path.Dir(src), path.Dir(dst) {
		fi, err := s.r.links.Lstat(src)
		if err != nil {
			return fmt.Errorf("reading parent directory %s: %w", s.where("/"+src), err)
		}
		if !fi.IsDir() {
			continue
		}
		h, err := header(fi, dst, "")
		if err != nil {
			return err
		}
		if err := s.set.add(&item{hdr: h, fsys: s.r.fsys, src: src, origin: s.origin, reason: reasonParent}); err != nil {
			return err
		}
	}
	return nil
}

// takeParents takes the real directory p and its parents from the source.
func (s *selector) takeParents(p string) error {
	for d := p; d != "." && d != ""; d = path.Dir(d) {
		if it, ok := s.set.items[d]; ok && !it.implicit {
			return nil // its parents were taken with it
		}
		fi, err := s.r.links.Lstat(d)
		if err != nil {
			return fmt.Errorf("reading parent directory %s: %w", s.where("/"+d), err)
		}
		h, err := header(fi, d, "")
		if err != nil {
			return err
		}
		if err := s.set.add(&item{hdr: h, fsys: s.r.fsys, src: d, origin: s.origin, reason: reasonParent}); err != nil {
			return err
		}
	}
	return nil
}

// takeTree takes src (a real path, not followed if a symlink) as out, and everything
// under it if it is a directory. out's parent must already be in the set. Symlinks met
// inside a tree t get their targets taken later; a symlink taken on its own (a link on
// the way to a directory, a library's soname link) already has its target in the set.
func (s *selector) takeTree(src, out, reason string, t *tree) error {
	if fi, err := s.r.links.Lstat(src); err == nil && fi.Mode()&fs.ModeSocket != 0 {
		return nil // a socket belongs to a running process; no layer can hold one
	}
	fi, err := s.r.links.Lstat(src)
	if err != nil {
		return fmt.Errorf("taking %s: %w", s.where("/"+src), describe(err))
	}
	link := ""
	if fi.Mode()&fs.ModeSymlink != 0 {
		if link, err = s.r.links.ReadLink(src); err != nil {
			return fmt.Errorf("reading symlink %s: %w", s.where("/"+src), err)
		}
	}
	if s.excluded(src, t) {
		return nil
	}
	h, err := header(fi, out, link)
	if err != nil {
		return fmt.Errorf("taking %s: %w", s.where("/"+src), err)
	}
	s.applyAttrs(h)
	it := &item{hdr: h, fsys: s.r.fsys, src: src, origin: s.origin, reason: reason}
	if h.Typeflag == tar.TypeLink {
		// The source keeps hardlinks as such (a tar-like view): take the content from
		// the first name; Entries links the names again when both are taken.
		target := rel(h.Linkname)
		tfi, err := s.r.links.Lstat(target)
		if err != nil {
			return fmt.Errorf("reading hardlink target of %s: %w", s.where("/"+src), describe(err))
		}
		h.Typeflag, h.Linkname, h.Size = tar.TypeReg, "", tfi.Size()
		it.src = target
		it.key = linkKey{s.origin, s.specN, "path:" + target}
	} else if h.Typeflag == tar.TypeReg {
		it.key = linkKey{s.origin, s.specN, fileID(fi, src)}
	}
	if old, ok := s.set.items[out]; ok && old.origin == s.origin && old.src == it.src && !old.implicit {
		if old.taken {
			return nil
		}
		// Taken as a parent so far: now its subtree is wanted too, and the better reason.
		old.taken, old.reason = true, reason
	} else {
		it.taken = true
		if err := s.set.add(it); err != nil {
			return err
		}
	}
	switch h.Typeflag {
	case tar.TypeReg:
		s.order = append(s.order, out)
	case tar.TypeSymlink:
		if t != nil {
			s.pending = append(s.pending, pendingLink{src, *t})
		}
	case tar.TypeDir:
		kids, err := fs.ReadDir(s.r.fsys, src)
		if err != nil {
			return fmt.Errorf("listing %s: %w", s.where("/"+src), err)
		}
		for _, k := range kids {
			if err := s.takeTree(join(src, k.Name()), join(out, k.Name()), reason, t); err != nil {
				return err
			}
		}
	}
	return nil
}

// finish takes symlink targets and ELF dependencies until nothing new comes: a
// library's symlink brings a target, a symlink target may be a program.
func (s *selector) finish(missing *error) error {
	for len(s.pending) > 0 || s.checked < len(s.order) {
		for len(s.pending) > 0 {
			l := s.pending[0]
			s.pending = s.pending[1:]
			if err := s.takeTarget(l); err != nil {
				return err
			}
		}
		if s.o.deps == DepsNone {
			s.checked = len(s.order)
			continue
		}
		if err := s.takeDeps(missing); err != nil {
			return err
		}
	}
	return nil
}

// takeTarget takes what the symlink at the real path l points to, where it is in the
// source. A dangling symlink is kept as it is: the image had it so.
func (s *selector) takeTarget(p pendingLink) error {
	l := p.link
	target, err := s.r.links.ReadLink(l)
	if err != nil {
		return fmt.Errorf("reading symlink %s: %w", s.where("/"+l), err)
	}
	relative := !strings.HasPrefix(target, "/")
	if relative {
		target = path.Dir(l) + "/" + target
	}
	real, links, err := rootfs.Resolve(s.r.links, target, true)
	if err != nil || real == "." {
		// Dangling, a loop, or the whole root: nothing to take.
		return nil
	}
	if relative && (real == p.t.src || strings.HasPrefix(real, p.t.src+"/")) {
		// Inside the copied tree: the copy has it at the same relative place, even
		// when the tree was copied under another name.
		return nil
	}
	if it, ok := s.set.items[real]; ok && it.origin == s.origin && it.src == real && it.taken {
		return nil
	}
	why := "target of symlink /" + l
	for _, m := range links {
		if err := s.takeAt(m, why, nil); err != nil {
			return err
		}
	}
	return s.takeAt(real, why, &tree{real, real})
}

// takeAt takes the real path p under the same name, with its parents.
func (s *selector) takeAt(p, reason string, t *tree) error {
	if _, err := s.placeDir(path.Dir(p), reason); err != nil {
		return err
	}
	return s.takeTree(p, p, reason, t)
}

// takeDeps runs elfdeps over the regular files taken since the last run that may be
// programs or libraries, and takes what they need.
func (s *selector) takeDeps(missing *error) error {
	var inputs []string
	for _, out := range s.order[s.checked:] {
		it := s.set.items[out]
		if it == nil || it.origin != s.origin || it.hdr.Typeflag != tar.TypeReg {
			continue
		}
		if elfdeps.IsSourceName(it.src) {
			s.sources = append(s.sources, it.src)
		}
		ok, err := s.maybeProgram(it)
		if err != nil {
			return err
		}
		if ok {
			inputs = append(inputs, it.src)
			if !elfdeps.IsSourceName(it.src) {
				// A script may be source of a runtime whatever its name (#!/usr/bin/perl).
				s.sources = append(s.sources, it.src)
			}
		}
	}
	s.checked = len(s.order)
	if len(inputs) == 0 {
		return s.takeImports()
	}
	if s.elf == nil {
		eo := []elfdeps.Option{elfdeps.WithWorkdir(s.o.workdir), elfdeps.WithEnv(s.o.env), elfdeps.WithWarn(s.o.warn)}
		if s.o.program != "" && len(s.o.argv) > 0 {
			eo = append(eo, elfdeps.WithArgs(s.o.program, s.o.argv[1:]))
		}
		for _, rn := range s.o.runs {
			eo = append(eo, elfdeps.WithArgs(rn.path, rn.args))
		}
		if v, ok := rootfs.Getenv(s.o.env, "PATH"); ok {
			eo = append(eo, elfdeps.WithPath(v))
		}
		if v, ok := rootfs.Getenv(s.o.env, "LD_LIBRARY_PATH"); ok {
			eo = append(eo, elfdeps.WithLibraryPath(v))
		}
		r, err := elfdeps.New(s.r.fsys, eo...)
		if err != nil {
			return fmt.Errorf("reading the loader configuration of %s: %w", s.o.source, err)
		}
		s.elf = r
	}
	deps, err := s.elf.Closure(inputs...)
	if err != nil {
		if !errors.Is(err, elfdeps.ErrMissing) {
			return fmt.Errorf("resolving shared libraries in %s: %w", s.o.source, err)
		}
		*missing = errors.Join(*missing, err)
	}
	if err := s.takeFound(deps); err != nil {
		return err
	}
	return s.takeImports()
}

// takeFound takes what the closure found, each at its place in the source.
func (s *selector) takeFound(deps []elfdeps.Dep) error {
	for _, d := range deps {
		p := rel(d.Path)
		if it, ok := s.set.items[p]; ok && it.origin == s.origin && it.src == p {
			continue
		}
		if d.Dir {
			if err := s.takeExact(Spec{Path: "/" + p, Exact: true, Reason: d.Reason}); err != nil {
				return err
			}
			continue
		}
		if err := s.takeAt(p, d.Reason, nil); err != nil {
			return err
		}
	}
	return nil
}

// takeImports takes what the source files taken so far import, for the language
// runtimes the closure has met (elfdeps.Resolver.Imports); sources are handed over
// once, the resolver keeps them for runtimes met later.
func (s *selector) takeImports() error {
	if s.elf == nil || len(s.sources) == 0 {
		return nil
	}
	deps, err := s.elf.Imports(s.sources...)
	if err != nil {
		return fmt.Errorf("reading imports in %s: %w", s.o.source, err)
	}
	s.sources = nil
	return s.takeFound(deps)
}

// maybeProgram says whether elfdeps has anything to find for the file. Only files with an
// execute bit or a shared-object name are read: opening every file of a large tree would
// seek through compressed layers for nothing, and the loader maps nothing else. A Node
// addon (*.node) is a shared object that npm's prebuilt tarballs ship without the bit.
func (s *selector) maybeProgram(it *item) (bool, error) {
	base := path.Base(it.hdr.Name)
	if it.hdr.Mode&0o111 == 0 && !strings.HasSuffix(base, ".so") && !strings.Contains(base, ".so.") && !strings.HasSuffix(base, ".node") {
		return false, nil
	}
	f, err := it.fsys.Open(it.src)
	if err != nil {
		return false, fmt.Errorf("opening %s: %w", s.where("/"+it.src), err)
	}
	defer f.Close()
	var magic [4]byte
	n, err := io.ReadFull(f, magic[:])
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return false, fmt.Errorf("reading %s: %w", s.where("/"+it.src), err)
	}
	return bytes.HasPrefix(magic[:n], []byte("\x7fELF")) || bytes.HasPrefix(magic[:n], []byte("#!")), nil
}

// header makes the output header of a source entry named out.
func header(fi fs.FileInfo, out, link string) (*tar.Header, error) {
	h, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return nil, fmt.Errorf("reading the header of %s: %w", out, err)
	}
	h.Name = out
	if h.Typeflag == tar.TypeRegA { //nolint:staticcheck // FileInfoHeader never sets it, but keep the set uniform
		h.Typeflag = tar.TypeReg
	}
	return h, nil
}

func isNotDir(err error) bool { return errors.Is(err, syscall.ENOTDIR) }

func kind(fi fs.FileInfo) string {
	if fi.IsDir() {
		return "directory"
	}
	return "file"
}

// add puts it in the set. A path taken twice is kept once when both say the same
// (directories always do: the first one's metadata wins, a real one over a made-up
// parent); otherwise it is a conflict.
func (s *FileSet) add(it *item) error {
	name := it.hdr.Name
	old, ok := s.items[name]
	if !ok {
		s.items[name] = it
		return nil
	}
	if old.hdr.Typeflag == tar.TypeDir && it.hdr.Typeflag == tar.TypeDir {
		if old.implicit && !it.implicit {
			s.items[name] = it
		}
		return nil
	}
	if old.origin == it.origin && old.src == it.src && old.hdr.Typeflag == it.hdr.Typeflag {
		return nil
	}
	// A symlink a spec named is taken as its target's content (COPY's rule); the
	// closure finding the link there (an interpreter named by a #! line) finds that
	// content, so the named copy stands, whichever came first.
	if old.origin == it.origin {
		switch {
		case old.hdr.Typeflag == tar.TypeReg && it.hdr.Typeflag == tar.TypeSymlink && linksTo(it, old.src):
			return nil
		case old.hdr.Typeflag == tar.TypeSymlink && it.hdr.Typeflag == tar.TypeReg && linksTo(old, it.src):
			s.items[name] = it
			return nil
		}
	}
	same, err := sameEntry(old, it)
	if err != nil {
		return err
	}
	if !same {
		return fmt.Errorf("taking /%s from %s (%s): /%s from %s (%s) is already there and differs: %w",
			name, it.origin.name, it.reason, old.src, old.origin.name, old.reason, ErrConflict)
	}
	return nil
}

// linksTo says whether the symlink item l resolves, in its source, to the real path real.
func linksTo(l *item, real string) bool {
	links, ok := l.fsys.(fs.ReadLinkFS)
	if !ok || l.src == "" {
		return false
	}
	got, _, err := rootfs.Resolve(links, l.src, true)
	return err == nil && got == real
}

// sameEntry compares what two entries would write: type, mode, owner, xattrs, link
// target and content.
func sameEntry(a, b *item) (bool, error) {
	ha, hb := a.hdr, b.hdr
	if ha.Typeflag != hb.Typeflag || ha.Mode != hb.Mode || ha.Uid != hb.Uid || ha.Gid != hb.Gid ||
		ha.Linkname != hb.Linkname || ha.Size != hb.Size || !sameXattrs(ha, hb) {
		return false, nil
	}
	if ha.Typeflag != tar.TypeReg || ha.Size == 0 {
		return true, nil
	}
	return sameContent(a, b)
}

func sameXattrs(a, b *tar.Header) bool {
	x := func(h *tar.Header) map[string]string {
		m := map[string]string{}
		for k, v := range h.PAXRecords {
			if strings.HasPrefix(k, paxXattr) {
				m[k] = v
			}
		}
		return m
	}
	xa, xb := x(a), x(b)
	if len(xa) != len(xb) {
		return false
	}
	for k, v := range xa {
		if w, ok := xb[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func sameContent(a, b *item) (bool, error) {
	fa, err := a.fsys.Open(a.src)
	if err != nil {
		return false, fmt.Errorf("comparing /%s of %s: %w", a.src, a.origin.name, err)
	}
	defer fa.Close()
	fb, err := b.fsys.Open(b.src)
	if err != nil {
		return false, fmt.Errorf("comparing /%s of %s: %w", b.src, b.origin.name, err)
	}
	defer fb.Close()
	ba, bb := make([]byte, 64<<10), make([]byte, 64<<10)
	for {
		na, ea := io.ReadFull(fa, ba)
		nb, eb := io.ReadFull(fb, bb)
		if !bytes.Equal(ba[:na], bb[:nb]) {
			return false, nil
		}
		doneA := errors.Is(ea, io.EOF) || errors.Is(ea, io.ErrUnexpectedEOF)
		doneB := errors.Is(eb, io.EOF) || errors.Is(eb, io.ErrUnexpectedEOF)
		if ea != nil && !doneA {
			return false, fmt.Errorf("comparing /%s of %s: %w", a.src, a.origin.name, ea)
		}
		if eb != nil && !doneB {
			return false, fmt.Errorf("comparing /%s of %s: %w", b.src, b.origin.name, eb)
		}
		if doneA || doneB {
			return doneA == doneB, nil
		}
	}
}

// Merge adds the files of other (another source) to s. A path both have is kept once
// when both give the same entry and content; otherwise Merge fails with ErrConflict and
// s is left as it was.
func (s *FileSet) Merge(other *FileSet) error {
	if other == nil {
		return nil
	}
	next := &FileSet{items: make(map[string]*item, len(s.items)+len(other.items))}
	for k, v := range s.items {
		next.items[k] = v
	}
	for _, name := range other.names() {
		if err := next.add(other.items[name]); err != nil {
			return fmt.Errorf("merging files: %w", err)
		}
	}
	s.items = next.items
	return nil
}

func (s *FileSet) names() []string {
	out := make([]string, 0, len(s.items))
	for k := range s.items {
		out = append(out, k)
	}
	// Plain byte order puts every directory before its subtree, which both the tar
	// writer's checks and directory extraction rely on.
	slices.Sort(out)
	return out
}

// Has reports whether the set holds the absolute path p.
func (s *FileSet) Has(p string) bool {
	_, ok := s.items[rel(p)]
	return ok
}

// Files lists the set for reports, sorted by path.
func (s *FileSet) Files() []File {
	out := make([]File, 0, len(s.items))
	for _, name := range s.names() {
		it := s.items[name]
		f := File{Path: "/" + name, Reason: it.reason, Source: it.origin.name}
		if it.hdr.Typeflag == tar.TypeReg {
			f.Size = it.hdr.Size
		}
		out = append(out, f)
	}
	return out
}

// Size is the sum of the content sizes, hardlinked content counted once.
func (s *FileSet) Size() int64 {
	var n int64
	seen := map[linkKey]bool{}
	for _, it := range s.items {
		if it.hdr.Typeflag != tar.TypeReg || seen[it.key] {
			continue
		}
		seen[it.key] = true
		n += it.hdr.Size
	}
	return n
}

// ContentIDFS is a source that can name a file's content without reading it, so that
// the layer cache can tell a warm build's files unchanged without moving them (see
// tarball.Entry.ContentID). ContentID returns false when it cannot vouch for the
// content; two files it gives one ID must have the same bytes.
type ContentIDFS interface {
	fs.FS
	ContentID(name string) (string, bool)
}

// Entries returns the set as tar entries, parents before children. Names that are one
// file in their source become a hardlink group: the first name carries the content,
// and its ContentID when the source is a ContentIDFS.
func (s *FileSet) Entries() []tarball.Entry {
	names := s.names()
	first := map[linkKey]string{}
	out := make([]tarball.Entry, 0, len(names))
	for _, name := range names {
		it := s.items[name]
		h := *it.hdr
		h.PAXRecords = maps.Clone(it.hdr.PAXRecords)
		if h.Typeflag != tar.TypeReg {
			out = append(out, tarball.Entry{Header: &h})
			continue
		}
		if f, ok := first[it.key]; ok {
			h.Typeflag, h.Linkname, h.Size = tar.TypeLink, f, 0
			out = append(out, tarball.Entry{Header: &h})
			continue
		}
		first[it.key] = name
		fsys, src := it.fsys, it.src
		e := tarball.Entry{Header: &h, Open: func() (io.ReadCloser, error) {
			return fsys.Open(src)
		}}
		if c, ok := fsys.(ContentIDFS); ok {
			e.ContentID, _ = c.ContentID(src)
		}
		out = append(out, e)
	}
	return out
}

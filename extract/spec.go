package extract

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

var (
	// ErrBadSpec is wrapped by every error about a --from spec or a path pattern that
	// cannot be understood.
	ErrBadSpec = errors.New("bad --from spec")
	// ErrUnsafePath means a path climbs out of the image root.
	ErrUnsafePath = errors.New("unsafe path")
	// ErrNotFound means a named path (or a user or group) is not in the source.
	ErrNotFound = errors.New("not found")
	// ErrNoMatch means a glob matched nothing in the source.
	ErrNoMatch = errors.New("no match")
	// ErrConflict means one destination path is taken twice with different content.
	ErrConflict = errors.New("conflicting files")
)

// schemes are the reference prefixes whose "://" would otherwise be taken for the
// ":/" that ends SRC.
var schemes = [...]string{"oci-layout://", "docker-archive://", "docker-daemon://"}

// Spec is one path to take from a source and where to put it.
type Spec struct {
	// Path is absolute and clean; it may be a glob, and a trailing "/" means the
	// directory's contents rather than the directory itself.
	Path string
	// Dest is absolute and clean; empty means Path. A trailing "/" means "into this
	// directory". When Path is a glob, an explicit Dest is always the directory the
	// matches go into (Docker would take a single match's Dest as a file name, so that
	// a second match appearing later changes what the spec means; here it never does).
	Dest string
	// Owner and Mode, when set, replace the owner and the permission bits (with
	// setuid, setgid and sticky) of what the spec names, not of parent directories or
	// of what the closure adds: COPY --chown and --chmod.
	Owner *Owner
	Mode  *uint32
	// Exclude lists patterns, in .dockerignore's syntax and relative to each named
	// path, whose matches are not taken: COPY --exclude.
	Exclude []string
	// Pivot, for COPY --parents, is the absolute source directory below which the
	// directories on the way to Path come along with it, with their modes and owners.
	Pivot string
	// Exact takes Path (never a glob; Dest must be Path or empty) as the source
	// has it, for a file a traced run touched: a symlink as a symlink, with what
	// it points to taken the same way, and a directory without its contents.
	Exact bool
	// Reason, when set, is what the report says of what the spec names, instead
	// of "--from SRC:PATH".
	Reason string
}

// Owner is a numeric owner.
type Owner struct{ UID, GID int }

// From is a parsed --from SRC:PATH[:DEST].
type From struct {
	// Source is a build stage name or index, or an image reference.
	Source string
	Spec
}

// String gives the spec back in the form ParseFrom reads.
func (f From) String() string {
	s := f.Source + ":" + f.Path
	if f.Dest != "" && f.Dest != f.Path {
		s += ":" + f.Dest
	}
	return s
}

// ParseFrom parses SRC:PATH[:DEST]. SRC ends at the first ":/" (after the "://" of an
// oci-layout, docker-archive or docker-daemon reference), PATH at the next one. DEST
// defaults to PATH.
func ParseFrom(s string) (From, error) {
	skip := 0
	for _, sc := range schemes {
		if strings.HasPrefix(s, sc) {
			skip = len(sc)
			break
		}
	}
	i := strings.Index(s[skip:], ":/")
	if i < 0 {
		return From{}, fmt.Errorf("parsing --from %q: want SRC:/PATH[:/DEST]: %w", s, ErrBadSpec)
	}
	src, rest := s[:skip+i], s[skip+i+1:]
	if src == "" || len(src) == skip {
		return From{}, fmt.Errorf("parsing --from %q: empty source: %w", s, ErrBadSpec)
	}
	for _, sc := range schemes {
		// "oci-layout:/dir" (one slash) would silently become source "oci-layout"
		// and path "/dir": say what was meant instead.
		if name := strings.TrimSuffix(sc, "://"); src == name {
			return From{}, fmt.Errorf("parsing --from %q: write %sDIR, with two slashes: %w", s, sc, ErrBadSpec)
		}
	}
	if strings.ContainsAny(src, " \t\r\n") {
		return From{}, fmt.Errorf("parsing --from %q: source %q contains white space: %w", s, src, ErrBadSpec)
	}
	p, dest := rest, ""
	if j := strings.Index(rest[1:], ":/"); j >= 0 {
		p, dest = rest[:j+1], rest[j+2:]
	}
	sp, err := NewSpec(p, dest)
	if err != nil {
		return From{}, fmt.Errorf("parsing --from %q: %w", s, err)
	}
	return From{Source: src, Spec: sp}, nil
}

// NewSpec checks and cleans a PATH and DEST pair (DEST may be empty).
func NewSpec(p, dest string) (Spec, error) {
	cp, err := cleanAbs("path", p)
	if err != nil {
		return Spec{}, err
	}
	if _, err := splitPattern(cp); err != nil {
		return Spec{}, err
	}
	if dest == "" {
		return Spec{Path: cp, Dest: cp}, nil
	}
	cd, err := cleanAbs("destination", dest)
	if err != nil {
		return Spec{}, err
	}
	return Spec{Path: cp, Dest: cd}, nil
}

// cleanAbs cleans an absolute path, keeping a trailing "/" (or "/.") as "/" because it
// changes what is copied. A ".." that climbs above the root is refused rather than
// clamped: it is a mistake or an attack, never what the user meant.
func cleanAbs(what, p string) (string, error) {
	if !strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("checking %s %q: not absolute: %w", what, p, ErrBadSpec)
	}
	if strings.ContainsRune(p, 0) {
		return "", fmt.Errorf("checking %s %q: contains a NUL byte: %w", what, p, ErrBadSpec)
	}
	depth := 0
	for _, c := range strings.Split(p, "/") {
		switch c {
		case "", ".":
		case "..":
			if depth--; depth < 0 {
				return "", fmt.Errorf("checking %s %q: climbs out of the root: %w", what, p, ErrUnsafePath)
			}
		default:
			depth++
		}
	}
	c := path.Clean(p)
	if c != "/" && (strings.HasSuffix(p, "/") || strings.HasSuffix(p, "/.")) {
		c += "/"
	}
	return c, nil
}

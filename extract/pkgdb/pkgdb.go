// Package pkgdb owns what slim knows about packages: which package owns each file taken
// from a source (dpkg's info/*.list and status, distroless status.d, Alpine's apk
// database, and inside the files taken: Go build info, Node package.json, Python
// dist-info, Java pom.properties), the trimmed metadata a result keeps for scanners
// (Metadata), and the package list of any image (Installed).
//
// It works over an fs.FS of the source that implements fs.ReadLinkFS: the paths a
// database names are those a package installed, which under a merged /usr are not
// where the files are; both sides go through rootfs.Resolve before they are compared.
package pkgdb

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/slim-dev/slim/internal/rootfs"
)

// Kind is a package's ecosystem, in the words of package URLs.
type Kind string

const (
	Deb      Kind = "deb"
	Apk      Kind = "apk"
	GoModule Kind = "golang"
	NPM      Kind = "npm"
	PyPI     Kind = "pypi"
	Maven    Kind = "maven"
)

// Package is one package of a source or an image.
type Package struct {
	Kind    Kind   `json:"type"`
	Name    string `json:"name"`
	Version string `json:"version"`
	Arch    string `json:"arch,omitempty"`
	// Source and SourceVersion are the source package (dpkg's Source:, apk's o:) when
	// the metadata names one.
	Source        string `json:"source,omitempty"`
	SourceVersion string `json:"sourceVersion,omitempty"`
	License       string `json:"license,omitempty"`
	// Namespace is what the PURL puts before the name: the distribution (debian,
	// alpine), a Maven group, an npm scope.
	Namespace string `json:"namespace,omitempty"`
	// Files are the package's files that were taken, absolute source paths, sorted.
	Files []string `json:"files,omitempty"`
	// Record is where the package's metadata was read, an absolute path.
	Record string `json:"record,omitempty"`

	stanza []byte            // dpkg: the status stanza; apk: the record
	sums   map[string]string // dpkg: real path → md5sum
	listed []string          // dpkg: every path its list names, as listed
}

// FullName is the name as the ecosystem writes it: a Go module's or Maven artifact's
// path, an npm package with its scope.
func (p Package) FullName() string {
	switch {
	case p.Namespace == "" || p.Kind == Deb || p.Kind == Apk:
		return p.Name
	case p.Kind == Maven:
		return p.Namespace + ":" + p.Name
	}
	return p.Namespace + "/" + p.Name
}

// PURL is the package URL of p (https://github.com/package-url/purl-spec).
func (p Package) PURL() string {
	name := purlEscape(p.Name)
	if p.Namespace != "" {
		name = purlEscape(p.Namespace) + "/" + name
	}
	s := "pkg:" + string(p.Kind) + "/" + name
	if p.Version != "" {
		s += "@" + purlEscape(p.Version)
	}
	var q []string
	if p.Arch != "" {
		q = append(q, "arch="+purlEscape(p.Arch))
	}
	if p.Source != "" && p.Source != p.Name && (p.Kind == Deb || p.Kind == Apk) {
		v := p.Source
		if p.SourceVersion != "" && p.SourceVersion != p.Version {
			v += "@" + p.SourceVersion
		}
		q = append(q, "upstream="+purlEscape(v))
	}
	if len(q) > 0 {
		s += "?" + strings.Join(q, "&")
	}
	return s
}

func purlEscape(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', strings.IndexByte(".-_~:", c) >= 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// Ownership is what Owners found.
type Ownership struct {
	// Packages own at least one of the files, sorted by kind, name, version.
	Packages []*Package
	// Unowned lists the files no package database claims, sorted.
	Unowned []string
	// Travel lists metadata files of the packages found (a dist-info's METADATA, a
	// package.json) that a result must keep for the package to be seen, absolute
	// source paths; Keep maps them to output paths.
	Travel []string
	// Notes say what could not be looked at (an RPM database: its owners are unknown).
	Notes []string
}

// ErrNoLinks means the source cannot answer Lstat and ReadLink.
var ErrNoLinks = errors.New("the source does not implement fs.ReadLinkFS")

// Owners finds the package of each of files (absolute real paths in fsys, as
// extract.Taken names them). look says which of them may hold packages inside (Go
// binaries, jars): only those are opened. A file no database claims is Unowned.
func Owners(fsys fs.FS, files []string, look func(string) bool) (*Ownership, error) {
	links, ok := fsys.(fs.ReadLinkFS)
	if !ok {
		return nil, fmt.Errorf("finding package owners in a %T: %w", fsys, ErrNoLinks)
	}
	want := map[string]bool{}
	for _, f := range files {
		want[path.Clean("/"+f)] = true
	}
	own := &Ownership{}
	owned := map[string]bool{}
	add := func(pkgs []*Package) {
		for _, p := range pkgs {
			if len(p.Files) == 0 {
				continue
			}
			slices.Sort(p.Files)
			p.Files = slices.Compact(p.Files)
			for _, f := range p.Files {
				owned[f] = true
			}
			own.Packages = append(own.Packages, p)
		}
	}
	m := newMatcher(links, want)
	deb, err := dpkgOwners(links, m)
	if err != nil {
		return nil, err
	}
	add(deb)
	apk, err := apkOwners(links, m)
	if err != nil {
		return nil, err
	}
	add(apk)
	langs, travel, err := languageOwners(links, files, look)
	if err != nil {
		return nil, err
	}
	add(langs)
	own.Travel = travel
	if hasRPMDB(links) {
		own.Notes = append(own.Notes, "the source has an RPM database, which slim cannot read (it is SQLite or Berkeley DB): the owners of its files are unknown")
	}
	for f := range want {
		if !owned[f] {
			own.Unowned = append(own.Unowned, f)
		}
	}
	slices.Sort(own.Unowned)
	sortPackages(own.Packages)
	return own, nil
}

func sortPackages(ps []*Package) {
	slices.SortFunc(ps, func(a, b *Package) int {
		return strings.Compare(string(a.Kind)+"\x00"+a.Name+"\x00"+a.Version+"\x00"+strings.Join(a.Files, "\x00"),
			string(b.Kind)+"\x00"+b.Name+"\x00"+b.Version+"\x00"+strings.Join(b.Files, "\x00"))
	})
}

// matcher answers whether a path as a package database names it is one of the wanted
// files. Only names whose last component is that of a wanted file are resolved, so a
// database of thousands of paths costs a few lookups in a build stage.
type matcher struct {
	links fs.ReadLinkFS
	want  map[string]bool
	bases map[string]bool
	dirs  map[string]string // listed directory → real directory ("" when it does not resolve)
}

func newMatcher(links fs.ReadLinkFS, want map[string]bool) *matcher {
	m := &matcher{links: links, want: want, bases: map[string]bool{}, dirs: map[string]string{}}
	for f := range want {
		m.bases[path.Base(f)] = true
	}
	return m
}

// real is the real path of listed (parents resolved, the last component not followed)
// when it is one of the wanted files, else "".
func (m *matcher) real(listed string) string {
	listed = path.Clean("/" + listed)
	if !m.bases[path.Base(listed)] {
		return ""
	}
	dir := path.Dir(listed)
	r, ok := m.dirs[dir]
	if !ok {
		got, _, err := rootfs.Resolve(m.links, dir, true)
		if err == nil {
			r = path.Clean("/" + got)
		}
		m.dirs[dir] = r
	}
	if r == "" {
		return ""
	}
	p := path.Join(r, path.Base(listed))
	if !m.want[p] {
		return ""
	}
	return p
}

func hasRPMDB(links fs.ReadLinkFS) bool {
	for _, p := range []string{"var/lib/rpm/rpmdb.sqlite", "var/lib/rpm/Packages", "var/lib/rpm/Packages.db", "usr/lib/sysimage/rpm/rpmdb.sqlite"} {
		if _, err := links.Lstat(p); err == nil {
			return true
		}
	}
	return false
}

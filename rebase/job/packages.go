package job

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/slim-dev/slim/extract"
	"github.com/slim-dev/slim/extract/pkgdb"
)

// PackageMetadata is --package-metadata: what the result keeps of its sources'
// package databases.
type PackageMetadata string

const (
	// MetadataKept (the default) keeps, for scanners, the metadata of exactly the
	// packages whose files the result holds (see pkgdb.Ownership.Metadata).
	MetadataKept PackageMetadata = ""
	// MetadataNone leaves package metadata out.
	MetadataNone PackageMetadata = "none"
)

// ErrPackageMetadata means --package-metadata was given a value it does not take.
var ErrPackageMetadata = errors.New("want auto (the default: keep the metadata of the packages kept) or none")

// keepPackages finds the packages that own set's files in their sources, adds to set
// the metadata that shows them to scanners (dpkg status.d, a trimmed apk database, the
// language packages' own metadata files) and returns them.
func keepPackages(set *extract.FileSet, warn func(string, ...any)) ([]*pkgdb.Package, error) {
	type group struct {
		fsys  fs.FS
		files []extract.Taken
	}
	var order []string
	groups := map[string]*group{}
	for _, t := range set.Taken() {
		if t.FS == nil {
			continue
		}
		g := groups[t.Source]
		if g == nil {
			g = &group{fsys: t.FS}
			groups[t.Source] = g
			order = append(order, t.Source)
		}
		g.files = append(g.files, t)
	}
	var all []*pkgdb.Package
	meta := map[string][]byte{}
	for _, src := range order {
		g := groups[src]
		reals := make([]string, len(g.files))
		outOf := map[string]string{}
		look := map[string]bool{}
		for i, t := range g.files {
			reals[i] = t.Real
			outOf[t.Real] = t.Path
			look[t.Real] = t.Regular && (t.Mode&0o111 != 0 || strings.HasSuffix(t.Real, ".jar") || strings.HasSuffix(t.Real, ".war"))
		}
		own, err := pkgdb.Owners(g.fsys, reals, func(p string) bool { return look[p] })
		if err != nil {
			return nil, fmt.Errorf("finding the packages of the files taken from %s: %w", src, err)
		}
		for _, n := range own.Notes {
			warn("%s: %s", src, n)
		}
		var specs []extract.Spec
		for _, m := range own.Travel {
			if _, ok := outOf[m]; ok {
				continue
			}
			specs = append(specs, extract.Spec{Path: m, Dest: travelDest(m, g.files), Reason: extract.ReasonMetadata})
		}
		if len(specs) > 0 {
			extra, err := extract.Select(g.fsys, specs, extract.WithDeps(extract.DepsNone), extract.WithSourceName(src))
			if err != nil {
				return nil, fmt.Errorf("taking package metadata from %s: %w", src, err)
			}
			if err := set.Merge(extra); err != nil {
				return nil, err
			}
		}
		for name, b := range own.Metadata(func(p string) string { return outOf[p] }) {
			if old, ok := meta[name]; ok && string(old) != string(b) {
				// The same package from two sources: one file, both sources' kept files.
				if !strings.HasSuffix(name, ".md5sums") {
					return nil, fmt.Errorf("package metadata %s differs between sources: %w", name, extract.ErrConflict)
				}
				b = mergeLines(old, b)
			}
			meta[name] = b
		}
		all = append(all, own.Packages...)
	}
	names := make([]string, 0, len(meta))
	for n := range meta {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if err := set.AddFile(n, meta[n]); err != nil {
			return nil, fmt.Errorf("keeping package metadata: %w", err)
		}
	}
	return all, nil
}

func mergeLines(a, b []byte) []byte {
	l := slices.Concat(strings.SplitAfter(string(a), "\n"), strings.SplitAfter(string(b), "\n"))
	l = slices.DeleteFunc(l, func(s string) bool { return s == "" })
	slices.Sort(l)
	return []byte(strings.Join(slices.Compact(l), ""))
}

// travelDest is where a package's metadata file m goes: beside the package's files as
// they were placed. The taken file nearest to m (the longest common directory) says how
// its directory was moved; a package taken in place keeps m's own path.
func travelDest(m string, files []extract.Taken) string {
	best, dest := -1, m
	for _, t := range files {
		cp := commonDir(t.Real, m)
		if len(cp) <= best {
			continue
		}
		rest := strings.TrimPrefix(t.Real, cp)
		if !strings.HasSuffix(t.Path, rest) {
			continue
		}
		best = len(cp)
		dest = path.Join(strings.TrimSuffix(t.Path, rest), strings.TrimPrefix(m, cp))
	}
	return dest
}

func commonDir(a, b string) string {
	da, db := path.Dir(a), path.Dir(b)
	for {
		if da == db || strings.HasPrefix(db, da+"/") {
			return da
		}
		if da == "/" || da == "." {
			return "/"
		}
		da = path.Dir(da)
	}
}

// ParsePackageMetadata reads --package-metadata: auto (keep) or none.
func ParsePackageMetadata(s string) (PackageMetadata, error) {
	switch s {
	case "", "auto":
		return MetadataKept, nil
	case "none":
		return MetadataNone, nil
	}
	return "", fmt.Errorf("--package-metadata %q: %w", s, ErrPackageMetadata)
}

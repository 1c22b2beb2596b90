package pkgdb

import (
	"io/fs"
	"path"
	"slices"
	"strings"
)

// Metadata is what a result keeps so that scanners see the packages of the files it
// holds, by absolute output path: for each dpkg package, distroless's
// /var/lib/dpkg/status.d/<name> and <name>.md5sums (only the kept files, by the output
// paths out gives them); for apk packages, a /lib/apk/db/installed of their records
// trimmed to the kept files. Language packages need nothing here: their metadata
// travels with their files (Ownership.Travel).
func (o *Ownership) Metadata(out func(string) string) map[string][]byte {
	files := map[string][]byte{}
	var apk []string
	for _, p := range o.Packages {
		switch p.Kind {
		case Deb:
			if !debName(p.Name) {
				continue // a name that would climb out of status.d: no package's
			}
			for k, v := range debMetadata(p, out) {
				files[k] = v
			}
		case Apk:
			apk = append(apk, string(p.stanza))
		}
	}
	if len(apk) > 0 {
		files["/"+apkInstalled] = []byte(strings.Join(apk, "\n"))
	}
	return files
}

// Installed lists the packages of an image from its metadata: dpkg's status and
// status.d, Alpine's database, the modules of Go binaries, Node package.json files
// under node_modules, Python dist-info and Java jars. Files lists only what Go
// binaries and jars are (the databases' file lists are not repeated).
func Installed(fsys fs.FS) ([]*Package, error) {
	deb, err := dpkgPackages(fsys)
	if err != nil {
		return nil, err
	}
	apk, _, err := apkPackages(fsys)
	if err != nil {
		return nil, err
	}
	out := append(deb, apk...)
	err = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // an unreadable directory: list what can be read
		}
		abs := "/" + p
		switch {
		case d.Type().IsRegular() && (strings.HasSuffix(p, ".jar") || strings.HasSuffix(p, ".war")):
			ps, err := jarPackages(fsys, abs)
			if err != nil {
				return err
			}
			out = append(out, ps...)
		case d.Type().IsRegular() && path.Base(p) == "package.json" && nodePackageDir(abs) == path.Dir(abs):
			pk, err := nodePackage(fsys, path.Dir(abs))
			if err != nil {
				return err
			}
			if pk != nil {
				out = append(out, pk)
			}
		case d.Type().IsRegular() && path.Base(p) == "METADATA" && strings.HasSuffix(path.Dir(p), ".dist-info"):
			if pk := pythonMetadata(fsys, abs); pk != nil {
				out = append(out, pk)
			}
		case d.Type().IsRegular():
			info, err := d.Info()
			if err != nil || info.Mode()&0o111 == 0 {
				return nil
			}
			ps, err := goPackages(fsys, abs)
			if err != nil {
				return err
			}
			out = append(out, ps...)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, p := range out {
		if p.Kind == Deb || p.Kind == Apk || p.Kind == NPM || p.Kind == PyPI {
			p.Files = nil
		}
	}
	sortPackages(out)
	return slices.CompactFunc(out, func(a, b *Package) bool {
		return a.Kind == b.Kind && a.Name == b.Name && a.Namespace == b.Namespace && a.Version == b.Version && slices.Equal(a.Files, b.Files)
	}), nil
}

// debName says whether n is a Debian package name (Policy 5.6.1: lower-case letters,
// digits, "+", "-" and ".", starting with a letter or digit), so that status.d/<n>
// names a file in status.d and nothing else.
func debName(n string) bool {
	if len(n) < 2 || n[0] == '.' || n[0] == '-' || n[0] == '+' {
		return false
	}
	for _, c := range n {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

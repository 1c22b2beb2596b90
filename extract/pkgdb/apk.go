package pkgdb

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
)

const apkInstalled = "lib/apk/db/installed"

// apkRecord is one package of Alpine's installed database: its lines before the first
// F: (the package's own fields), and its directories, each with its lines and files.
type apkRecord struct {
	head []string
	dirs []apkDir
}

type apkDir struct {
	name  string   // as F: names it, relative to /
	lines []string // F: and its M:/a: lines
	files []apkFile
}

type apkFile struct {
	name  string   // R:, relative to the directory
	lines []string // R: and its a:/Z: lines
}

func parseAPK(b []byte) []apkRecord {
	var out []apkRecord
	for _, para := range bytes.Split(bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n")), []byte("\n\n")) {
		var r apkRecord
		for _, l := range strings.Split(strings.Trim(string(para), "\n"), "\n") {
			if l == "" {
				continue
			}
			switch {
			case strings.HasPrefix(l, "F:"):
				r.dirs = append(r.dirs, apkDir{name: l[2:], lines: []string{l}})
			case strings.HasPrefix(l, "R:") && len(r.dirs) > 0:
				d := &r.dirs[len(r.dirs)-1]
				d.files = append(d.files, apkFile{name: l[2:], lines: []string{l}})
			case len(r.dirs) == 0:
				r.head = append(r.head, l)
			default:
				d := &r.dirs[len(r.dirs)-1]
				if n := len(d.files); n > 0 {
					d.files[n-1].lines = append(d.files[n-1].lines, l)
				} else {
					d.lines = append(d.lines, l)
				}
			}
		}
		if r.field("P") != "" {
			out = append(out, r)
		}
	}
	return out
}

func (r apkRecord) field(k string) string {
	for _, l := range r.head {
		if v, ok := strings.CutPrefix(l, k+":"); ok {
			return v
		}
	}
	return ""
}

func (r apkRecord) pkg(distro string) *Package {
	p := &Package{Kind: Apk, Name: r.field("P"), Version: r.field("V"), Arch: r.field("A"), License: r.field("L"),
		Source: r.field("o"), Namespace: distro, Record: "/" + apkInstalled}
	if p.Source != "" {
		p.SourceVersion = p.Version
	}
	return p
}

// apkPackages reads Alpine's installed database, each package with its records.
func apkPackages(fsys fs.FS) ([]*Package, []apkRecord, error) {
	b, err := fs.ReadFile(fsys, apkInstalled)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("reading /%s: %w", apkInstalled, err)
	}
	distro := osID(fsys, "alpine")
	recs := parseAPK(b)
	pkgs := make([]*Package, len(recs))
	for i, r := range recs {
		pkgs[i] = r.pkg(distro)
	}
	return pkgs, recs, nil
}

// apkOwners gives each apk package the wanted files its record names, and keeps the
// record trimmed to them (what a result's database says).
func apkOwners(links fs.ReadLinkFS, m *matcher) ([]*Package, error) {
	pkgs, recs, err := apkPackages(links)
	if err != nil {
		return nil, err
	}
	for i, r := range recs {
		p := pkgs[i]
		var b strings.Builder
		for _, l := range r.head {
			b.WriteString(l + "\n")
		}
		for _, d := range r.dirs {
			var kept []apkFile
			for _, f := range d.files {
				if real := m.real(path.Join(d.name, f.name)); real != "" {
					p.Files = append(p.Files, real)
					kept = append(kept, f)
				}
			}
			if len(kept) == 0 {
				continue
			}
			for _, l := range d.lines {
				b.WriteString(l + "\n")
			}
			for _, f := range kept {
				for _, l := range f.lines {
					b.WriteString(l + "\n")
				}
			}
		}
		p.stanza = []byte(b.String())
	}
	return pkgs, nil
}

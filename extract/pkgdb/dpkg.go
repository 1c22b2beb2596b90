package pkgdb

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

const (
	dpkgStatus  = "var/lib/dpkg/status"
	dpkgInfo    = "var/lib/dpkg/info"
	dpkgStatusD = "var/lib/dpkg/status.d"
)

// stanza is one paragraph of a dpkg control file: its fields by name, and its bytes.
type stanza struct {
	fields map[string]string
	raw    []byte
}

// parseStanzas splits a dpkg status file into paragraphs. Continuation lines belong to
// the field above them; only the first line of a field is kept in fields.
func parseStanzas(b []byte) []stanza {
	var out []stanza
	for _, para := range bytes.Split(bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n")), []byte("\n\n")) {
		para = bytes.Trim(para, "\n")
		if len(para) == 0 {
			continue
		}
		s := stanza{fields: map[string]string{}, raw: append(slices.Clip(para), '\n')}
		for _, line := range strings.Split(string(para), "\n") {
			if line == "" || line[0] == ' ' || line[0] == '\t' {
				continue
			}
			k, v, ok := strings.Cut(line, ":")
			if ok {
				s.fields[k] = strings.TrimSpace(v)
			}
		}
		if s.fields["Package"] != "" {
			out = append(out, s)
		}
	}
	return out
}

// debPackage is the package a stanza describes. Source: may carry its own version in
// parentheses ("glibc (2.36-9)"); without it the source version is the package's.
func debPackage(s stanza, distro string) *Package {
	f := s.fields
	p := &Package{Kind: Deb, Name: f["Package"], Version: f["Version"], Arch: f["Architecture"], Namespace: distro,
		stanza: s.raw, sums: map[string]string{}}
	p.Source, p.SourceVersion = p.Name, p.Version
	if src := f["Source"]; src != "" {
		name, ver, ok := strings.Cut(src, " ")
		p.Source = name
		if ok {
			p.SourceVersion = strings.Trim(strings.TrimSpace(ver), "()")
		}
	}
	return p
}

// installed says whether a stanza's Status is an installed package's.
func installed(s stanza) bool {
	st := s.fields["Status"]
	return st == "" || strings.HasSuffix(st, " installed")
}

// osID is /etc/os-release's ID (debian, ubuntu, alpine…), the PURL namespace.
func osID(fsys fs.FS, fallback string) string {
	for _, p := range []string{"etc/os-release", "usr/lib/os-release"} {
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "ID="); ok {
				return strings.Trim(strings.TrimSpace(v), `"'`)
			}
		}
	}
	return fallback
}

// dpkgPackages reads every installed package of a dpkg database: the status file with
// info/<name>[:arch].list and .md5sums, and distroless status.d/<name> with
// status.d/<name>.md5sums (the only file list such an image has).
func dpkgPackages(fsys fs.FS) ([]*Package, error) {
	distro := osID(fsys, "debian")
	var out []*Package
	b, err := fs.ReadFile(fsys, dpkgStatus)
	switch {
	case err == nil:
		for _, s := range parseStanzas(b) {
			if !installed(s) {
				continue
			}
			p := debPackage(s, distro)
			p.Record = "/" + dpkgStatus
			for _, key := range []string{p.Name + ":" + p.Arch, p.Name} {
				lb, lerr := fs.ReadFile(fsys, path.Join(dpkgInfo, key+".list"))
				if lerr != nil {
					continue
				}
				p.listed = lines(lb)
				if sb, serr := fs.ReadFile(fsys, path.Join(dpkgInfo, key+".md5sums")); serr == nil {
					readSums(p, sb)
				}
				break
			}
			out = append(out, p)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("reading /%s: %w", dpkgStatus, err)
	}
	ents, err := fs.ReadDir(fsys, dpkgStatusD)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("reading /%s: %w", dpkgStatusD, err)
	}
	for _, e := range ents {
		if e.IsDir() || strings.Contains(e.Name(), ".") {
			continue // <name>.md5sums and the like
		}
		sb, err := fs.ReadFile(fsys, path.Join(dpkgStatusD, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("reading /%s/%s: %w", dpkgStatusD, e.Name(), err)
		}
		for _, s := range parseStanzas(sb) {
			if !installed(s) {
				continue
			}
			p := debPackage(s, distro)
			p.Record = "/" + path.Join(dpkgStatusD, e.Name())
			if mb, err := fs.ReadFile(fsys, path.Join(dpkgStatusD, e.Name()+".md5sums")); err == nil {
				readSums(p, mb)
				for f := range p.sums {
					p.listed = append(p.listed, f)
				}
				slices.Sort(p.listed)
			}
			out = append(out, p)
		}
	}
	return out, nil
}

// readSums keeps an md5sums file's lines ("<md5>  <path relative to />") by path as listed.
func readSums(p *Package, b []byte) {
	for _, l := range lines(b) {
		sum, name, ok := strings.Cut(l, "  ")
		if ok {
			p.sums["/"+strings.TrimPrefix(name, "/")] = sum
		}
	}
}

func lines(b []byte) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// dpkgOwners gives each dpkg package the wanted files its list names, and keys its
// md5sums by real path.
func dpkgOwners(links fs.ReadLinkFS, m *matcher) ([]*Package, error) {
	pkgs, err := dpkgPackages(links)
	if err != nil {
		return nil, err
	}
	for _, p := range pkgs {
		// A list names the package's directories too ("/lib", which a merged /usr makes
		// a symlink): a directory owns nothing here, whatever it is in the source.
		dirs := map[string]bool{}
		for _, l := range p.listed {
			for d := path.Dir(l); d != "/" && d != "." && !dirs[d]; d = path.Dir(d) {
				dirs[d] = true
			}
		}
		sums := map[string]string{}
		for _, l := range p.listed {
			if dirs[l] {
				continue
			}
			r := m.real(l)
			if r == "" {
				continue
			}
			p.Files = append(p.Files, r)
			if s, ok := p.sums[l]; ok {
				sums[r] = s
			}
		}
		p.sums = sums
	}
	return pkgs, nil
}

// debMetadata is distroless's layout of what a result keeps of a dpkg package:
// status.d/<name> (the stanza, installed) and status.d/<name>.md5sums naming only the
// kept files, by the output path out gives each.
func debMetadata(p *Package, out func(string) string) map[string][]byte {
	var st bytes.Buffer
	for _, l := range strings.SplitAfter(string(p.stanza), "\n") {
		if strings.HasPrefix(l, "Status:") {
			continue
		}
		st.WriteString(l)
		if strings.HasPrefix(l, "Package:") {
			st.WriteString("Status: install ok installed\n")
		}
	}
	name := p.Name
	files := map[string][]byte{"/" + path.Join(dpkgStatusD, name): st.Bytes()}
	var sums []string
	for _, f := range p.Files {
		if s, ok := p.sums[f]; ok {
			sums = append(sums, s+"  "+strings.TrimPrefix(out(f), "/")+"\n")
		}
	}
	slices.Sort(sums)
	if len(sums) > 0 {
		files["/"+path.Join(dpkgStatusD, name+".md5sums")] = []byte(strings.Join(sums, ""))
	}
	return files
}

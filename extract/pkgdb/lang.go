package pkgdb

import (
	"archive/zip"
	"bytes"
	"debug/buildinfo"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/mail"
	"path"
	"slices"
	"strings"
)

// maxInMemory bounds what is read into memory to look inside a file whose source
// cannot read at an offset (a Go binary, a jar).
const maxInMemory = 512 << 20

// languageOwners finds the packages of language ecosystems among files: Go modules in
// Go binaries, Java artifacts in jars, and the Node and Python packages whose
// directories hold files taken. travel lists those packages' metadata files.
func languageOwners(fsys fs.FS, files []string, look func(string) bool) (pkgs []*Package, travel []string, err error) {
	nodeDirs := map[string]bool{}
	pyDirs := map[string]bool{}
	for _, f := range files {
		f = path.Clean("/" + f)
		if look != nil && look(f) {
			switch {
			case strings.HasSuffix(f, ".jar") || strings.HasSuffix(f, ".war"):
				ps, err := jarPackages(fsys, f)
				if err != nil {
					return nil, nil, err
				}
				pkgs = append(pkgs, ps...)
			default:
				ps, err := goPackages(fsys, f)
				if err != nil {
					return nil, nil, err
				}
				pkgs = append(pkgs, ps...)
			}
		}
		if d := nodePackageDir(f); d != "" {
			nodeDirs[d] = true
		}
		if d := sitePackages(f); d != "" {
			pyDirs[d] = true
		}
	}
	nodeOwned := map[string][]string{}
	for _, f := range files {
		if d := nodePackageDir(path.Clean("/" + f)); d != "" {
			nodeOwned[d] = append(nodeOwned[d], path.Clean("/"+f))
		}
	}
	for _, d := range sortedKeys(nodeDirs) {
		p, err := nodePackage(fsys, d)
		if err != nil || p == nil {
			if err != nil {
				return nil, nil, err
			}
			continue
		}
		p.Files = nodeOwned[d]
		pkgs = append(pkgs, p)
		travel = append(travel, p.Record)
	}
	want := map[string]bool{}
	for _, f := range files {
		want[path.Clean("/"+f)] = true
	}
	for _, d := range sortedKeys(pyDirs) {
		ps, tr, err := pythonPackages(fsys, d, want)
		if err != nil {
			return nil, nil, err
		}
		pkgs = append(pkgs, ps...)
		travel = append(travel, tr...)
	}
	slices.Sort(travel)
	return pkgs, slices.Compact(travel), nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// readerAt opens name for reading at offsets, in memory when the source cannot.
func readerAt(fsys fs.FS, name string) (io.ReaderAt, int64, func(), error) {
	f, err := fsys.Open(strings.TrimPrefix(name, "/"))
	if err != nil {
		return nil, 0, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, nil, err
	}
	if ra, ok := f.(io.ReaderAt); ok {
		return ra, fi.Size(), func() { f.Close() }, nil
	}
	defer f.Close()
	if fi.Size() > maxInMemory {
		return nil, 0, nil, fmt.Errorf("reading %s: %d bytes is too large to read in memory", name, fi.Size())
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, 0, nil, err
	}
	return bytes.NewReader(b), int64(len(b)), func() {}, nil
}

// isExecutable says whether a file starts as an ELF, Mach-O or PE file does (what
// debug/buildinfo reads), so other files are never read whole.
func isExecutable(fsys fs.FS, name string) bool {
	f, err := fsys.Open(strings.TrimPrefix(name, "/"))
	if err != nil {
		return false
	}
	defer f.Close()
	var magic [4]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil {
		return false
	}
	switch {
	case string(magic[:]) == "\x7fELF", string(magic[:2]) == "MZ",
		bytes.Equal(magic[:], []byte{0xcf, 0xfa, 0xed, 0xfe}), bytes.Equal(magic[:], []byte{0xce, 0xfa, 0xed, 0xfe}):
		return true
	}
	return false
}

// goPackages is the modules a Go binary was built from: the main module, its
// dependencies (replacements as they replace) and the standard library ("stdlib", at
// the Go version, as syft names it). Not a Go binary: none.
func goPackages(fsys fs.FS, name string) ([]*Package, error) {
	if !isExecutable(fsys, name) {
		return nil, nil
	}
	ra, _, done, err := readerAt(fsys, name)
	if err != nil {
		return nil, fmt.Errorf("reading build info of %s: %w", name, err)
	}
	defer done()
	bi, err := buildinfo.Read(ra)
	if err != nil {
		return nil, nil // not a Go binary, or one built without module support
	}
	mod := func(path, version string) *Package {
		ns, n := splitNamespace(path)
		return &Package{Kind: GoModule, Namespace: ns, Name: n, Version: version, Files: []string{name}, Record: name}
	}
	var out []*Package
	if bi.Main.Path != "" {
		out = append(out, mod(bi.Main.Path, bi.Main.Version))
	}
	for _, d := range bi.Deps {
		if d.Replace != nil {
			d = d.Replace
		}
		out = append(out, mod(d.Path, d.Version))
	}
	out = append(out, &Package{Kind: GoModule, Name: "stdlib", Version: bi.GoVersion, Files: []string{name}, Record: name})
	return out, nil
}

// splitNamespace splits a module path at its last slash, as a PURL's namespace and name.
func splitNamespace(p string) (string, string) {
	if i := strings.LastIndex(p, "/"); i >= 0 {
		return p[:i], p[i+1:]
	}
	return "", p
}

// nodePackageDir is the package directory under node_modules that holds f
// (/…/node_modules/name or /…/node_modules/@scope/name, the innermost), or "".
func nodePackageDir(f string) string {
	i := strings.LastIndex(f, "/node_modules/")
	if i < 0 {
		return ""
	}
	rest := strings.Split(f[i+len("/node_modules/"):], "/")
	n := 1
	if strings.HasPrefix(rest[0], "@") {
		n = 2
	}
	if len(rest) <= n || rest[0] == ".bin" {
		return ""
	}
	return f[:i] + "/node_modules/" + strings.Join(rest[:n], "/")
}

func nodePackage(fsys fs.FS, dir string) (*Package, error) {
	rec := dir + "/package.json"
	b, err := fs.ReadFile(fsys, strings.TrimPrefix(rec, "/"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", rec, err)
	}
	var pj struct {
		Name    string          `json:"name"`
		Version string          `json:"version"`
		License json.RawMessage `json:"license"`
	}
	if json.Unmarshal(b, &pj) != nil || pj.Name == "" {
		return nil, nil // not a package's manifest
	}
	p := &Package{Kind: NPM, Name: pj.Name, Version: pj.Version, Record: rec}
	if scope, n, ok := strings.Cut(pj.Name, "/"); ok {
		p.Namespace, p.Name = scope, n
	}
	var lic string
	if json.Unmarshal(pj.License, &lic) == nil {
		p.License = lic
	}
	return p, nil
}

// sitePackages is the site-packages or dist-packages directory f is in, or "".
func sitePackages(f string) string {
	for _, d := range []string{"/site-packages/", "/dist-packages/"} {
		if i := strings.LastIndex(f, d); i >= 0 {
			return f[:i+len(d)-1]
		}
	}
	return ""
}

// pythonPackages gives each *.dist-info of dir the wanted files its RECORD names; the
// METADATA and RECORD of those that own any travel with them.
func pythonPackages(fsys fs.FS, dir string, want map[string]bool) ([]*Package, []string, error) {
	ents, err := fs.ReadDir(fsys, strings.TrimPrefix(dir, "/"))
	if err != nil {
		return nil, nil, nil // a site-packages that is a link or gone: nothing to say
	}
	var pkgs []*Package
	var travel []string
	for _, e := range ents {
		if !e.IsDir() || !strings.HasSuffix(e.Name(), ".dist-info") {
			continue
		}
		di := dir + "/" + e.Name()
		p := pythonMetadata(fsys, di+"/METADATA")
		if p == nil {
			continue
		}
		rb, err := fs.ReadFile(fsys, strings.TrimPrefix(di+"/RECORD", "/"))
		if err != nil {
			continue
		}
		rows, _ := csv.NewReader(bytes.NewReader(rb)).ReadAll()
		for _, row := range rows {
			if len(row) == 0 {
				continue
			}
			f := path.Clean(dir + "/" + row[0])
			if want[f] && !strings.HasPrefix(f, di+"/") {
				p.Files = append(p.Files, f)
			}
		}
		if len(p.Files) > 0 {
			pkgs = append(pkgs, p)
			travel = append(travel, di+"/METADATA", di+"/RECORD")
		}
	}
	return pkgs, travel, nil
}

// pythonMetadata is the package a dist-info's METADATA describes, or nil.
func pythonMetadata(fsys fs.FS, name string) *Package {
	meta, err := fs.ReadFile(fsys, strings.TrimPrefix(name, "/"))
	if err != nil {
		return nil
	}
	// METADATA is an email header block, maybe followed by a body.
	msg, err := mail.ReadMessage(bytes.NewReader(append(bytes.TrimRight(meta, "\n"), '\n', '\n')))
	if err != nil || msg.Header.Get("Name") == "" {
		return nil
	}
	p := &Package{Kind: PyPI, Name: msg.Header.Get("Name"), Version: msg.Header.Get("Version"), License: msg.Header.Get("License-Expression"), Record: name}
	if p.License == "" {
		p.License = msg.Header.Get("License")
	}
	return p
}

// jarPackages is the Maven artifacts a jar says it holds (META-INF/maven/**/pom.properties).
func jarPackages(fsys fs.FS, name string) ([]*Package, error) {
	ra, size, done, err := readerAt(fsys, name)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	defer done()
	zr, err := zip.NewReader(ra, size)
	if err != nil {
		return nil, nil // not a zip: nothing to say
	}
	var out []*Package
	for _, zf := range zr.File {
		if !strings.HasPrefix(zf.Name, "META-INF/maven/") || path.Base(zf.Name) != "pom.properties" {
			continue
		}
		rc, err := zf.Open()
		if err != nil {
			continue
		}
		b, err := io.ReadAll(io.LimitReader(rc, 1<<20))
		rc.Close()
		if err != nil {
			continue
		}
		props := map[string]string{}
		for _, l := range lines(b) {
			if k, v, ok := strings.Cut(l, "="); ok && !strings.HasPrefix(l, "#") {
				props[strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
		}
		if props["artifactId"] == "" {
			continue
		}
		out = append(out, &Package{Kind: Maven, Namespace: props["groupId"], Name: props["artifactId"], Version: props["version"],
			Files: []string{name}, Record: name + "!/" + zf.Name})
	}
	return out, nil
}

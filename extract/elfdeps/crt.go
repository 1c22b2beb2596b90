package elfdeps

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/slim-dev/slim/internal/rootfs"
)

// glibcData are the files glibc reads by name, for any program: without them
// getservbyname returns NULL and getaddrinfo("localhost") loses ::1.
func glibcData() [][2]string {
	return [][2]string{
		{"etc/host.conf", "resolver configuration (host.conf) for glibc programs"},
		{"etc/gai.conf", "getaddrinfo address sorting for glibc programs"},
		{"etc/services", "service names (getservbyname) for glibc programs"},
		{"etc/protocols", "protocol names (getprotobyname) for glibc programs"},
	}
}

// SystemConfig reports whether name (clean, relative to the root) is glibc's system
// configuration that the closure adds for glibc programs: the name service and resolver
// files every glibc system ships its own of. A base that has its own keeps it (it is the
// system the result runs on); the closure's other data (CA bundles, OpenSSL's
// configuration, locales) is the source's and replaces a base's.
func SystemConfig(name string) bool {
	if name == nssConfig {
		return true
	}
	for _, f := range glibcData() {
		if f[0] == name {
			return true
		}
	}
	return false
}

// caBundles are where TLS libraries look for trusted roots, Debian's first.
func caBundles() []string {
	return []string{"etc/ssl/certs/ca-certificates.crt", "etc/pki/tls/certs/ca-bundle.crt", "etc/ssl/cert.pem", "etc/ssl/ca-bundle.pem"}
}

// loadRuntimeData adds what the C runtime of a glibc program reads by name: resolver and
// services files, the C.UTF-8 locale and the config's, gconv modules when iconv is
// used (TLS libraries' data: loadTLSData).
// Only files the image has are added: their absence is the image's choice.
// loadUnwinder loads libgcc_s.so.1, which glibc dlopens to unwind a thread's stack
// when l calls pthread_exit or pthread_cancel (or backtrace): without it the program
// aborted there ("libgcc_s.so.1 must be installed for pthread_exit to work"), as
// Debian's python3 does when a daemon thread outlives the interpreter. It is searched
// as l's DT_NEEDED would be; a source without it is left alone, as it aborts there too.
func (p *process) loadUnwinder(l *loaded) error {
	const lib = "libgcc_s.so.1"
	if p.byName[lib] != nil {
		return nil
	}
	found, named, err := p.search(l, lib)
	if err != nil || !found {
		return err
	}
	if err := p.loadFound(l, lib, named, fmt.Sprintf("%s, which glibc loads to unwind the stack for %s of %s", lib, l.obj.unwind, l.show)); err != nil {
		return err
	}
	return p.drain()
}

func (p *process) loadRuntimeData() error {
	if p.c.check || p.musl || p.root.obj.interp == "" || p.byName["libc.so.6"] == nil {
		return nil
	}
	for _, f := range glibcData() {
		if err := p.addIfExists(f[0], f[1]); err != nil {
			return err
		}
	}
	if err := p.loadLocales(); err != nil {
		return err
	}
	iconv := false
	var unwinds *loaded
	// byReal, not byName: the program itself is in the link map under no name.
	for _, l := range p.byReal {
		iconv = iconv || l.obj.iconv
		if l.obj.unwind != "" && (unwinds == nil || l.real < unwinds.real) {
			unwinds = l // the first by path, so that the reason is the same every run
		}
	}
	if iconv {
		if err := p.loadGconv(); err != nil {
			return err
		}
	}
	if unwinds != nil {
		if err := p.loadUnwinder(unwinds); err != nil {
			return err
		}
	}
	return nil
}

// loadTLSData adds what TLS libraries read by name when the root links one: OpenSSL's
// configuration (with what it activates) and the CA bundles. The root may be a shared
// object as well as a program, and musl's as well as glibc's: Python's _ssl, Ruby's
// openssl.so and PHP's openssl extension link libssl, not their interpreters, so a
// Python app on scratch failed its first HTTPS request (CERTIFICATE_VERIFY_FAILED),
// and so did curl out of an Alpine image.
func (p *process) loadTLSData() error {
	if p.c.check {
		return nil
	}
	tls := false
	var crypto *loaded
	for name, l := range p.byName {
		for _, lib := range []string{"libssl.so", "libcurl.so", "libcurl-gnutls.so", "libgnutls.so"} {
			tls = tls || strings.HasPrefix(name, lib)
		}
		if strings.HasPrefix(name, "libcrypto.so") && (crypto == nil || l.real < crypto.real) {
			crypto = l
		}
	}
	if crypto != nil {
		if err := p.loadOpenSSL(crypto); err != nil {
			return err
		}
	}
	if !tls {
		return nil
	}
	for _, b := range caBundles() {
		if err := p.addIfExists(b, "CA bundle for TLS libraries"); err != nil {
			return err
		}
	}
	return nil
}

// loadNamedCA adds the CA bundles a program names itself: Go's crypto/x509 (in every
// static Go binary that can verify a TLS peer, net/http's client included), Rust's
// openssl-probe and other TLS stacks that read the system's roots by path, not
// through libssl, compile the bundle paths in. Without the bundle such a program
// starts and then fails its first TLS handshake ("certificate signed by unknown
// authority"). The paths are searched as bytes, not C strings: Go packs its strings
// without NULs.
func (p *process) loadNamedCA() error {
	if p.c.check || p.r.langs().done["ca:"+p.root.real] {
		return nil
	}
	p.r.langs().done["ca:"+p.root.real] = true
	// Reading the program is what costs (a Go binary crosses BuildKit's gateway whole):
	// without a bundle to add there is nothing to look for.
	have := false
	for _, b := range caBundles() {
		ok, err := p.r.exists(b)
		if err != nil {
			return err
		}
		have = have || ok
	}
	if !have {
		return nil
	}
	named, err := p.r.namesAny(p.root.real, caBundles())
	if err != nil || named == "" {
		return err
	}
	for _, b := range caBundles() {
		if err := p.addIfExists(b, fmt.Sprintf("CA bundle for /%s, which names %s", p.root.show, named)); err != nil {
			return err
		}
	}
	return nil
}

// namesAny returns the first of names (root-relative paths) whose absolute form the
// file real holds as bytes anywhere, or "".
func (r *Resolver) namesAny(real string, names []string) (string, error) {
	f, err := r.fsys.Open(real)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", real, err)
	}
	defer f.Close()
	keep := 0
	for _, n := range names {
		keep = max(keep, len(n)) // a leading slash and all but one byte of the longest
	}
	buf := make([]byte, keep+1<<20)
	have := 0
	for {
		n, err := f.Read(buf[have:])
		have += n
		for _, name := range names {
			if bytes.Contains(buf[:have], []byte("/"+name)) {
				return "/" + name, nil
			}
		}
		if err == io.EOF {
			return "", nil
		}
		if err != nil {
			return "", fmt.Errorf("reading %s: %w", real, err)
		}
		if have > keep {
			have = copy(buf, buf[have-keep:have])
		}
	}
}

// addIfExists adds the file or directory at name (with the symlinks on the way) when
// the image has it; it reports whether it did.
func (p *process) addIfExists(name, why string) error {
	_, err := p.addFound(name, why)
	return err
}

func (p *process) addFound(name, why string) (bool, error) {
	w, err := p.r.walk(name)
	if err != nil {
		if rootfs.IsNotFound(err) {
			return false, nil
		}
		return false, err
	}
	fi, err := p.r.links.Lstat(w.real)
	if err != nil {
		return false, err
	}
	if !fi.IsDir() {
		p.c.add(w, tidyName(name), why)
		return true, nil
	}
	// A directory (a locale) is its files: a Dep is a file or a symlink.
	for _, l := range w.links {
		p.c.addDep(Dep{Path: l, Reason: why, Symlink: true})
	}
	err = fs.WalkDir(p.r.fsys, w.real, func(q string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.Type()&fs.ModeSymlink != 0:
			p.c.addDep(Dep{Path: q, Reason: why, Symlink: true})
		case d.Type().IsRegular():
			p.c.addDep(Dep{Path: q, Reason: why})
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("listing %s: %w", name, err)
	}
	return true, nil
}

// localeDirs are where glibc looks for compiled locales.
func localeDirs() []string { return []string{"usr/lib/locale"} }

// loadLocales adds C.UTF-8 and the locales the config's LANG, LC_ALL and LC_* set: a
// locale directory when there is one, else the locale-archive that holds them.
func (p *process) loadLocales() error {
	want := [][2]string{{"C.UTF-8", "C.UTF-8 locale for glibc programs"}}
	for _, kv := range p.r.opts.env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || (k != "LANG" && !strings.HasPrefix(k, "LC_")) || v == "" || v == "C" || v == "POSIX" {
			continue
		}
		want = append(want, [2]string{v, fmt.Sprintf("locale %s set by %s", v, k)})
	}
	for _, l := range want {
		found := false
		for _, dir := range localeDirs() {
			for _, name := range localeNames(l[0]) {
				ok, err := p.addFound(dir+"/"+name, l[1])
				if err != nil {
					return err
				}
				if ok {
					found = true
					break
				}
			}
			if !found {
				ok, err := p.addFound(dir+"/locale-archive", l[1]+" (in locale-archive)")
				if err != nil {
					return err
				}
				found = ok
			}
			if found {
				break
			}
		}
	}
	return nil
}

// localeNames are the directory names glibc tries for a locale: as written, and with
// its codeset normalized (lower case, only letters and digits: UTF-8 is utf8).
func localeNames(l string) []string {
	if strings.ContainsAny(l, "/") || strings.HasPrefix(l, ".") {
		return nil
	}
	out := []string{l}
	if lang, cs, ok := strings.Cut(l, "."); ok {
		mod := ""
		if i := strings.IndexByte(cs, '@'); i >= 0 {
			cs, mod = cs[:i], cs[i:]
		}
		var b strings.Builder
		for _, c := range strings.ToLower(cs) {
			if 'a' <= c && c <= 'z' || '0' <= c && c <= '9' {
				b.WriteRune(c)
			}
		}
		if n := lang + "." + b.String() + mod; n != l {
			out = append(out, n)
		}
	}
	return out
}

// loadGconv adds glibc's gconv module lists and the ISO-8859-1 module: UTF-8 and ASCII
// are built into libc, the rest are loaded by name from the gconv directory beside it.
func (p *process) loadGconv() error {
	libc := p.byName["libc.so.6"]
	dir := path.Dir(libc.real) + "/gconv"
	why := "gconv modules for iconv in glibc programs"
	lists := []string{dir + "/gconv-modules"}
	if w, err := p.r.walk(dir + "/gconv-modules.d"); err == nil {
		if more, err := p.r.glob("/" + w.real + "/*.conf"); err == nil {
			lists = append(lists, more...)
		}
	}
	for _, f := range []string{dir + "/gconv-modules", dir + "/gconv-modules.cache", dir + "/gconv-modules.d"} {
		if err := p.addIfExists(f, why); err != nil {
			return err
		}
	}
	for _, l := range lists {
		data, err := p.r.readFile(l)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) < 4 || f[0] != "module" {
				continue
			}
			if strings.EqualFold(f[1], "ISO-8859-1//") || strings.EqualFold(f[2], "ISO-8859-1//") {
				mod := f[3]
				if !path.IsAbs(mod) {
					mod = dir + "/" + mod
				}
				if err := p.addIfExists(mod+".so", why); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// opensslDirs are the directories a libcrypto was built with.
type opensslDirs struct{ dir, modules, engines string }

// opensslDirsOf reads OPENSSLDIR, MODULESDIR and ENGINESDIR out of a libcrypto, where
// OpenSSL keeps them as the strings `OpenSSL_version(OPENSSL_DIR)` returns.
func (r *Resolver) opensslDirsOf(real string) (*opensslDirs, error) {
	if d, ok := r.openssl[real]; ok {
		return d, nil
	}
	f, err := r.fsys.Open(real)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", real, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", real, err)
	}
	str := func(key string) string {
		i := bytes.Index(b, []byte(key+": \""))
		if i < 0 {
			return ""
		}
		rest := b[i+len(key)+3:]
		j := bytes.IndexByte(rest, '"')
		if j < 0 || j > 4096 {
			return ""
		}
		return string(rest[:j])
	}
	d := &opensslDirs{dir: str("OPENSSLDIR"), modules: str("MODULESDIR"), engines: str("ENGINESDIR")}
	if r.openssl == nil {
		r.openssl = map[string]*opensslDirs{}
	}
	r.openssl[real] = d
	return d, nil
}

// loadOpenSSL adds openssl.cnf from the libcrypto's OPENSSLDIR, with the files it
// includes, the providers it activates (the legacy provider for md4) and the engines
// it loads.
func (p *process) loadOpenSSL(crypto *loaded) error {
	d, err := p.r.opensslDirsOf(crypto.real)
	if err != nil || d.dir == "" {
		return err
	}
	cnf := d.dir + "/openssl.cnf"
	why := "OpenSSL configuration for " + path.Base(crypto.real)
	if ok, err := p.addFound(cnf, why); err != nil || !ok {
		return err
	}
	if err := p.addIfExists(d.dir+"/cert.pem", "CA bundle of OpenSSL's OPENSSLDIR"); err != nil {
		return err
	}
	conf, err := readOpenSSLConf(p.r, cnf, d.dir)
	if err != nil {
		return nil // OpenSSL fails on it too, with or without slim
	}
	for _, inc := range conf.includes {
		if err := p.addIfExists(inc, "file included by "+cnf); err != nil {
			return err
		}
	}
	for _, prov := range conf.providers() {
		mod := prov.module
		if mod == "" {
			mod = prov.name + ".so"
		}
		if !path.IsAbs(mod) {
			mod = d.modules + "/" + mod
		}
		if err := p.addIfExists(mod, fmt.Sprintf("OpenSSL provider %s activated by %s", prov.name, cnf)); err != nil {
			return err
		}
	}
	for _, e := range conf.engines() {
		if err := p.addIfExists(e, "OpenSSL engine loaded by "+cnf); err != nil {
			return err
		}
	}
	return nil
}

// opensslConf is an openssl.cnf read as OpenSSL's NCONF does: sections of name = value.
type opensslConf struct {
	sections map[string]map[string]string
	includes []string
}

func readOpenSSLConf(r *Resolver, name, dir string) (*opensslConf, error) {
	c := &opensslConf{sections: map[string]map[string]string{}}
	return c, c.read(r, name, dir, "default", 0)
}

func (c *opensslConf) read(r *Resolver, name, dir, sect string, depth int) error {
	data, err := r.readFile(name)
	if err != nil {
		return err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		switch {
		case line == "":
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			sect = strings.TrimSpace(line[1 : len(line)-1])
		case strings.HasPrefix(line, ".include"):
			inc := strings.TrimSpace(strings.TrimPrefix(strings.TrimPrefix(line, ".include"), "="))
			if inc == "" {
				continue
			}
			if !path.IsAbs(inc) {
				inc = dir + "/" + inc
			}
			c.includes = append(c.includes, inc)
			if depth < maxConfDepth {
				_ = c.read(r, inc, dir, sect, depth+1) // a directory or a missing file: OpenSSL skips it too
			}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				continue
			}
			if c.sections[sect] == nil {
				c.sections[sect] = map[string]string{}
			}
			c.sections[sect][strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"`)
		}
	}
	return nil
}

// init is the section openssl_conf names, where providers and engines are listed.
func (c *opensslConf) init() map[string]string {
	return c.sections[c.sections["default"]["openssl_conf"]]
}

type provider struct{ name, module string }

// providers are those activated other than the built-in default and base.
func (c *opensslConf) providers() []provider {
	var out []provider
	for name, sect := range c.sections[c.init()["providers"]] {
		s := c.sections[sect]
		switch strings.ToLower(s["activate"]) {
		case "1", "yes", "true", "on":
		default:
			continue
		}
		if name == "default" || name == "base" || name == "null" {
			continue
		}
		out = append(out, provider{name: name, module: s["module"]})
	}
	slices.SortFunc(out, func(a, b provider) int { return strings.Compare(a.name, b.name) })
	return out
}

// engines are the dynamic_path files of the engines listed.
func (c *opensslConf) engines() []string {
	var out []string
	for _, sect := range c.sections[c.init()["engines"]] {
		if p := c.sections[sect]["dynamic_path"]; p != "" {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

package elfdeps

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/slim-dev/slim/internal/rootfs"
)

// nssConfig is glibc's name service switch configuration.
const nssConfig = "etc/nsswitch.conf"

// nssModules are the NSS modules glibc loads with dlopen for the default nsswitch.conf
// (files, dns): no DT_NEEDED names them, yet getpwnam and getaddrinfo fail without them.
func nssModules() []string { return []string{"libnss_files.so.2", "libnss_dns.so.2"} }

// loaded is one object mapped into a simulated process.
type loaded struct {
	origin string // root-absolute directory for $ORIGIN, from the name the loader opened
	real   string
	show   string // how reasons name it
	obj    *object
	loader *loaded // the object whose DT_NEEDED (or dlopen) loaded it: glibc walks these RPATHs
}

// process simulates one run of the dynamic loader for one program: glibc and musl load
// breadth first and reuse an object already loaded under the same name, soname or file,
// which decides both what is searched and where.
type process struct {
	r      *Resolver
	c      *collector
	root   *loaded
	musl   bool
	arch   string // musl's arch
	interp *loaded
	byName map[string]*loaded
	byReal map[string]*loaded
	queue  []*loaded
	// ldCache is set once /etc/ld.so.cache is taken for a library of a directory of
	// /etc/ld.so.conf.
	ldCache bool
}

func (r *Resolver) newProcess(c *collector, obj *object, named, real string) *process {
	p := &process{r: r, c: c, byName: map[string]*loaded{}, byReal: map[string]*loaded{}}
	switch arch, ok := muslArch(obj.interp); {
	case ok:
		p.musl, p.arch = true, arch
	case obj.interp == "" && r.muslArch != "":
		p.musl, p.arch = true, r.muslArch
	}
	// The kernel hands the loader the program's resolved path (/proc/self/exe), so the
	// program's $ORIGIN is its real directory, while a library's is where it was found.
	p.root = &loaded{origin: "/" + path.Dir(real), real: real, show: named, obj: obj}
	p.register(p.root, "")
	return p
}

func (p *process) register(l *loaded, name string) {
	if name != "" {
		p.byName[name] = l
	}
	if l.obj.soname != "" {
		p.byName[l.obj.soname] = l
	}
	p.byReal[l.real] = l
}

// load runs the loader: PT_INTERP, then DT_NEEDED breadth first, then NSS for glibc.
func (p *process) load() error {
	if interp := p.root.obj.interp; interp != "" {
		if err := p.loadInterp(interp); err != nil {
			return err
		}
	}
	p.queue = append(p.queue, p.root)
	if err := p.loadPreload(); err != nil {
		return err
	}
	if err := p.drain(); err != nil {
		return err
	}
	if err := p.loadNamedCA(); err != nil {
		return err
	}
	if err := p.loadTLSData(); err != nil {
		return err
	}
	if p.musl || p.byName["libc.so.6"] == nil {
		return p.loadLangs()
	}
	if err := p.loadNSS(); err != nil {
		return err
	}
	if err := p.loadRuntimeData(); err != nil {
		return err
	}
	return p.loadLangs()
}

// loadPreload loads what the loader maps into a dynamic program before its own
// libraries: LD_PRELOAD from the config's Env (glibc and musl) and, for glibc, the
// names in /etc/ld.so.preload, as images preload jemalloc or tcmalloc into every
// process. Without them the program ran with another allocator, and the loader
// printed "cannot be preloaded … ignored" at every start. A name the source lacks
// too is a warning: the loader ignores it.
func (p *process) loadPreload() error {
	if p.root.obj.interp == "" {
		return nil // the kernel starts a static program: no loader reads either
	}
	type preload struct{ name, from string }
	var names []preload
	// glibc and musl split LD_PRELOAD at spaces and colons.
	split := func(r rune) bool { return r == ':' || r == ' ' || r == '\t' || r == '\n' }
	if v, ok := rootfs.Getenv(p.r.opts.env, "LD_PRELOAD"); ok {
		for _, n := range strings.FieldsFunc(v, split) {
			names = append(names, preload{n, "LD_PRELOAD"})
		}
	}
	if !p.musl {
		const list = "etc/ld.so.preload"
		w, err := p.r.walk(list)
		switch {
		case err == nil:
			p.c.add(w, list, "preload list of the loader of "+p.root.show)
			b, err := p.r.readScript(w.real)
			if err != nil {
				return fmt.Errorf("reading /%s: %w", list, err)
			}
			for _, n := range strings.FieldsFunc(string(b), split) {
				names = append(names, preload{n, "/" + list})
			}
		case !rootfs.IsNotFound(err):
			return err
		}
	}
	for _, n := range names {
		why := fmt.Sprintf("%s %s of %s", n.from, n.name, p.root.show)
		if p.byName[n.name] != nil {
			continue
		}
		found, named, err := p.search(p.root, n.name)
		if err != nil {
			return err
		}
		if !found {
			if !p.c.check {
				p.r.warn(fmt.Sprintf("%s: no such library in the source; the loader ignores it", why))
			}
			continue
		}
		if err := p.loadFound(p.root, n.name, named, why); err != nil {
			return err
		}
	}
	return nil
}

func (p *process) loadInterp(interp string) error {
	w, err := p.r.walk(interp)
	if err != nil {
		if rootfs.IsNotFound(err) {
			p.c.miss("PT_INTERP %s of %s", interp, p.root.show)
			return nil
		}
		return err
	}
	p.c.add(w, tidyName(interp), "PT_INTERP "+interp+" of "+p.root.show)
	obj, err := p.r.object(w.real)
	if err != nil {
		// The kernel would refuse to start the program; the fidelity check's business is
		// that the file is there, and its content is the image's.
		if errors.Is(err, ErrNotELF) {
			return nil
		}
		return err
	}
	// The loader is in the link map under the PT_INTERP name and its soname, which is how
	// libc.so.6's DT_NEEDED ld-linux-x86-64.so.2 finds it without a search.
	p.interp = &loaded{origin: parentOf(tidyName(interp)), real: w.real, show: w.real, obj: obj, loader: p.root}
	p.register(p.interp, interp)
	return nil
}

func (p *process) drain() error {
	for len(p.queue) > 0 {
		l := p.queue[0]
		p.queue = p.queue[1:]
		asked := map[string]bool{}
		for _, name := range l.obj.needed {
			// A name listed twice is loaded or reported once.
			if asked[name] {
				continue
			}
			asked[name] = true
			if err := p.need(l, name, "DT_NEEDED "+name+" of "+l.show); err != nil {
				return err
			}
		}
	}
	return nil
}

// need loads name for l, unless it is loaded already.
func (p *process) need(l *loaded, name, why string) error {
	if p.byName[name] != nil {
		return nil
	}
	if p.musl && muslReserved(name) {
		if p.interp == nil && p.root.obj.interp == "" {
			// A library passed on its own: musl's libc is its loader, so that is the file.
			return p.needPath(l, name, "/lib/ld-musl-"+p.arch+".so.1", why)
		}
		return nil
	}
	found, named, err := p.search(l, name)
	if err != nil {
		return err
	}
	if !found {
		if p.r.sonames[name] {
			// Taken with l and loaded by that soname before l is (libjvm.so, which
			// libjli dlopens from lib/server before libjava.so asks for it): the
			// loader reuses it without a search.
			return nil
		}
		p.c.miss("%s", why)
		return nil
	}
	return p.loadFound(l, name, named, why)
}

// needPath loads a fixed path for name.
func (p *process) needPath(l *loaded, name, file, why string) error {
	ok, err := p.try(l, tidyName(file))
	if err != nil {
		return err
	}
	if !ok {
		p.c.miss("%s", why)
		return nil
	}
	return p.loadFound(l, name, tidyName(file), why)
}

func (p *process) loadFound(l *loaded, name, named, why string) error {
	w, err := p.r.walk(named)
	if err != nil {
		return err
	}
	p.c.add(w, named, why)
	if prev := p.byReal[w.real]; prev != nil {
		// The same file under another name (a soname link, musl's libc.musl-*.so.1):
		// the loader notices by device and inode and maps it once.
		p.byName[name] = prev
		return nil
	}
	obj, err := p.r.object(w.real)
	if err != nil {
		return err
	}
	nl := &loaded{origin: parentOf(named), real: w.real, show: w.real, obj: obj, loader: l}
	p.register(nl, name)
	p.queue = append(p.queue, nl)
	return nil
}

// search finds name for l as the loader would and returns the path it opens it by.
func (p *process) search(l *loaded, name string) (bool, string, error) {
	tried := map[string]bool{}
	for _, dir := range p.searchDirs(l, name) {
		cand := tidyName(dir + "/" + name)
		if strings.Contains(name, "/") {
			cand = tidyName(dir)
		}
		if tried[cand] {
			continue
		}
		tried[cand] = true
		ok, err := p.try(l, cand)
		if ok && err == nil && p.viaLdSoConf(l, dir) {
			err = p.loadLdCache(cand)
		}
		if err != nil || ok {
			return ok, cand, err
		}
	}
	return false, "", nil
}

// viaLdSoConf says whether glibc's loader finds a library of l in dir only because
// /etc/ld.so.conf lists dir: not a default directory.
func (p *process) viaLdSoConf(l *loaded, dir string) bool {
	return !p.musl && slices.Contains(p.r.confDirs, dir) && !slices.Contains(glibcDefaultDirs(l.obj), dir)
}

// loadLdCache takes what makes glibc's loader find cand, a library in a directory of
// /etc/ld.so.conf (/usr/local/lib, where make install puts it): the loader reads no
// configuration, only /etc/ld.so.cache, which ldconfig wrote from it. The source's
// cache may list libraries the result lacks; the loader then searches on, as it does
// for a stale cache. The configuration comes too, so that ldconfig and slim's own
// check read the result as the source. A source without a cache gets nothing: its
// loader does not find the library either.
func (p *process) loadLdCache(cand string) error {
	if p.ldCache {
		return nil
	}
	p.ldCache = true
	why := fmt.Sprintf("loader cache that finds /%s (a directory of /etc/ld.so.conf)", cand)
	for i, name := range append([]string{"/etc/ld.so.cache"}, p.r.confFiles...) {
		w, err := p.r.walk(name)
		switch {
		case rootfs.IsNotFound(err) && i == 0:
			return nil // without a cache the source's loader does not find it either
		case rootfs.IsNotFound(err):
			continue
		case err != nil:
			return err
		}
		p.c.add(w, tidyName(name), why)
		why = "configuration of /etc/ld.so.cache"
	}
	return nil
}

// try reports whether the loader would accept the file at cand for l: an ELF object of
// the same class and machine. glibc skips others and searches on, so a 32-bit library
// earlier in the path does not hide the 64-bit one.
func (p *process) try(l *loaded, cand string) (bool, error) {
	w, err := p.r.walk(cand)
	if err != nil {
		if rootfs.IsNotFound(err) {
			return false, nil
		}
		return false, err
	}
	obj, err := p.r.object(w.real)
	switch {
	case errors.Is(err, ErrNotELF) || rootfs.IsNotFound(err):
		return false, nil
	case err != nil:
		return false, err
	}
	return obj.class == l.obj.class && obj.machine == l.obj.machine, nil
}

// searchDirs lists, in order, where the loader looks for name needed by l. For a name
// with a slash it is the name itself (after token expansion), once per expansion.
func (p *process) searchDirs(l *loaded, name string) []string {
	if strings.Contains(name, "/") {
		return p.expand(l, []string{name})
	}
	if p.musl {
		return p.muslDirs(l)
	}
	var dirs []string
	// DT_RPATH of the requester and then of each object up the loader chain, unless the
	// requester has DT_RUNPATH; objects with DT_RUNPATH have no DT_RPATH to offer.
	if !l.obj.hasRunpath {
		for x := l; x != nil; x = x.loader {
			if !x.obj.hasRunpath {
				dirs = append(dirs, p.expand(x, x.obj.rpath)...)
			}
		}
	}
	if p.r.opts.ldLibraryPath != "" {
		dirs = append(dirs, p.expand(p.root, splitSearchPath(p.r.opts.ldLibraryPath, false))...)
	}
	dirs = append(dirs, p.expand(l, l.obj.runpath)...)
	if !l.obj.nodeflib {
		dirs = append(dirs, p.r.confDirs...)
		dirs = append(dirs, glibcDefaultDirs(l.obj)...)
	}
	return dirs
}

// muslDirs is musl's order: LD_LIBRARY_PATH, then the rpath (DT_RUNPATH, else DT_RPATH) of
// the requester and of each object that needed it in turn, then the system path.
func (p *process) muslDirs(l *loaded) []string {
	var dirs []string
	if p.r.opts.ldLibraryPath != "" {
		dirs = append(dirs, splitSearchPath(p.r.opts.ldLibraryPath, true)...)
	}
	for x := l; x != nil; x = x.loader {
		rp := x.obj.rpath
		if x.obj.hasRunpath {
			rp = x.obj.runpath
		}
		dirs = append(dirs, p.expand(x, rp)...)
	}
	sys, err := p.r.muslPath(p.arch)
	if err != nil {
		// An unreadable path file: musl falls back to its default too.
		sys = muslDefaultPath()
	}
	return append(dirs, sys...)
}

// expand applies the dynamic string tokens of x to each path element. Empty elements
// (the working directory) are dropped.
func (p *process) expand(x *loaded, elems []string) []string {
	v := dstValues{origin: x.origin, musl: p.musl}
	if !p.musl {
		v.lib, v.platform = libDirs(x.obj), platform(x.obj)
	}
	var out []string
	for _, e := range elems {
		if e == "" {
			continue
		}
		out = append(out, expandDST(e, v)...)
	}
	return out
}

// loadNSS adds glibc's NSS configuration and default modules, as libc's dlopen would
// find them, when present: an image without them is a choice, not an error.
func (p *process) loadNSS() error {
	if w, err := p.r.walk(nssConfig); err == nil {
		p.c.add(w, nssConfig, "glibc NSS configuration")
	} else if !rootfs.IsNotFound(err) {
		return err
	}
	libc := p.byName["libc.so.6"]
	for _, m := range nssModules() {
		if p.byName[m] != nil {
			continue
		}
		found, named, err := p.search(libc, m)
		if err != nil {
			return err
		}
		if found {
			if err := p.loadFound(libc, m, named, "glibc NSS module "+m); err != nil {
				return err
			}
		}
	}
	return p.drain()
}

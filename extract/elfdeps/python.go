package elfdeps

import (
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/slim-dev/slim/internal/rootfs"
)

// python is one Python runtime taken: where its stdlib is and where its imports are
// looked for, in sys.path order.
type python struct {
	key     string // its langState.done key: where it runs from, as named
	version string // "3.11"
	stdlib  string // image name, no leading slash
	site    []string
	seen    map[string]bool // sources scanned and modules resolved for this runtime
	// infos maps a site directory to its distributions' metadata directories by the
	// top-level module names they provide (top_level.txt, else the name).
	infos map[string]map[string][]string
}

// pythonVersion reads X.Y from a name that is prefix, X.Y, then rest (".so…" for
// libpythonX.Y.so.1.0; "" for the pythonX.Y program).
func pythonVersion(name, prefix string, rest bool) string {
	v, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return ""
	}
	end := len(v)
	if rest {
		end = strings.Index(v, ".so")
		if end < 0 {
			return ""
		}
	}
	major, minor, ok := strings.Cut(v[:end], ".")
	if !ok || !digits(major) || !digits(minor) {
		return ""
	}
	return v[:end]
}

func digits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// loadPython takes, for a Python interpreter (pythonX.Y, or a program linking
// libpythonX.Y), its stdlib directory with lib-dynload, less what only development
// needs (tests, IDLE, tkinter, ensurepip, bytecode of other versions), its venv's
// pyvenv.cfg, and remembers where imports are found for Imports.
func (p *process) loadPython() error {
	version := pythonVersion(path.Base(p.root.real), "python", false)
	if l := p.loadedNamed("libpython"); version == "" && l != nil {
		version = pythonVersion(path.Base(l.real), "libpython", true)
	}
	if version == "" {
		return nil
	}
	if st := p.r.langs(); st.pyBin == "" {
		st.pyBin = p.root.real
	}
	// Python finds its prefix from where the executable really is; a venv from where it
	// was named (the directory that holds pyvenv.cfg, or its parent).
	prefix := path.Dir(path.Dir(p.root.real))
	key := "python:" + prefix + ":" + p.root.show
	if p.r.langs().done[key] {
		// Run again with other arguments (a script's second python3 line): what they
		// name for the runtime taken already.
		for _, py := range p.r.langs().pythons {
			if py.key == key {
				return p.pythonArgs(py)
			}
		}
		return nil
	}
	p.r.langs().done[key] = true
	py := &python{key: key, version: version, seen: map[string]bool{}, infos: map[string]map[string][]string{}}
	why := fmt.Sprintf("python%s stdlib for /%s", version, p.root.real)
	for _, lib := range []string{"lib", "lib64"} {
		dir := join(prefix, lib+"/python"+version)
		if ok, err := p.r.exists(dir + "/os.py"); err != nil || !ok {
			if err != nil {
				return err
			}
			continue
		}
		py.stdlib = dir
		if _, err := p.addTree(dir, why, py.skipStdlib); err != nil {
			return err
		}
		break
	}
	system := true
	for _, venv := range []string{path.Dir(p.root.show), path.Dir(path.Dir(p.root.show))} {
		cfg := join(venv, "pyvenv.cfg")
		ok, err := p.addFound(cfg, fmt.Sprintf("pyvenv.cfg of the venv of /%s", p.root.show))
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		b, err := p.r.readFile(cfg)
		if err != nil {
			return err
		}
		system = venvSystemSite(b)
		py.site = append(py.site, join(venv, "lib/python"+version+"/site-packages"), join(venv, "lib64/python"+version+"/site-packages"))
		break
	}
	if pp, ok := rootfs.Getenv(p.r.opts.env, "PYTHONPATH"); ok {
		for _, d := range strings.Split(pp, ":") {
			if path.IsAbs(d) {
				py.site = append(py.site, tidyName(d))
			}
		}
	}
	if system {
		if prefix == "usr" {
			// Debian's site.py adds /usr/local before /usr.
			py.site = append(py.site, "usr/local/lib/python"+version+"/dist-packages", "usr/local/lib/python"+version+"/site-packages")
		}
		py.site = append(py.site, join(prefix, "lib/python3/dist-packages"), join(prefix, "lib/python"+version+"/dist-packages"),
			join(prefix, "lib/python"+version+"/site-packages"), join(prefix, "lib64/python"+version+"/site-packages"))
	}
	p.r.langs().pythons = append(p.r.langs().pythons, py)
	return p.pythonArgs(py)
}

// pythonArgs takes what the config's command line has the interpreter import first:
// the module of -m (python3 -m gunicorn app:app) and the imports of -c's program,
// which no source file names, so the image failed at start with ModuleNotFoundError.
// What they import in turn is scanned as every source is.
func (p *process) pythonArgs(py *python) error {
	args, ok := p.r.argsOf(p.root.real)
	if !ok {
		return nil
	}
	code, how := pythonRunCode(args)
	for _, mod := range pythonImports([]byte(code)) {
		if py.seen["module:"+mod] {
			continue
		}
		py.seen["module:"+mod] = true
		if _, err := p.takeModule(py, mod, fmt.Sprintf("module %s that /%s %s", mod, p.root.show, how)); err != nil {
			return err
		}
	}
	return nil
}

// pythonRunCode reads the interpreter's options up to the first that ends them: -m
// MOD (as the code "import MOD"), -c CODE, a script or "-". how says which it was.
// Options may be grouped (-uBm MOD) and their values attached (-mMOD, -Wignore).
func pythonRunCode(args []string) (code, how string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--" || a == "-" || !strings.HasPrefix(a, "-"):
			return "", "" // a script (or standard input) is the program
		case a == "--check-hash-based-pycs":
			i++
			continue
		case strings.HasPrefix(a, "--"):
			continue // --version, --help: no value
		}
		for j := 1; j < len(a); j++ {
			opt := a[j]
			if opt != 'c' && opt != 'm' && opt != 'W' && opt != 'X' {
				continue
			}
			val := a[j+1:]
			if val == "" && i+1 < len(args) {
				i++
				val = args[i]
			}
			switch opt {
			case 'c':
				return val, "runs with -c"
			case 'm':
				return "import " + val + "\n", "runs with -m"
			}
			break // -W and -X took the rest as their value
		}
	}
	return "", ""
}

// venvSystemSite reads include-system-site-packages from a pyvenv.cfg (false unless
// it says true, as site.py reads it).
func venvSystemSite(cfg []byte) bool {
	for _, line := range strings.Split(string(cfg), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if ok && strings.TrimSpace(strings.ToLower(k)) == "include-system-site-packages" {
			return strings.TrimSpace(strings.ToLower(v)) == "true"
		}
	}
	return false
}

func join(dir, name string) string {
	if dir == "" || dir == "." {
		return tidyName(name)
	}
	return tidyName(dir + "/" + name)
}

// skipStdlib leaves out of the stdlib what a program never imports (the test suites,
// IDLE, tkinter, ensurepip's wheels, build configuration), what imports find elsewhere
// (site-packages, taken by Imports) and bytecode another version wrote.
func (py *python) skipStdlib(rel string, d fs.DirEntry) bool {
	base := path.Base(rel)
	if d.IsDir() {
		if !strings.Contains(rel, "/") {
			switch {
			case base == "idlelib" || base == "tkinter" || base == "turtledemo" || base == "ensurepip" ||
				base == "site-packages" || base == "dist-packages" || strings.HasPrefix(base, "config-"):
				return true
			}
		}
		return base == "test" || base == "tests" || base == "idle_test"
	}
	return py.otherBytecode(rel)
}

// installed says whether src is in one of py's site directories: a library's own
// strings name modules it may use, not ones the app needs.
func (py *python) installed(src string) bool {
	for _, d := range py.site {
		if strings.HasPrefix(src, d+"/") {
			return true
		}
	}
	return false
}

// otherBytecode says whether rel is a __pycache__ file of another Python version.
func (py *python) otherBytecode(rel string) bool {
	if path.Base(path.Dir(rel)) != "__pycache__" {
		return false
	}
	tag := ".cpython-" + strings.ReplaceAll(py.version, ".", "")
	return !strings.Contains(path.Base(rel), tag+".") && !strings.Contains(path.Base(rel), tag+"-")
}

// Imports returns the modules that the source files given (image names) load by
// name, and what they start: for Perl sources (.pl, .pm, #! perl scripts), see
// perlImports; for the app's own sources of Perl, Ruby, PHP, Lua and Tcl, the programs
// they run once their runtime is met (scriptSpawn); for Python
// (.py), the modules they import, with what those import in turn: each top-level package or module found in a
// site or dist-packages directory of a Python runtime taken by an earlier Closure, with
// its C extensions and its distribution's metadata. Sources are remembered, so a
// runtime met later still sees them. Imports of the stdlib, relative ones and names no
// directory has are nothing to take: the stdlib comes whole with the runtime, and an
// import that fails in the source fails the same way in the copy.
func (r *Resolver) Imports(files ...string) ([]Dep, error) {
	st := r.langs()
	for _, f := range files {
		if strings.HasSuffix(f, ".py") {
			st.sources = append(st.sources, tidyName(f))
			continue
		}
		if IsJSSource(f) {
			st.jsSrc = append(st.jsSrc, tidyName(f))
			continue
		}
		head, err := r.readHead(f)
		if err != nil {
			return nil, err
		}
		if fam := scriptFamily(f, head); fam != "" {
			st.scripts = append(st.scripts, scriptSource{tidyName(f), fam})
		}
		switch interp := shebangProgram(head); {
		case isPerlSource(f, head):
			st.perlSrc = append(st.perlSrc, tidyName(f))
		case strings.HasPrefix(interp, "python"):
			// A console script (/usr/local/bin/gunicorn) or an app's script without .py.
			st.sources = append(st.sources, tidyName(f))
		case (interp == "node" || interp == "nodejs") && !strings.Contains("/"+f, "/node_modules/"):
			st.jsSrc = append(st.jsSrc, tidyName(f))
		}
	}
	c := &collector{seen: map[string]bool{}, inputs: map[string]bool{}, roots: map[string]bool{}}
	p := &process{r: r, c: c}
	if err := p.perlImports(st.perlSrc); err != nil {
		return nil, err
	}
	for _, sc := range st.scripts {
		if st.done["runtime:"+sc.family] && ownScript(sc.name) {
			if err := r.spawnedIn(c, sc.name, nil, scriptSpawn(sc.family)); err != nil {
				return nil, err
			}
		}
	}
	if st.node {
		for _, src := range st.jsSrc {
			if err := p.nodeSource(src); err != nil {
				return nil, err
			}
		}
	}
	for _, py := range st.pythons {
		queue := []string{}
		enqueue := func(found []string) {
			for _, f := range found {
				if !py.seen[f] {
					py.seen[f] = true
					queue = append(queue, f)
				}
			}
		}
		if !py.seen["config args"] {
			// A module the config's command line names for a runner to import
			// (gunicorn -k uvicorn.workers.UvicornWorker, --worker-class=gevent).
			py.seen["config args"] = true
			for _, mod := range r.argModules() {
				if py.seen["module:"+mod] {
					continue
				}
				found, err := p.takeModule(py, mod, "module "+mod+" named by the config's arguments")
				if err != nil {
					return nil, err
				}
				if len(found) > 0 {
					py.seen["module:"+mod] = true
				}
				enqueue(found)
			}
		}
		for _, src := range st.sources {
			if py.seen[src] || (py.stdlib != "" && strings.HasPrefix(src, py.stdlib+"/")) {
				continue
			}
			py.seen[src] = true
			queue = append(queue, src)
		}
		for len(queue) > 0 {
			src := queue[0]
			queue = queue[1:]
			b, err := r.readSource(src)
			if err != nil {
				return nil, err
			}
			imported := pythonImports(b)
			mods := imported
			if !py.installed(src) {
				if err := r.spawnedIn(c, src, b, pythonSpawn); err != nil {
					return nil, err
				}
				if err := p.sourceFiles(src, b, true); err != nil {
					return nil, err
				}
				for _, d := range pythonPathDirs(b, src, r.opts.workdir) {
					if d := tidyName(d); !slices.Contains(py.site, d) {
						py.site = append(py.site, d)
					}
				}
				for _, m := range pythonStringModules(b) {
					if !slices.Contains(mods, m) {
						mods = append(slices.Clip(mods), m)
					}
				}
				for _, d := range pythonDistNames(b) {
					if err := p.takeDist(py, d, "distribution "+d+" named by /"+src); err != nil {
						return nil, err
					}
				}
				for _, mod := range imported {
					found, err := p.takeLocalModule(py, src, mod)
					if err != nil {
						return nil, err
					}
					enqueue(found)
				}
			}
			for _, mod := range mods {
				if py.seen["module:"+mod] {
					continue
				}
				py.seen["module:"+mod] = true
				why := "module " + mod + " imported by /" + src
				if !slices.Contains(imported, mod) {
					why = "module " + mod + " named in a string by /" + src
				}
				found, err := p.takeModule(py, mod, why)
				if err != nil {
					return nil, err
				}
				enqueue(found)
			}
		}
	}
	return c.deps, nil
}

// maxSource bounds a source file read for its imports.
const maxSource = 16 << 20

// readHead reads the first bytes of a file, enough for its #! line.
func (r *Resolver) readHead(name string) ([]byte, error) {
	f, err := r.fsys.Open(name)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 256))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	return b, nil
}

func (r *Resolver) readSource(name string) ([]byte, error) {
	f, err := r.fsys.Open(name)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSource))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	return b, nil
}

// takeModule adds the top-level module mod as Python's path finder finds it in py's
// site directories: the first regular package or module, or every portion of a
// namespace package; with the distribution metadata that names it. It returns the
// .py files taken, to scan in turn.
func (p *process) takeModule(py *python, mod, why string) ([]string, error) {
	return p.takeModuleIn(py, py.site, mod, why)
}

// takeLocalModule adds the module mod that sits next to the app source src: the
// directory of the script python3 runs is first on sys.path, so a script outside the
// directory named with --from (a script's python3 /opt/svc/main.py) imports its
// sibling modules from there ("No module named 'helper'" before).
func (p *process) takeLocalModule(py *python, src, mod string) ([]string, error) {
	dir := path.Dir(src)
	key := "local:" + join(dir, mod)
	if py.seen[key] {
		return nil, nil
	}
	py.seen[key] = true
	for _, name := range []string{mod + ".py", mod + ".pyc", mod} {
		ok, err := p.r.exists(join(dir, name))
		if err != nil {
			return nil, err
		}
		if ok {
			return p.takeModuleIn(py, []string{dir}, mod, "module "+mod+" next to /"+src)
		}
	}
	return nil, nil
}

// takeModuleIn is takeModule in the directories dirs.
func (p *process) takeModuleIn(py *python, dirs []string, mod, why string) ([]string, error) {
	var sources []string
	addSources := func(from int) {
		for _, d := range p.c.deps[from:] {
			if !d.Symlink && strings.HasSuffix(d.Path, ".py") {
				sources = append(sources, d.Path)
			}
		}
	}
	for _, dir := range dirs {
		from := len(p.c.deps)
		pkg := join(dir, mod)
		if fi, err := fs.Stat(p.r.fsys, p.realOr(pkg)); err == nil && fi.IsDir() {
			if _, err := p.addTree(pkg, why, func(rel string, d fs.DirEntry) bool { return !d.IsDir() && py.otherBytecode(rel) }); err != nil {
				return nil, err
			}
			if err := p.takeInfo(py, dir, mod, why); err != nil {
				return nil, err
			}
			addSources(from)
			regular := false
			for _, init := range []string{"__init__.py", "__init__.pyc"} {
				ok, err := p.r.exists(pkg + "/" + init)
				if err != nil {
					return nil, err
				}
				regular = regular || ok
			}
			if regular {
				return sources, nil
			}
			continue // a namespace package: its portions are in several directories
		}
		ents, err := fs.ReadDir(p.r.fsys, p.realOr(dir))
		if err != nil {
			continue // a site directory the image does not have
		}
		found := false
		for _, e := range ents {
			n := e.Name()
			if n == mod+".py" || n == mod+".pyc" || (strings.HasPrefix(n, mod+".") && strings.HasSuffix(n, ".so")) {
				if _, err := p.addFound(join(dir, n), why); err != nil {
					return nil, err
				}
				found = true
			}
		}
		if found {
			if ents, err := fs.ReadDir(p.r.fsys, p.realOr(join(dir, "__pycache__"))); err == nil {
				for _, e := range ents {
					if strings.HasPrefix(e.Name(), mod+".") && !py.otherBytecode("__pycache__/"+e.Name()) {
						if _, err := p.addFound(join(dir, "__pycache__/"+e.Name()), why); err != nil {
							return nil, err
						}
					}
				}
			}
			if err := p.takeInfo(py, dir, mod, why); err != nil {
				return nil, err
			}
			addSources(from)
			return sources, nil
		}
	}
	return sources, nil
}

// realOr is name with its symlinks resolved, or name itself when it does not resolve.
func (p *process) realOr(name string) string {
	if w, err := p.r.walk(name); err == nil {
		return w.real
	}
	return name
}

// pythonDistNames lists the distributions an app's Python source reads the metadata
// of by name: importlib.metadata's version('PyYAML'), metadata, distribution,
// requires and files, pkg_resources' get_distribution and require. A distribution
// nothing imports has its metadata taken with no module, and the app failed with
// PackageNotFoundError.
func pythonDistNames(src []byte) []string {
	toks := srcTokens(src, true)
	var out []string
	for i := 0; i+2 < len(toks); i++ {
		if toks[i+1].punct != '(' || !toks[i+2].lit || toks[i+2].dyn {
			continue
		}
		switch toks[i].word[strings.LastIndexByte(toks[i].word, '.')+1:] {
		case "version", "metadata", "distribution", "requires", "files", "get_distribution", "require":
			if n := toks[i+2].str; distNameKey(n) != "" && !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	return out
}

// distNameKey is a distribution's name as PEP 503 compares them (PyYAML and pyyaml,
// zope.interface and Zope_Interface alike), "" for a string no distribution could be
// named; a requirement's version is cut off (pkg_resources.require('x>=1')).
func distNameKey(n string) string {
	n = strings.TrimSpace(n)
	if i := strings.IndexAny(n, "<>=!~;[ "); i >= 0 {
		n = n[:i]
	}
	if n == "" || len(n) > 200 {
		return ""
	}
	var b strings.Builder
	sep := false
	for _, c := range strings.ToLower(n) {
		switch {
		case c == '-' || c == '_' || c == '.':
			sep = true
		case c >= 'a' && c <= 'z' || c >= '0' && c <= '9':
			if sep && b.Len() > 0 {
				b.WriteByte('-')
			}
			sep = false
			b.WriteRune(c)
		default:
			return ""
		}
	}
	return b.String()
}

// takeDist adds the metadata directories of the distribution name in the runtime's
// site directories.
func (p *process) takeDist(py *python, name, why string) error {
	key := distNameKey(name)
	if key == "" || py.seen["dist:"+key] {
		return nil
	}
	py.seen["dist:"+key] = true
	for _, dir := range py.site {
		ents, err := fs.ReadDir(p.r.fsys, p.realOr(dir))
		if err != nil {
			continue
		}
		for _, e := range ents {
			n := e.Name()
			base, ok := strings.CutSuffix(n, ".dist-info")
			if !ok {
				if base, ok = strings.CutSuffix(n, ".egg-info"); !ok {
					continue
				}
			}
			dist, _, _ := strings.Cut(base, "-")
			if distNameKey(dist) == key {
				if _, err := p.addTree(join(dir, n), why, nil); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// takeInfo adds the *.dist-info and *.egg-info of dir whose distribution provides mod:
// importlib.metadata (versions, entry points) reads them.
func (p *process) takeInfo(py *python, dir, mod, why string) error {
	byMod, ok := py.infos[dir]
	if !ok {
		byMod = map[string][]string{}
		py.infos[dir] = byMod
		ents, err := fs.ReadDir(p.r.fsys, p.realOr(dir))
		if err != nil {
			return nil
		}
		for _, e := range ents {
			n := e.Name()
			if !strings.HasSuffix(n, ".dist-info") && !strings.HasSuffix(n, ".egg-info") {
				continue
			}
			var mods []string
			if b, err := p.r.readFile(join(dir, n+"/top_level.txt")); err == nil {
				mods = strings.Fields(string(b))
			} else {
				name, _, _ := strings.Cut(n, "-")
				mods = []string{strings.ToLower(strings.NewReplacer("-", "_", ".", "_").Replace(name))}
			}
			for _, m := range mods {
				byMod[m] = append(byMod[m], join(dir, n))
			}
		}
	}
	for _, info := range byMod[mod] {
		if _, err := p.addTree(info, why, nil); err != nil {
			return err
		}
	}
	return nil
}

// pythonImports lists the top-level modules a Python source imports by absolute
// name: `import a.b as c, d` and `from a.b import c`, anywhere (in functions, under
// try), with strings, comments and line continuations understood. Relative imports
// are left out: they stay inside a package that is taken whole.
func pythonImports(src []byte) []string {
	var out []string
	add := func(name string) {
		name, _, _ = strings.Cut(strings.TrimSpace(name), ".")
		if isIdent(name) && !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	for _, line := range pythonLines(src) {
		for _, stmt := range strings.Split(line, ";") {
			f := strings.Fields(stmt)
			switch {
			case len(f) >= 2 && f[0] == "import":
				for _, part := range strings.Split(strings.Join(f[1:], " "), ",") {
					if w := strings.Fields(part); len(w) > 0 {
						add(w[0])
					}
				}
			case len(f) >= 4 && f[0] == "from" && f[2] == "import" && !strings.HasPrefix(f[1], "."):
				add(f[1])
			}
		}
	}
	return out
}

// pythonStringModules returns the top-level names of the dotted module paths an app's
// source spells as string literals: Django's INSTALLED_APPS ('rest_framework'), a
// worker class ('uvicorn.workers.UvicornWorker'), importlib.import_module('yaml').
// Python imports them by name at run time, so no import statement shows them.
// Docstrings (triple quotes) and comments are not read.
func pythonStringModules(src []byte) []string {
	var out []string
	for i := 0; i < len(src); i++ {
		switch c := src[i]; {
		case c == '#':
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case c == '\'' || c == '"':
			triple := i+2 < len(src) && src[i+1] == c && src[i+2] == c
			end := skipString(src, i, triple)
			if !triple && end < len(src) && src[end] == c {
				lit := string(src[i+1 : end])
				if first, _, _ := strings.Cut(lit, "."); isDotted(lit) && !slices.Contains(out, first) {
					out = append(out, first)
				}
			}
			i = end
		}
	}
	return out
}

// argModules are the top-level names of the dotted paths (or names) that the config's
// programs' arguments spell, whole or after = or :, less options.
func (r *Resolver) argModules() []string {
	var out []string
	lines := [][]string{}
	for _, st := range r.opts.starts {
		lines = append(lines, st.args)
	}
	for _, args := range r.cmdArgs { // what wrappers and shell-form commands run
		lines = append(lines, args)
	}
	for _, args := range r.otherArgs { // and scripts' command lines
		lines = append(lines, args)
	}
	for _, args := range lines {
		for _, a := range args {
			if strings.HasPrefix(a, "-") && !strings.Contains(a, "=") {
				continue
			}
			for _, tok := range strings.FieldsFunc(a, func(c rune) bool { return c == '=' || c == ':' || c == ',' }) {
				if first, _, _ := strings.Cut(tok, "."); isDotted(tok) && !slices.Contains(out, first) {
					out = append(out, first)
				}
			}
		}
	}
	return out
}

// isDotted says whether s is a dotted path of identifiers (a.b.c).
func isDotted(s string) bool {
	for _, part := range strings.Split(s, ".") {
		if !isIdent(part) || part[0] >= 0x80 {
			return false
		}
	}
	return s != ""
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if c != '_' && !(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') && (i == 0 || !(c >= '0' && c <= '9')) && c < 0x80 {
			return false
		}
	}
	return true
}

// pythonLines splits Python source into logical lines: comments dropped, string
// literals replaced by "", lines joined inside brackets and after a backslash, and
// leading indentation dropped.
func pythonLines(src []byte) []string {
	var lines []string
	var cur strings.Builder
	depth := 0
	flush := func() {
		if s := strings.TrimSpace(cur.String()); s != "" {
			lines = append(lines, s)
		}
		cur.Reset()
	}
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case c == '#':
			for i < len(src) && src[i] != '\n' {
				i++
			}
			i--
		case c == '\\' && i+1 < len(src) && src[i+1] == '\n':
			i++
			cur.WriteByte(' ')
		case c == '\'' || c == '"':
			triple := i+2 < len(src) && src[i+1] == c && src[i+2] == c
			i = skipString(src, i, triple)
			cur.WriteString(`""`)
		case c == '(' || c == '[' || c == '{':
			depth++
			cur.WriteByte(c)
		case c == ')' || c == ']' || c == '}':
			if depth > 0 {
				depth--
			}
			cur.WriteByte(c)
		case c == '\n':
			if depth == 0 {
				flush()
			} else {
				cur.WriteByte(' ')
			}
		default:
			cur.WriteByte(c)
		}
	}
	flush()
	// Parentheses around imported names ("from a import (b, c)") mean nothing here.
	for i, l := range lines {
		lines[i] = strings.NewReplacer("(", " ", ")", " ").Replace(l)
	}
	return lines
}

// skipString returns the index of the last byte of the string literal opening at i.
func skipString(src []byte, i int, triple bool) int {
	q := src[i]
	if triple {
		for j := i + 3; j+2 < len(src); j++ {
			switch {
			case src[j] == '\\':
				j++
			case src[j] == q && src[j+1] == q && src[j+2] == q:
				return j + 2
			}
		}
		return len(src) - 1
	}
	for j := i + 1; j < len(src); j++ {
		switch src[j] {
		case '\\':
			j++
		case q, '\n':
			return j
		}
	}
	// Unclosed at the end: nothing after the quote is a literal (a source whose last
	// byte is a quote must not read the quote as one).
	return len(src)
}

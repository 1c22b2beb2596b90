package elfdeps

import (
	"errors"
	"path"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// maxSourcePaths bounds the paths read from one source: a bundle of routes and URLs is
// not naming its files.
const maxSourcePaths = 1024

// namedPath is a path an app source names. own is set when it is named from where the
// app is (its source's own location, __dirname or __file__, or the working
// directory): a directory named so is the app's own data (templates, static files),
// needed whole.
type namedPath struct {
	path string
	own  bool
	// maybe is set for a relative name read against the working directory or the
	// source's directory: taken only when the image has it, since most strings name
	// no file.
	maybe bool
	// soname is set for a library's bare name (ctypes.CDLL('libsodium.so.23')): path
	// is that name, which the runtime's dlopen searches for.
	soname bool
}

// maxRelativeNames bounds the relative strings of one source looked up as files.
const maxRelativeNames = 256

// sourcePaths lists the absolute paths an app's Python (hashComments) or JavaScript
// source, the image's file named file, names: a literal string ('/etc/app/config.json'),
// or an expression of literals and the app's own location, the way apps spell it:
// os.path.join(os.path.dirname(__file__), 'templates'), Path(__file__).parent / 'x',
// path.join(__dirname, 'public'), __dirname + '/views', new URL('./x', import.meta.url),
// process.cwd(), and names assigned such a value (BASE_DIR = …). An app that opens
// such a file started, then failed, when it was left out.
func sourcePaths(src []byte, hashComments bool, file, workdir string) []namedPath {
	e := newPathEval(srcTokens(src, hashComments), file, workdir)
	var out []namedPath
	relative := 0
	var add func(p namedPath)
	add = func(p namedPath) {
		if !path.IsAbs(p.path) && !p.own && isSoname(p.path) && !slices.Contains(out, namedPath{path: p.path, soname: true}) {
			out = append(out, namedPath{path: p.path, soname: true})
		}
		if !path.IsAbs(p.path) {
			// A relative name ('static', 'config/app.json') is read from where the app
			// runs (express.static, Jinja2Templates(directory=…)) or from its source's
			// directory (Flask's template_folder): either, if the image has it. Neither
			// directory is read when it is / (an image without a WORKDIR names
			// nothing by 'usr').
			if relative >= maxRelativeNames || !relativeName(p.path) {
				return
			}
			relative++
			for _, dir := range []string{e.workdir, path.Dir(e.file)} {
				if dir != "/" {
					add(namedPath{path: path.Join(dir, p.path), own: true, maybe: true})
				}
			}
			return
		}
		if len(out) < maxSourcePaths && len(p.path) > 1 && len(p.path) < 4096 && path.IsAbs(p.path) && !strings.HasPrefix(p.path, "//") && !strings.ContainsFunc(p.path, unicode.IsSpace) {
			p.path = path.Clean(p.path)
			if i := slices.IndexFunc(out, func(q namedPath) bool { return q.path == p.path }); i >= 0 {
				out[i].own = out[i].own || p.own
				out[i].maybe = out[i].maybe && p.maybe
			} else {
				out = append(out, p)
			}
		}
	}
	toks := e.toks
	for i := 0; i < len(toks); {
		// A module a JavaScript source loads ('./lib', 'express') is resolved as a
		// module, not read as a file's name.
		mod := -1
		switch w := toks[i].word; {
		case (w == "require" || w == "import") && i+2 < len(toks) && toks[i+1].punct == '(' && toks[i+2].lit:
			mod = i + 2
		case (w == "from" || w == "import") && !hashComments && i+1 < len(toks) && toks[i+1].lit:
			mod = i + 1
		}
		if mod >= 0 {
			if e.workdir != "/" {
				for _, d := range jsModuleFiles(toks[mod].str) {
					add(namedPath{path: path.Join(e.workdir, d), own: true, maybe: true})
				}
			}
			i = mod + 1
			continue
		}
		if w := toks[i].word; hashComments && i+1 < len(toks) && toks[i+1].punct == '(' {
			for _, d := range pythonCallFiles(w[strings.LastIndexByte(w, '.')+1:]) {
				add(namedPath{path: path.Join(path.Dir(e.file), d), own: true, maybe: true})
				if e.workdir != "/" {
					add(namedPath{path: path.Join(e.workdir, d), own: true, maybe: true})
				}
			}
		}
		if w := toks[i].word; w != "" && i+2 < len(toks) && toks[i+1].punct == '=' && toks[i+2].punct != '=' {
			if v, j, ok := e.expr(i + 2); ok {
				e.vars[w] = v
				add(v)
				i = j
				continue
			}
		}
		// A known name alone was listed where it was assigned.
		if v, j, ok := e.expr(i); ok && (toks[i].lit || j > i+1) {
			add(v)
			i = j
			continue
		}
		i++
	}
	return out
}

// jsModuleFiles are what a Node module reads from the working directory by default,
// naming none of it: Express's views, node-config's config directory, dotenv's .env.
func jsModuleFiles(mod string) []string {
	switch mod {
	case "express":
		return []string{"views"}
	case "config":
		return []string{"config"}
	case "dotenv", "dotenv/config":
		return []string{".env"}
	}
	return nil
}

// pythonCallFiles are what a Python call reads by default next to the calling module
// or from the working directory, naming none of it: Flask's templates and static
// directories, python-dotenv's .env.
func pythonCallFiles(name string) []string {
	switch name {
	case "Flask", "Quart":
		return []string{"templates", "static"}
	case "load_dotenv", "dotenv_values", "find_dotenv":
		return []string{".env"}
	}
	return nil
}

// isSoname says whether s is a shared library's bare name, lib*.so with its version.
func isSoname(s string) bool {
	base, ver, found := strings.Cut(s, ".so")
	if !found || !strings.HasPrefix(s, "lib") || len(base) <= 3 || len(s) > 255 || strings.ContainsFunc(base, func(c rune) bool {
		return !(c == '_' || c == '-' || c == '+' || c == '.' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9')
	}) {
		return false
	}
	return ver == "" || ver[0] == '.' && strings.Trim(ver, ".0123456789") == "" && !strings.Contains(ver, "..") && !strings.HasSuffix(ver, ".")
}

// relativeName says whether a relative string could name a file of the app's:
// no blanks, options, URLs, globs, templates or way up, and nothing in the package
// trees that module resolution reads package by package.
func relativeName(s string) bool {
	if s == "" || len(s) > 255 || s[0] == '-' || strings.ContainsAny(s, ":\\$%{}*?<>|\"'`") || strings.ContainsFunc(s, unicode.IsSpace) {
		return false
	}
	c := path.Clean(s)
	if c == "." || c == ".." || strings.HasPrefix(c, "../") {
		return false
	}
	for _, seg := range strings.Split(c, "/") {
		if seg == "node_modules" || seg == "site-packages" || seg == "dist-packages" || seg == "__pycache__" {
			return false
		}
	}
	return true
}

// pathEval reads path expressions from a source's tokens.
type pathEval struct {
	toks          []srcToken
	file, workdir string
	vars          map[string]namedPath
	depth         int // of calls being read: a source nesting thousands is not naming a path
}

// maxPathDepth bounds the calls read inside one another.
const maxPathDepth = 16

func newPathEval(toks []srcToken, file, workdir string) *pathEval {
	return &pathEval{toks: toks, file: path.Join("/", file), workdir: path.Join("/", workdir), vars: map[string]namedPath{}}
}

// expr reads the path expression at toks[i]: operands joined by + (concatenation) or
// / (pathlib's join). It returns the value and the index after the expression.
func (e *pathEval) expr(i int) (namedPath, int, bool) {
	v, j, ok := e.postfix(i)
	for ok && j+1 < len(e.toks) && (e.toks[j].punct == '+' || e.toks[j].punct == '/') {
		r, k, rok := e.postfix(j + 1)
		if !rok {
			break
		}
		if e.toks[j].punct == '+' {
			v.path += r.path
		} else {
			v = joinNamed(v, r)
		}
		j = k
	}
	return v, j, ok
}

// joinNamed joins r to v as os.path.join, path.resolve and pathlib do: an absolute r
// starts over.
func joinNamed(v, r namedPath) namedPath {
	if path.IsAbs(r.path) {
		return r
	}
	return namedPath{path: path.Join(v.path, r.path), own: v.own}
}

// postfix reads an operand with pathlib's steps after it: .parent, .parents[N],
// .resolve(), .absolute(), .joinpath(…), on the operand's own word (BASE.parent) or
// after a call (Path(__file__).parent). A step it does not know (.read_text()) ends
// the path, whose value is what came before.
func (e *pathEval) postfix(i int) (namedPath, int, bool) {
	var v namedPath
	j, ok := i, false
	if i < len(e.toks) && strings.Contains(e.toks[i].word, ".") {
		// A name assigned a path, with steps in the same dotted word.
		w := e.toks[i].word
		for k := strings.LastIndexByte(w, '.'); k > 0; k = strings.LastIndexByte(w[:k], '.') {
			if base, found := e.vars[w[:k]]; found {
				if v, j, ok = e.steps(base, strings.Split(w[k+1:], "."), i+1); !ok {
					return v, j, true
				}
				ok = true
				break
			}
		}
	}
	if !ok {
		if v, j, ok = e.primary(i); !ok {
			return v, j, false
		}
	}
	for j < len(e.toks) && strings.HasPrefix(e.toks[j].word, ".") {
		next, done := 0, false
		if v, next, done = e.steps(v, strings.Split(e.toks[j].word[1:], "."), j+1); !done {
			return v, j, true
		}
		j = next
	}
	return v, j, true
}

// steps applies the pathlib steps segs to v, the tokens from next on holding the
// last step's call; done is false when a step it does not know ended the path.
func (e *pathEval) steps(v namedPath, segs []string, next int) (_ namedPath, _ int, done bool) {
	toks := e.toks
	for n, seg := range segs {
		last := n == len(segs)-1
		call := last && next < len(toks) && toks[next].punct == '('
		switch {
		case seg == "parent" && !call:
			v.path = path.Dir(v.path)
		case (seg == "resolve" || seg == "absolute") && call && next+1 < len(toks) && toks[next+1].punct == ')':
			next += 2
		case seg == "joinpath" && call:
			args, k, ok := e.args(next)
			if !ok {
				return v, next, false
			}
			for _, a := range args {
				v = joinNamed(v, a)
			}
			next = k
		case seg == "parents" && last && next+2 < len(toks) && toks[next].punct == '[' && toks[next+2].punct == ']':
			up, err := strconv.Atoi(toks[next+1].word)
			if err != nil || up < 0 || up > 64 {
				return v, next, false
			}
			for range up + 1 {
				v.path = path.Dir(v.path)
			}
			next += 3
		default:
			return v, next, false
		}
	}
	return v, next, true
}

// primary reads a literal, the app's own location, a name assigned a path, or a call
// of a path function.
func (e *pathEval) primary(i int) (namedPath, int, bool) {
	toks := e.toks
	if i >= len(toks) {
		return namedPath{}, i, false
	}
	t := toks[i]
	switch t.word {
	case "":
		return namedPath{path: t.str}, i + 1, t.lit && !t.dyn
	case "__dirname", "import.meta.dirname":
		return namedPath{path: path.Dir(e.file), own: true}, i + 1, true
	case "__file__", "__filename", "import.meta.filename", "import.meta.url":
		return namedPath{path: e.file, own: true}, i + 1, true
	}
	if i+1 >= len(toks) || toks[i+1].punct != '(' {
		v, ok := e.vars[t.word]
		return v, i + 1, ok
	}
	if e.depth >= maxPathDepth {
		return namedPath{}, i + 1, false
	}
	e.depth++
	args, j, ok := e.args(i + 1)
	e.depth--
	if !ok {
		return namedPath{}, i + 1, false
	}
	switch name := t.word[strings.LastIndexByte(t.word, '.')+1:]; {
	case (name == "join" || name == "resolve" || name == "joinpath") && len(args) > 0:
		v := args[0]
		for _, a := range args[1:] {
			v = joinNamed(v, a)
		}
		return v, j, true
	case name == "dirname" && len(args) == 1:
		return namedPath{path: path.Dir(args[0].path), own: args[0].own}, j, true
	case (name == "abspath" || name == "realpath" || name == "normpath" || name == "normalize" || name == "fspath" ||
		name == "fileURLToPath" || name == "str" || name == "Path" || name == "PurePath" || name == "PosixPath") && len(args) == 1:
		return args[0], j, true
	case (name == "cwd" || name == "getcwd") && len(args) == 0:
		return namedPath{path: e.workdir, own: true}, j, true
	case name == "URL" && len(args) == 2 && args[1].own && args[1].path == e.file && !path.IsAbs(args[0].path):
		// new URL('./data.json', import.meta.url): relative to the module.
		return namedPath{path: path.Join(path.Dir(e.file), args[0].path), own: true}, j, true
	}
	return namedPath{}, i + 1, false
}

// args reads a call's arguments from the ( at toks[i], each a path expression; a
// keyword argument or an operand it cannot read fails the call.
func (e *pathEval) args(i int) ([]namedPath, int, bool) {
	toks := e.toks
	j := i + 1
	if j < len(toks) && toks[j].punct == ')' {
		return nil, j + 1, true
	}
	var out []namedPath
	for {
		v, k, ok := e.expr(j)
		if !ok || k >= len(toks) {
			return nil, j, false
		}
		out = append(out, v)
		switch toks[k].punct {
		case ')':
			return out, k + 1, true
		case ',':
			j = k + 1
		default:
			return nil, j, false
		}
	}
}

// pythonPathDirs lists the absolute directories an app's Python source, the image's
// file named file, adds to its import path: sys.path.insert(N, '/opt/lib'),
// sys.path.append(…), site.addsitedir(…), the directory a literal or one built from
// the source's own location (os.path.join(os.path.dirname(__file__), 'lib')). Modules
// it imports from there are looked for there too.
func pythonPathDirs(src []byte, file, workdir string) []string {
	e := newPathEval(srcTokens(src, true), file, workdir)
	toks := e.toks
	var out []string
	for i := 0; i+2 < len(toks); i++ {
		if w := toks[i].word; w != "" && toks[i+1].punct == '=' && toks[i+2].punct != '=' {
			if v, _, ok := e.expr(i + 2); ok {
				e.vars[w] = v
			}
			continue
		}
		if toks[i+1].punct != '(' {
			continue
		}
		j := i + 2
		switch toks[i].word {
		case "sys.path.insert":
			if j+2 >= len(toks) || toks[j].word == "" || toks[j+1].punct != ',' {
				continue
			}
			j += 2
		case "sys.path.append", "site.addsitedir":
		default:
			continue
		}
		if d, _, ok := e.expr(j); ok && path.IsAbs(d.path) && !slices.Contains(out, path.Clean(d.path)) {
			out = append(out, path.Clean(d.path))
		}
	}
	return out
}

// sourceFiles takes what an app source src, whose text is b, names (sourcePaths), once:
// a regular file; a directory named from where the app is, whole, unless it holds the
// source or the working directory (os.path.dirname(__file__) alone names the app, not
// data); any other directory, and the one a missing file would be made in, by its entry.
func (p *process) sourceFiles(src string, b []byte, hashComments bool) error {
	r := p.r
	st := r.langs()
	if st.done["paths:"+src] {
		return nil
	}
	st.done["paths:"+src] = true
	srcDir := path.Dir(path.Join("/", src))
	dl, err := p.dlopener(hashComments)
	if err != nil {
		return err
	}
	for _, n := range sourcePaths(b, hashComments, src, r.opts.workdir) {
		if n.soname {
			// Loaded as the runtime's dlopen would find it, with what it needs; a
			// name the image lacks may be one the app tries among others.
			if dl == nil {
				continue
			}
			found, named, err := dl.search(dl.root, n.path)
			if err != nil {
				return err
			}
			if found {
				if err := dl.loadFound(dl.root, n.path, named, "library named in /"+src); err != nil {
					return err
				}
			}
			continue
		}
		if n.maybe {
			fi, err := r.statFollow(n.path)
			if err != nil {
				return err
			}
			if fi == nil {
				continue
			}
		}
		if n.own && !within(srcDir, n.path) && !within(path.Join("/", r.opts.workdir), n.path) {
			dir, err := r.isDir(n.path)
			if err != nil {
				return err
			}
			if dir {
				if _, err := p.addTree(tidyName(n.path), "directory named in /"+src, nil); err != nil {
					return err
				}
				continue
			}
		}
		if err := r.addNamed(p.c, n.path, "file named in /"+src); err != nil {
			return err
		}
		if err := r.namedProgram(p.c, dl, n.path, "named in /"+src); err != nil {
			return err
		}
	}
	if dl == nil {
		return nil
	}
	return dl.drain()
}

// dlopener is the process whose dlopen loads the libraries a source names: p when it
// is a program's, else one of the runtime that reads the source (Imports reads
// sources apart from any run); nil when no such runtime was met.
func (p *process) dlopener(python bool) (*process, error) {
	if p.root != nil {
		return p, nil
	}
	bin := p.r.langs().nodeBin
	if python {
		bin = p.r.langs().pyBin
	}
	if bin == "" {
		return nil, nil
	}
	obj, err := p.r.object(bin)
	if err != nil {
		return nil, nil // read as a program before: not an ELF one
	}
	return p.r.newProcess(p.c, obj, bin, bin), nil
}

// namedProgram takes what a file an app source names needs when it is code: an
// executable (FFMPEG = '/opt/ffmpeg/bin/ffmpeg', run later through the name) with its
// loader, libraries or interpreter; a shared library (ctypes.CDLL('/opt/lib/libx.so'))
// with the libraries it needs, as the runtime's dlopen loads them.
func (r *Resolver) namedProgram(c *collector, dl *process, name, why string) error {
	fi, err := r.statFollow(name)
	if err != nil || fi == nil || !fi.Mode().IsRegular() {
		return err
	}
	w, err := r.walk(name)
	if err != nil {
		return err
	}
	obj, err := r.object(w.real)
	switch {
	case errors.Is(err, ErrNotELF):
		if fi.Mode()&0o111 != 0 {
			return r.run(c, name, "program "+why) // a #! script runs its interpreter
		}
		return nil
	case err != nil:
		return nil // an ELF the loader would refuse too: the file is taken, as named
	case obj.interp != "" || dl == nil:
		return r.run(c, name, "program "+why)
	}
	return dl.loadFound(dl.root, path.Base(name), tidyName(name), "library "+why)
}

// within says whether the absolute path name is dir or under it.
func within(name, dir string) bool {
	return name == dir || strings.HasPrefix(name, strings.TrimSuffix(dir, "/")+"/")
}

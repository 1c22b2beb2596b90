package elfdeps

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"

	"github.com/slim-dev/slim/internal/rootfs"
)

var (
	// ErrNotELF is returned for a file that is not a readable ELF object.
	ErrNotELF = errors.New("not an ELF file")
	// ErrMissing is wrapped by every error about a PT_INTERP, DT_NEEDED library or script
	// interpreter that cannot be found in the image; the message names it and who needs it.
	ErrMissing = errors.New("not found in the image")
)

// Dep is one file that a running program needs.
type Dep struct {
	// Path is relative to the image root and has no symlink in its directories, so each
	// Dep can be copied on its own with Lstat and ReadLink and the copies join up: the
	// library that the loader finds as lib/x86_64-linux-gnu/libc.so.6 on a merged-/usr
	// image is returned as usr/lib/x86_64-linux-gnu/libc.so.6 plus the symlink lib.
	Path string
	// Reason says why the file is needed, for reports and --explain style output.
	Reason string
	// Symlink is true when Path is a symlink to copy as a symlink; its target is in the
	// result too.
	Symlink bool
	// Dir is true when Path is a directory the program uses by name (one it writes a
	// file into, one it names): its entry is needed, not its contents.
	Dir bool
}

// Option configures a Resolver.
type Option func(*options)

type options struct {
	ldLibraryPath string
	path          string
	workdir       string
	env           []string
	warn          func(string)
	starts        []start // the programs the config starts (WithArgs)
}

// start is a program the config starts, as named, and its arguments.
type start struct {
	program string
	args    []string
}

func makeOptions(opts []Option) options {
	o := options{path: rootfs.DefaultPATH, workdir: "/"}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// WithLibraryPath sets LD_LIBRARY_PATH as the program will see it, from the Env of the
// image config: the loader searches it before DT_RUNPATH and the system directories.
func WithLibraryPath(ldLibraryPath string) Option {
	return func(o *options) { o.ldLibraryPath = ldLibraryPath }
}

// WithPath sets PATH as the program will see it, from the Env of the image config. It is
// used to find the program that a "#!/usr/bin/env NAME" script runs; without it the
// runtimes' default PATH is used.
func WithPath(path string) Option {
	return func(o *options) { o.path = path }
}

// WithWorkdir sets the working directory the program runs in, from the WorkingDir of the
// image config: "#!/usr/bin/env NAME" looks up a NAME with a slash, and empty or relative
// PATH elements, from there. Without it the runtimes' default, "/", is used.
func WithWorkdir(dir string) Option {
	return func(o *options) { o.workdir = dir }
}

// WithEnv passes the rest of the program's environment, from the Env of the image
// config: the locales that LANG, LC_ALL and LC_* name are taken for glibc programs.
func WithEnv(env []string) Option {
	return func(o *options) { o.env = append([]string(nil), env...) }
}

// WithArgs says which program the image config starts (its path, absolute, as the
// runtime finds it) and the arguments the config gives it: what a package manager
// runs for them (npm start: the package.json script, through sh) is part of what that
// program needs. It may be given once per program the config starts (the
// entrypoint, the healthcheck's command); the first one given for a program counts.
func WithArgs(program string, args []string) Option {
	return func(o *options) {
		o.starts = append(o.starts, start{program: tidyName(program), args: append([]string{}, args...)})
	}
}

// WithWarn receives what the closure could not settle without running the program: the
// commands a shell script runs that cannot be named statically, or that are in no PATH
// directory. Each is said once per Resolver.
func WithWarn(warn func(string)) Option {
	return func(o *options) { o.warn = warn }
}

// Resolver finds ELF dependencies inside one image file system. It caches what it reads,
// assuming the file system does not change, and is not safe for concurrent use.
type Resolver struct {
	fsys  fs.FS
	links *lstatCache
	opts  options

	confDirs  []string // from /etc/ld.so.conf, in order
	confFiles []string // /etc/ld.so.conf and the files it includes, as read
	muslArch  string   // musl's arch when the image's loader is musl's, else ""
	muslPaths map[string][]string
	walks     map[string]walkResult // the loader tries the same names for every object
	objects   map[string]parsed     // by real path
	// sonames are the shared objects given to Closure, by soname: a library taken with
	// the one that dlopens it is in the process by that name before its users load.
	sonames map[string]bool
	warned  map[string]bool
	applets map[string][]byte // busybox binaries by real path
	openssl map[string]*opensslDirs
	lang    *langState // language runtimes met (langs.go)
	// cmdArgs are the arguments of the programs the config starts, by real path
	// (argsOf); during a run with other arguments (runArgv), those.
	cmdArgs map[string][]string
	// otherArgs are the other argument lists programs were run with (runArgv), by
	// real path and arguments, for argModules.
	otherArgs map[string][]string
	otherRuns map[string]int // how many of otherArgs each program has
}

type parsed struct {
	obj *object
	err error
}

// New reads the loader configuration of the image in fsys (/etc/ld.so.conf and what it
// includes, the presence of musl's loader) and returns a Resolver for it. fsys must
// implement fs.ReadLinkFS: without it symlinks would be invisible and the copied libraries
// would lose the soname links that the loader looks for.
func New(fsys fs.FS, opts ...Option) (*Resolver, error) {
	links, ok := fsys.(fs.ReadLinkFS)
	if !ok {
		return nil, fmt.Errorf("resolving ELF dependencies in a %T: it does not implement fs.ReadLinkFS: %w", fsys, errors.ErrUnsupported)
	}
	r := &Resolver{
		fsys:      fsys,
		links:     &lstatCache{ReadLinkFS: links, m: map[string]lstatResult{}},
		opts:      makeOptions(opts),
		muslPaths: map[string][]string{},
		walks:     map[string]walkResult{},
		objects:   map[string]parsed{},
		sonames:   map[string]bool{},
		warned:    map[string]bool{},
	}
	var err error
	if r.confDirs, r.confFiles, err = r.readLdSoConf(); err != nil {
		return nil, err
	}
	if r.muslArch, err = r.detectMusl(); err != nil {
		return nil, err
	}
	return r, nil
}

// Closure returns every file needed to run the given files, each once, with why, in the
// order a loader meets them (files in argument order, each one's interpreter, then its
// libraries breadth first, glibc's NSS modules last). The given paths themselves are not
// returned, but symlinks and targets met while resolving them are.
//
// Files that are not ELF have no dependencies, except a script's #! interpreter. Static
// binaries have none. A dependency that cannot be found makes an error wrapping ErrMissing
// for each such dependency (joined); the returned slice then still holds everything that
// was found, for callers that go on anyway (--force). Any other error (an unreadable
// input, a corrupt ELF input, an I/O error) returns no slice.
func (r *Resolver) Closure(paths ...string) ([]Dep, error) {
	c := &collector{seen: map[string]bool{}, inputs: map[string]bool{}, roots: map[string]bool{}}
	for _, p := range paths {
		c.inputs[tidyName(p)] = true
		if w, err := r.walk(p); err == nil {
			if obj, err := r.object(w.real); err == nil && obj.soname != "" && obj.interp == "" {
				r.sonames[obj.soname] = true
			}
		}
	}
	for _, p := range paths {
		if err := r.run(c, p, ""); err != nil {
			return nil, err
		}
	}
	return c.deps, errors.Join(c.missing...)
}

// Unresolved reports which PT_INTERP, DT_NEEDED and script interpreters of the file at
// name, or of anything it loads, do not resolve in fsys. It is meant for the new image's
// root, to check that the result runs; an empty result means everything was found.
func Unresolved(fsys fs.FS, name string, opts ...Option) ([]string, error) {
	r, err := New(fsys, opts...)
	if err != nil {
		return nil, err
	}
	c := &collector{seen: map[string]bool{}, inputs: map[string]bool{tidyName(name): true}, roots: map[string]bool{}, check: true}
	if err := r.run(c, name, ""); err != nil {
		return nil, err
	}
	var out []string
	for _, m := range c.missing {
		out = append(out, m.(*missingError).what)
	}
	return out, nil
}

// Missing lists what err says is missing (each "what of whom"), for callers that turn
// the errors of Closure into warnings one by one.
func Missing(err error) []string {
	var out []string
	var walk func(error)
	walk = func(err error) {
		switch e := err.(type) {
		case *missingError:
			out = append(out, e.what)
		case interface{ Unwrap() []error }:
			for _, x := range e.Unwrap() {
				walk(x)
			}
		case interface{ Unwrap() error }:
			walk(e.Unwrap())
		}
	}
	walk(err)
	return out
}

// missingError names what is missing and who needs it.
type missingError struct{ what string }

func (e *missingError) Error() string { return e.what + ": " + ErrMissing.Error() }
func (e *missingError) Unwrap() error { return ErrMissing }

// collector gathers the result across the programs started for one Closure call.
type collector struct {
	deps    []Dep
	seen    map[string]bool
	inputs  map[string]bool
	roots   map[string]bool // real paths already run as a program: stops #! loops
	missing []error
	// check is set for Unresolved: data files read by name are not looked for, only
	// what the loader and the kernel need to start the program.
	check bool
}

func (c *collector) add(w walked, named, why string) {
	for _, l := range w.links {
		reason := why
		if l != named {
			reason = "symlink on the way to " + named + ": " + why
		}
		c.addDep(Dep{Path: l, Reason: reason, Symlink: true})
	}
	reason := why
	if w.real != named {
		reason = why + ", as " + named
	}
	c.addDep(Dep{Path: w.real, Reason: reason})
}

func (c *collector) addDep(d Dep) {
	if c.seen[d.Path] || c.inputs[d.Path] {
		return
	}
	c.seen[d.Path] = true
	c.deps = append(c.deps, d)
}

// miss records something missing once: several programs of one Closure call often
// need the same library, and the user needs to hear of it once.
func (c *collector) miss(format string, args ...any) {
	what := fmt.Sprintf(format, args...)
	for _, m := range c.missing {
		if m.(*missingError).what == what {
			return
		}
	}
	c.missing = append(c.missing, &missingError{what: what})
}

// run resolves name as a program the kernel starts: an ELF file (with its loader and
// libraries) or a #! script (with its interpreter, itself a program). why is "" for a
// path given by the caller; otherwise it says who runs it ("script interpreter X of Y").
func (r *Resolver) run(c *collector, name, why string) error {
	named := tidyName(name)
	w, err := r.walk(named)
	if err != nil {
		if why != "" && rootfs.IsNotFound(err) {
			c.miss("%s", why)
			return nil
		}
		return fmt.Errorf("reading %s: %w", name, err)
	}
	reason := why
	if why == "" {
		reason = "target of " + named
	}
	c.add(w, named, reason)
	if c.roots[w.real] {
		return nil
	}
	c.roots[w.real] = true
	if err := r.runFile(c, w, named, why); err != nil {
		return err
	}
	if args, ok := r.argsOf(w.real); ok {
		if err := r.compiledFiles(c, w.real, named); err != nil {
			return err
		}
		return r.commandLine(c, w.real, named, args)
	}
	return nil
}

// runFile is run's work on the file itself, found at w.
func (r *Resolver) runFile(c *collector, w walked, named, why string) error {
	obj, err := r.object(w.real)
	switch {
	case errors.Is(err, errNotRegular):
		return nil // a directory or device runs nothing
	case errors.Is(err, errNoMagic):
		if why == "" && r.inNodePackage(w.real) {
			return nil // a tool of a package taken whole, not what runs: see scanIfNode
		}
		return r.runScript(c, w.real, named)
	case err != nil:
		return fmt.Errorf("reading %s: %w", named, err)
	}
	p := r.newProcess(c, obj, named, w.real)
	return p.load()
}

// runScript follows a #! line the way the kernel's binfmt_script does: the interpreter is
// the first word, which must itself be runnable.
func (r *Resolver) runScript(c *collector, real, named string) error {
	f, err := r.fsys.Open(real)
	if err != nil {
		return fmt.Errorf("reading %s: %w", named, err)
	}
	defer f.Close()
	// The kernel reads no more than this for the #! line (BINPRM_BUF_SIZE).
	head := make([]byte, 256)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return fmt.Errorf("reading %s: %w", named, err)
	}
	line, ok := strings.CutPrefix(string(head[:n]), "#!")
	if !ok {
		return nil
	}
	if i := strings.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	fields := strings.Fields(line)
	if len(fields) == 0 || !path.IsAbs(fields[0]) {
		// A relative interpreter is looked up from the working directory, unknown here.
		return nil
	}
	interp := fields[0]
	if err := r.run(c, interp, "script interpreter "+interp+" of "+named); err != nil {
		return err
	}
	if path.Base(interp) != "env" {
		if err := r.scanIfNode(c, real, named, interp); err != nil {
			return err
		}
		return r.scanIfShell(c, real, named, interp, fields[0])
	}
	// "#!/usr/bin/env python3" runs python3 from PATH: that program is what the script
	// really needs. env's options (-S splits the rest, -u and -C take an argument) and
	// NAME=value settings come before it.
	i := envProgram(fields[1:])
	if i < 0 {
		return nil
	}
	prog := fields[1+i]
	file, err := r.runFromPath(c, prog, named)
	if err != nil || file == "" {
		return err
	}
	if err := r.scanIfNode(c, real, named, file); err != nil {
		return err
	}
	return r.scanIfShell(c, real, named, file, prog)
}

// envProgram is the index in the words of a #! line's env arguments of the program
// it runs, after its options (-u and -C take a value) and NAME=value settings; -1 when
// there is none. Unlike an exec-form env (wrapped), -S takes no value of its own here:
// the kernel passes the rest of the line as one word, which -S splits into these.
func envProgram(args []string) int {
	for i := 0; i < len(args); i++ {
		switch f := args[i]; {
		case f == "-u" || f == "--unset" || f == "-C" || f == "--chdir":
			i++
		case strings.HasPrefix(f, "-") || strings.Contains(f, "="):
		default:
			return i
		}
	}
	return -1
}

// runFromPath finds prog the way execvp does (rootfs.LookPath) and runs it; it returns
// the file run, "" when there is none.
func (r *Resolver) runFromPath(c *collector, prog, script string) (string, error) {
	why := "program " + prog + " run by env"
	file, err := rootfs.LookPath(r.links, prog, r.opts.path, r.opts.workdir)
	switch {
	case errors.Is(err, rootfs.ErrNotFound):
		c.miss("%s of %s", why, script)
		return "", nil
	case errors.Is(err, rootfs.ErrNotExecutable):
		// env fails with EACCES: copying the file would not make the script run.
		c.miss("%s of %s (%s is not executable)", why, script, file)
		return "", nil
	case err != nil:
		return "", err
	}
	return file, r.run(c, file, why+" of "+script)
}

// warn says msg once per Resolver, through WithWarn.
func (r *Resolver) warn(msg string) {
	if r.opts.warn == nil || r.warned[msg] {
		return
	}
	r.warned[msg] = true
	r.opts.warn(msg)
}

var (
	errNoMagic    = fmt.Errorf("%w: no ELF magic", ErrNotELF)
	errNotRegular = fmt.Errorf("%w: not a regular file", ErrNotELF)
)

// object parses the ELF file at a real path once.
func (r *Resolver) object(real string) (*object, error) {
	if p, ok := r.objects[real]; ok {
		return p.obj, p.err
	}
	obj, err := r.parseFile(real)
	r.objects[real] = parsed{obj, err}
	return obj, err
}

func (r *Resolver) parseFile(real string) (*object, error) {
	f, err := r.fsys.Open(real)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, errNotRegular
	}
	ra, err := readerAt(f)
	if err != nil {
		return nil, err
	}
	if !isELF(ra) {
		return nil, errNoMagic
	}
	return parseELF(ra, info.Size())
}

// readerAt gives random access to an open file: debug/elf needs it. Layer views serve
// files from memory or from disk and usually have ReadAt or Seek; reading the whole file
// is the last resort.
func readerAt(f fs.File) (io.ReaderAt, error) {
	if ra, ok := f.(io.ReaderAt); ok {
		return ra, nil
	}
	if rs, ok := f.(io.ReadSeeker); ok {
		return &seekReaderAt{rs}, nil
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	return bytes.NewReader(b), nil
}

// seekReaderAt is enough for one goroutine, which is how a Resolver is used.
type seekReaderAt struct{ rs io.ReadSeeker }

func (s *seekReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if _, err := s.rs.Seek(off, io.SeekStart); err != nil {
		return 0, err
	}
	n, err := io.ReadFull(s.rs, p)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = io.EOF // what io.ReaderAt promises for a short read at the end
	}
	return n, err
}

package rebase

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slim-dev/slim/extract/elfdeps"
	"github.com/slim-dev/slim/internal/imagefs"
	"github.com/slim-dev/slim/internal/rootfs"
)

// CheckError lists every reason the image would not start, each with how to fix it.
// It wraps ErrCheck.
type CheckError struct {
	Problems []string
}

func (e *CheckError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "checking that the image starts: %d problem", len(e.Problems))
	if len(e.Problems) != 1 {
		b.WriteString("s")
	}
	b.WriteString(" (--force writes it anyway):")
	for _, p := range e.Problems {
		b.WriteString("\n  - ")
		b.WriteString(p)
	}
	return b.String()
}

func (e *CheckError) Unwrap() error { return ErrCheck }

// WithSource names where the files came from, so that a missing library's fix names the
// path it has there: `--from SRC:/usr/lib/x86_64-linux-gnu/libssl.so.3`.
func WithSource(ref string, fsys fs.FS) CheckOption {
	return func(o *checkOptions) { o.srcRef, o.srcFS = ref, fsys }
}

// Check looks at img's merged file system the way a runtime would start it:
//
//   - the entrypoint (the first word of Entrypoint+Cmd, looked up as execvp does with
//     rootfs.LookPath: through the config's PATH when it has no slash, relative to
//     WORKDIR when it has one but is not absolute) exists, is a file and is executable;
//   - if it is ELF, its PT_INTERP and every DT_NEEDED (transitively) resolve inside the
//     image, with the config's LD_LIBRARY_PATH; if it is a #! script, its interpreter
//     exists (and, if ELF, resolves likewise);
//   - the healthcheck's command (HealthcheckArgv), when there is one, resolves the
//     same way: without it the container is reported unhealthy and restarted. When the
//     WithSource file system lacks it too, that is only a warning;
//   - a named USER (not numeric) is in /etc/passwd, and a named group in /etc/group.
//
// A missing WORKDIR is only reported through WithWarn: runtimes create it.
//
// Problems make a *CheckError wrapping ErrCheck that lists them all with their fixes,
// unless WithForce is given, in which case they go to WithWarn and Check returns nil.
// Errors reading the image are returned as they are, force or not.
func Check(ctx context.Context, img v1.Image, opts ...CheckOption) error {
	o := makeCheckOptions(opts)
	cf, err := img.ConfigFile()
	if err != nil {
		return fmt.Errorf("checking image: reading config: %w", err)
	}
	fsys, err := imagefs.New(ctx, img)
	if err != nil {
		return fmt.Errorf("checking image: reading layers: %w", err)
	}
	defer fsys.Close()
	return check(cf, fsys, &o)
}

// CheckIndexed is Check over an image already indexed, so that the job indexes its
// result once for the check and the report.
func CheckIndexed(cf *v1.ConfigFile, fsys *imagefs.FS, opts ...CheckOption) error {
	o := makeCheckOptions(opts)
	return check(cf, fsys, &o)
}

func check(cf *v1.ConfigFile, fsys *imagefs.FS, o *checkOptions) error {
	c := &checker{fsys: fsys, cfg: cf.Config, o: o}
	if err := c.entrypoint(); err != nil {
		return err
	}
	if err := c.healthcheck(); err != nil {
		return err
	}
	if err := c.user(); err != nil {
		return err
	}
	c.workdir()

	if len(c.problems) == 0 {
		return nil
	}
	if o.force {
		for _, p := range c.problems {
			o.warn(p)
		}
		return nil
	}
	return &CheckError{Problems: c.problems}
}

type checker struct {
	fsys     *imagefs.FS
	cfg      v1.Config
	o        *checkOptions
	problems []string

	// srcDeps is the entrypoint's closure in the WithSource file system, computed on
	// the first missing library.
	srcDeps     []elfdeps.Dep
	srcResolved bool
}

func (c *checker) fail(format string, args ...any) {
	c.problems = append(c.problems, fmt.Sprintf(format, args...))
}

func (c *checker) env(key string) (string, bool) {
	for _, kv := range c.cfg.Env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

// rel turns an absolute image path into an fs.FS name.
func rel(p string) string {
	p = strings.TrimPrefix(path.Clean("/"+p), "/")
	if p == "" {
		return "."
	}
	return p
}

func (c *checker) entrypoint() error {
	argv := append(append([]string{}, c.cfg.Entrypoint...), c.cfg.Cmd...)
	if len(argv) == 0 || argv[0] == "" {
		c.fail("the image has no entrypoint and no cmd, so a runtime has nothing to start: add --entrypoint or --cmd")
		return nil
	}
	prog := argv[0]
	pathEnv := rootfs.PathEnv(c.cfg.Env)
	// The file execvp would run; when only a non-executable match exists it is that one,
	// so the problem below says what is wrong with it.
	file, err := rootfs.LookPath(c.fsys, prog, pathEnv, c.cfg.WorkingDir)
	if file == "" {
		if errors.Is(err, rootfs.ErrNotFound) {
			c.fail("entrypoint %q is not in any PATH directory (%s): add it with --from SRC:/path/to/%s, or set --entrypoint to its absolute path",
				prog, pathEnv, prog)
			return nil
		}
		return fmt.Errorf("checking entrypoint %s: %w", prog, err)
	}

	fi, err := fs.Stat(c.fsys, rel(file))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		c.fail("entrypoint %s does not exist: add it with --from SRC:%s", file, file)
		return nil
	case err != nil:
		c.fail("entrypoint %s cannot be reached (%v): add it with --from SRC:%s", file, err, file)
		return nil
	case fi.IsDir():
		c.fail("entrypoint %s is a directory: set --entrypoint to the program inside it", file)
		return nil
	case !fi.Mode().IsRegular():
		c.fail("entrypoint %s is not a regular file: set --entrypoint to the program", file)
		return nil
	case fi.Mode().Perm()&0o111 == 0:
		c.fail("entrypoint %s is not executable (mode %s): make it executable in the source image", file, fi.Mode().Perm())
	}

	missing, err := c.unresolved(file, argv[1:])
	if err != nil {
		return fmt.Errorf("checking libraries of %s: %w", file, err)
	}
	for _, m := range missing {
		c.fail("%s", c.hint(m, file))
	}
	return nil
}

// unresolved is what the program at file, started by the config with args, needs and
// the image lacks. With its arguments, so that what a wrapper starts (tini -- node) is
// checked too.
func (c *checker) unresolved(file string, args []string) ([]string, error) {
	ld, _ := c.env("LD_LIBRARY_PATH")
	return elfdeps.Unresolved(c.fsys, rel(file), elfdeps.WithLibraryPath(ld),
		elfdeps.WithPath(rootfs.PathEnv(c.cfg.Env)), elfdeps.WithWorkdir(c.cfg.WorkingDir), elfdeps.WithArgs(file, args))
}

// hint turns an elfdeps "what is missing" string into a problem with its fix.
func (c *checker) hint(missing, entry string) string {
	what, by, _ := strings.Cut(missing, " of ")
	by = "/" + strings.TrimPrefix(by, "/")
	kind, name, _ := strings.Cut(what, " ")
	src := "SRC"
	if c.o.srcRef != "" {
		src = c.o.srcRef
	}
	switch kind {
	case "DT_NEEDED":
		if p := c.findInSource(entry, name); p != "" {
			return fmt.Sprintf("missing %s needed by %s: add --from %s:%s, or use --deps auto", name, by, src, p)
		}
		return fmt.Sprintf("missing %s needed by %s: add --from %s:/path/to/%s (where the source image has it), or use --deps auto", name, by, src, name)
	case "PT_INTERP":
		return fmt.Sprintf("missing ELF interpreter %s needed by %s: add --from %s:%s, or use --deps auto", name, by, src, name)
	case "script":
		interp := strings.TrimPrefix(what, "script interpreter ")
		return fmt.Sprintf("missing script interpreter %s needed by %s: add --from %s:%s, or use a base that has it", interp, by, src, interp)
	}
	return fmt.Sprintf("missing %s: add it with --from, or use --deps auto", missing)
}

// findInSource is where the loader finds lib for entry in the source file system, if
// one was given with WithSource.
func (c *checker) findInSource(entry, lib string) string {
	if c.o.srcFS == nil {
		return ""
	}
	if !c.srcResolved {
		c.srcResolved = true
		ld, _ := c.env("LD_LIBRARY_PATH")
		if r, err := elfdeps.New(c.o.srcFS, elfdeps.WithLibraryPath(ld)); err == nil {
			// What cannot be found there either is simply not hinted at.
			c.srcDeps, _ = r.Closure(rel(entry))
		}
	}
	for _, d := range c.srcDeps {
		if path.Base(d.Path) == lib {
			return "/" + d.Path
		}
	}
	return ""
}

func (c *checker) user() error {
	if c.cfg.User == "" {
		return nil
	}
	user, group, _ := strings.Cut(c.cfg.User, ":")
	if user != "" && !numeric(user) {
		if err := c.lookup("/etc/passwd", "user", user); err != nil {
			return err
		}
	}
	if group != "" && !numeric(group) {
		if err := c.lookup("/etc/group", "group", group); err != nil {
			return err
		}
	}
	return nil
}

// lookup fails the check when name is not the first field of a line of file.
func (c *checker) lookup(file, what, name string) error {
	b, err := c.fsys.ReadFile(rel(file))
	if errors.Is(err, fs.ErrNotExist) {
		c.fail("%s %q is a name but the image has no %s: use a numeric --user (e.g. 65532:65532), or --base static, which has root, nonroot and nobody", what, name, file)
		return nil
	}
	if err != nil {
		return fmt.Errorf("checking %s %q: reading %s: %w", what, name, file, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if f, _, ok := strings.Cut(sc.Text(), ":"); ok && f == name {
			return nil
		}
	}
	c.fail("%s %q is not in %s: use a numeric --user, a %s the base has, or add a %s with that entry via --from", what, name, file, what, file)
	return nil
}

func numeric(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// healthcheck checks the command the config's healthcheck runs as entrypoint checks
// the entrypoint, with its arguments.
func (c *checker) healthcheck() error {
	argv := HealthcheckArgv(c.cfg)
	if len(argv) == 0 {
		return nil
	}
	pathEnv := rootfs.PathEnv(c.cfg.Env)
	problem := c.fail
	fix := fmt.Sprintf("--from SRC:/path/to/%s", path.Base(argv[0]))
	if src, ok := c.o.srcFS.(fs.ReadLinkFS); ok {
		if p, err := rootfs.LookPath(src, argv[0], pathEnv, c.cfg.WorkingDir); err != nil {
			// The source's healthcheck fails the same way: not slim's doing.
			problem = func(format string, args ...any) { c.o.warn(fmt.Sprintf(format, args...) + " (in the source too)") }
		} else {
			fix = fmt.Sprintf("--from %s:%s", c.o.srcRef, p)
		}
	}
	file, err := rootfs.LookPath(c.fsys, argv[0], pathEnv, c.cfg.WorkingDir)
	switch {
	case errors.Is(err, rootfs.ErrNotFound) || errors.Is(err, rootfs.ErrNotExecutable):
		problem("healthcheck command %q is not in the image (PATH %s): the container would be reported unhealthy: add it with %s",
			argv[0], pathEnv, fix)
		return nil
	case err != nil:
		return fmt.Errorf("checking healthcheck command %s: %w", argv[0], err)
	}
	missing, err := c.unresolved(file, argv[1:])
	if err != nil {
		return fmt.Errorf("checking libraries of healthcheck command %s: %w", file, err)
	}
	for _, m := range missing {
		problem("healthcheck: %s", c.hint(m, file))
	}
	return nil
}

func (c *checker) workdir() {
	wd := c.cfg.WorkingDir
	if wd == "" || wd == "/" {
		return
	}
	fi, err := fs.Stat(c.fsys, rel(wd))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		c.o.warn(fmt.Sprintf("working directory %s does not exist; runtimes create it (empty, owned by root) when the container starts", wd))
	case err == nil && !fi.IsDir():
		c.fail("working directory %s is not a directory: set --workdir to a directory", wd)
	}
}

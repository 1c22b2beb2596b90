package elfdeps

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/slim-dev/slim/extract/shell"
	"github.com/slim-dev/slim/internal/rootfs"
)

// maxScriptRead bounds what is read of a shell script: shell.Scan reads no more.
const maxScriptRead = 4 << 20

// isShell says whether an interpreter name is a POSIX shell or bash, whose scripts are
// read for the commands they run.
func isShell(name string) bool {
	switch path.Base(name) {
	case "sh", "bash", "dash", "ash", "ksh", "mksh", "busybox":
		return true
	}
	return false
}

// scanIfShell takes the commands of the script at real (named as named) when its
// interpreter (the file interp, as the #! line or env names it: word) is a shell.
func (r *Resolver) scanIfShell(c *collector, real, named, interp, word string) error {
	if !isShell(word) && !isShell(interp) {
		return nil
	}
	w, err := r.walk(interp)
	if err != nil {
		return nil // a missing interpreter is reported already
	}
	busybox := ""
	if path.Base(w.real) == "busybox" {
		busybox = w.real
	}
	args, ok := r.argsOf(real)
	if ok && args == nil {
		args = []string{}
	}
	return r.scanScript(c, real, newShellRun(named, busybox, r.opts.path, args))
}

// shellRun is how a shell runs a script: what messages call it, the busybox that
// answers applets (""), the PATH its commands are found through, its arguments ("$@";
// nil when no config gives them), and the functions and files met so far.
type shellRun struct {
	named, busybox, pathEnv string
	dir                     string // $0's directory, for a script file ("" for sh -c)
	args                    []string
	funcs, scanned          map[string]bool
}

func newShellRun(named, busybox, pathEnv string, args []string) shellRun {
	return shellRun{named: named, busybox: busybox, pathEnv: pathEnv, args: args, funcs: map[string]bool{}, scanned: map[string]bool{}}
}

// scanScript runs the commands a shell script calls by name, found through PATH as the
// shell finds them. Functions defined by the script or by the files it sources are not
// commands; under busybox's shell an applet needs no file of its own.
// sh.named is the script's name, without its leading slash.
func (r *Resolver) scanScript(c *collector, real string, sh shellRun) error {
	if sh.scanned[real] {
		return nil
	}
	sh.scanned[real] = true
	src, err := r.readScript(real)
	if err != nil {
		return fmt.Errorf("reading %s: %w", sh.named, err)
	}
	sh.named = "/" + tidyName(sh.named)
	// $0 is the script as it was run: what cd "$(dirname "$0")" and the like name. In
	// a file it sources, $0 is still the script.
	if sh.dir == "" {
		sh.dir = path.Dir(sh.named)
	}
	return r.scanSource(c, src, sh)
}

// scanCommand takes what `sh -c body` runs (why says where body comes from), with
// pathEnv as its PATH, and the shell itself: sh found through that PATH, as npm and
// yarn spawn it.
func (r *Resolver) scanCommand(c *collector, body, why, pathEnv string) error {
	sh, err := rootfs.LookPath(r.links, "sh", pathEnv, r.opts.workdir)
	if err != nil {
		c.miss("sh, the shell of the %s", why)
		return nil
	}
	if err := r.run(c, sh, "shell of the "+why); err != nil {
		return err
	}
	busybox := ""
	if w, err := r.walk(sh); err == nil && path.Base(w.real) == "busybox" {
		busybox = w.real
	}
	return r.scanSource(c, []byte(body), newShellRun("the "+why, busybox, pathEnv, nil))
}

// sourcedFile is the file `. name` reads: name itself when absolute; a relative one
// with a slash (made absolute by the scanner after a literal cd) from the working
// directory; a bare one found through PATH, as dash and bash look, then in the working
// directory, as bash does. "" when the image has none.
func (r *Resolver) sourcedFile(name, pathEnv string) (string, error) {
	var candidates []string
	switch {
	case path.IsAbs(name):
		return name, nil
	case strings.Contains(name, "/"):
		candidates = []string{path.Join("/", r.opts.workdir, name)}
	default:
		for _, dir := range strings.Split(pathEnv, ":") {
			if !path.IsAbs(dir) {
				dir = path.Join("/", r.opts.workdir, dir) // "" is the working directory
			}
			candidates = append(candidates, path.Join(dir, name))
		}
		candidates = append(candidates, path.Join("/", r.opts.workdir, name))
	}
	for _, f := range candidates {
		ok, err := r.isRegular(f)
		if err != nil || ok {
			return f, err
		}
	}
	return "", nil
}

// scanSource is scanScript's work on the script's text, src.
func (r *Resolver) scanSource(c *collector, src []byte, sh shellRun) error {
	named, busybox, pathEnv, funcs := sh.named, sh.busybox, sh.pathEnv, sh.funcs
	res := shell.ScanIn(src, sh.dir)
	for _, f := range shell.Functions(src) {
		funcs[f] = true
	}
	var sourced []string
	for _, s := range res.Sources {
		s, err := r.sourcedFile(s, pathEnv)
		if err != nil {
			return err
		}
		if s == "" {
			continue
		}
		w, err := r.walk(s)
		if err != nil {
			if !rootfs.IsNotFound(err) {
				return err
			}
			continue
		}
		c.add(w, tidyName(s), fmt.Sprintf("file sourced by %s", named))
		sourced = append(sourced, w.real)
		if b, err := r.readScript(w.real); err == nil {
			for _, f := range shell.Functions(b) {
				funcs[f] = true
			}
		}
	}
	// First what runs the script's arguments, so that a wrapper the script names
	// (exec gosu app "$@") is run once, knowing the command it starts.
	dynamic, err := r.argCommands(c, res, sh)
	if err != nil {
		return err
	}
	lookup := r.scriptLookup(res)
	if dynamic, err = r.expandDynamic(c, sh, dynamic, lookup); err != nil {
		return err
	}
	if err := r.scriptLines(c, res, sh, lookup); err != nil {
		return err
	}
	for _, f := range res.Redirects {
		// done < /etc/app/list.txt: the script reads it (or appends to it).
		if path.IsAbs(f) {
			if err := r.addNamed(c, f, "file a redirection of "+sh.named+" names"); err != nil {
				return err
			}
		}
	}
	var notFound []string
	for _, cmd := range res.Commands {
		if funcs[cmd] {
			continue
		}
		file, err := rootfs.LookPath(r.links, cmd, pathEnv, r.opts.workdir)
		switch {
		case err == nil:
			if err := r.run(c, file, fmt.Sprintf("command %q run by %s", cmd, named)); err != nil {
				return err
			}
		case errors.Is(err, rootfs.ErrNotFound) || errors.Is(err, rootfs.ErrNotExecutable):
			ok, aerr := r.isApplet(busybox, cmd)
			if aerr != nil {
				return aerr
			}
			if !ok {
				notFound = append(notFound, cmd)
			}
		default:
			return err
		}
	}
	for _, s := range sourced {
		// A sourced file runs with the script's arguments.
		if err := r.scanScript(c, s, shellRun{named: s, busybox: busybox, pathEnv: r.opts.path, dir: sh.dir, args: sh.args, funcs: funcs, scanned: sh.scanned}); err != nil {
			return err
		}
	}
	if c.check {
		return nil
	}
	if len(notFound) > 0 {
		r.warn(fmt.Sprintf("%s calls %s, found in no PATH directory (%s): add them with --from if they run", named, strings.Join(notFound, ", "), pathEnv))
	}
	if len(dynamic) > 0 {
		r.warn(fmt.Sprintf("%s runs what only a run can name (%s): check the result with --verify, or add what they run with --from", named, strings.Join(dynamic, ", ")))
	}
	return nil
}

// expandDynamic runs the command words of dynamic whose expansions the script's own
// assignments and the config's Env settle: exec "$JAVA_HOME/bin/java", exec
// ${APP:-/app/server}, JAVA="$JAVA_HOME/bin/java" then exec "$JAVA". Only the
// warning was given before, and the image failed at start. It returns what is still
// unknown: a variable the script sets twice, or from a command, is a run's to tell.
func (r *Resolver) expandDynamic(c *collector, sh shellRun, dynamic []string, lookup func(string) (string, bool)) ([]string, error) {
	var unknown []string
	for _, d := range dynamic {
		word := d
		if _, rest, ok := strings.Cut(d, " "); ok && !strings.HasPrefix(d, ". ") {
			word = rest // exec WORD, nohup WORD…
		}
		cmd, ok := shell.Expand(word, lookup)
		if !ok || cmd == "" || strings.HasPrefix(d, ". ") || d == "eval" {
			unknown = append(unknown, d)
			continue
		}
		found, err := r.runArgv(c, []string{cmd}, sh.pathEnv, fmt.Sprintf("command %s (%s) run by %s", cmd, word, sh.named))
		if err != nil {
			return nil, err
		}
		if !found {
			unknown = append(unknown, d)
		}
	}
	return unknown, nil
}

// scriptLookup gives the values of a script's variables that its own assignments and
// the config's Env settle: one assignment (itself settled) or none and an Env setting.
func (r *Resolver) scriptLookup(res shell.Result) func(string) (string, bool) {
	var lookup func(name string) (string, bool)
	depth := 0
	lookup = func(name string) (string, bool) {
		if vals, ok := res.Assigns[name]; ok {
			if len(vals) != 1 || depth > 8 {
				return "", false
			}
			depth++
			defer func() { depth-- }()
			return shell.Expand(vals[0], lookup)
		}
		return rootfs.Getenv(r.opts.env, name)
	}
	return lookup
}

// scriptLines runs the programs of the script's command lines with the arguments the
// lines give them (shell.Line.Words: exec java $JAVA_OPTS -jar /app/app.jar runs java
// with -jar /app/app.jar), so that the rules that read a program's arguments apply
// (the jar's class path, python3 -m's module), and takes the regular files the
// arguments name (python3 /opt/svc/main.py, node /srv/server.js): by absolute path,
// or relative to a literal cd. Only the programs were taken before, without their
// arguments or files, and the image failed at start (ClassNotFoundException, can't
// open file, Cannot find module).
func (r *Resolver) scriptLines(c *collector, res shell.Result, sh shellRun, lookup func(string) (string, bool)) error {
	for _, l := range res.Lines {
		argv := l.Words(lookup)
		if len(argv) < 2 || sh.funcs[argv[0]] {
			continue // a program alone is the Commands loop's
		}
		if l.Dir != "" && strings.Contains(argv[0], "/") && !path.IsAbs(argv[0]) {
			argv[0] = path.Join(l.Dir, argv[0])
		}
		why := fmt.Sprintf("command %q run by %s", argv[0], sh.named)
		found, err := r.runArgv(c, argv, sh.pathEnv, why+" with its arguments")
		if err != nil {
			return err
		}
		if !found {
			continue // the Commands loop says so
		}
		for _, a := range argv[1:] {
			names := rootfs.PathsIn(a)
			if l.Dir != "" && a != "" && !path.IsAbs(a) && !strings.HasPrefix(a, "-") && !strings.ContainsAny(a, "=:,") {
				names = append(names, path.Join(l.Dir, a))
			}
			for _, name := range names {
				if err := r.addNamed(c, name, "file named by the arguments of "+why); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// addRegular takes name when it is a regular file, symlinks followed.
func (r *Resolver) addRegular(c *collector, name, why string) error {
	ok, err := r.isRegular(name)
	if ok {
		w, _ := r.walk(name)
		c.add(w, tidyName(name), why)
	}
	return err
}

// addNamed takes what an app names by a literal path: a regular file; a directory as
// its entry alone; for a name the image lacks, the directory it would be made in, as
// its entry alone (a log or state file the app writes into a directory a Dockerfile
// made empty: "No such file or directory" at its first write before).
func (r *Resolver) addNamed(c *collector, name, why string) error {
	for i, n := range []string{name, path.Dir(name)} {
		if tidyName(n) == "" || tidyName(n) == "." {
			return nil
		}
		w, err := r.walk(n)
		if err != nil {
			if rootfs.IsNotFound(err) && i == 0 {
				why = "directory of " + name + ", " + why
				continue
			}
			if rootfs.IsNotFound(err) {
				return nil
			}
			return err
		}
		fi, err := r.links.Lstat(w.real)
		switch {
		case err != nil:
			return err
		case fi.Mode().IsRegular() && i == 0:
			c.add(w, tidyName(n), why)
		case fi.IsDir():
			for _, l := range w.links {
				c.addDep(Dep{Path: l, Reason: "symlink on the way to " + tidyName(n) + ": " + why, Symlink: true})
			}
			c.addDep(Dep{Path: w.real, Reason: why, Dir: true})
		}
		return nil
	}
	return nil
}

// isRegular says whether name is a regular file, symlinks followed.
func (r *Resolver) isRegular(name string) (bool, error) {
	fi, err := r.statFollow(name)
	return err == nil && fi != nil && fi.Mode().IsRegular(), err
}

// isDir says whether name is a directory, symlinks followed.
func (r *Resolver) isDir(name string) (bool, error) {
	fi, err := r.statFollow(name)
	return err == nil && fi != nil && fi.IsDir(), err
}

// statFollow stats name, symlinks followed; a missing name is no error, and no info.
func (r *Resolver) statFollow(name string) (fs.FileInfo, error) {
	w, err := r.walk(name)
	if err != nil {
		if rootfs.IsNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	return r.links.Lstat(w.real)
}

// argCommands runs the command lines of res that run the script's arguments ("$@"),
// when the config gives them: ENTRYPOINT ["docker-entrypoint.sh"] with CMD ["node",
// "app.js"] runs node. Only the script and its shell were taken before, and the image
// failed at start. It returns the entries of res.Dynamic still unknown.
func (r *Resolver) argCommands(c *collector, res shell.Result, sh shellRun) ([]string, error) {
	if sh.args == nil {
		return res.Dynamic, nil
	}
	for _, line := range res.ArgCommands {
		var argv []string
		for _, w := range line {
			if w == shell.Args {
				argv = append(argv, sh.args...)
			} else {
				argv = append(argv, w)
			}
		}
		if len(argv) == 0 || sh.funcs[argv[0]] {
			continue
		}
		found, err := r.runArgv(c, argv, sh.pathEnv, fmt.Sprintf("command %q run by %s with its arguments", argv[0], sh.named))
		if err != nil {
			return nil, err
		}
		if !found && line[0] == shell.Args && !c.check {
			// The script may rewrite its arguments first (set -- node "$@"): a warning,
			// not a refusal.
			r.warn(fmt.Sprintf("%s runs its arguments, and %s is found in no PATH directory (%s): add it with --from if it runs", sh.named, argv[0], sh.pathEnv))
		}
	}
	return slices.DeleteFunc(slices.Clone(res.Dynamic), shell.RunsArgs), nil
}

// readScript reads a script at a real path, up to maxScriptRead bytes.
func (r *Resolver) readScript(real string) ([]byte, error) {
	f, err := r.fsys.Open(real)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxScriptRead))
}

// isApplet says whether the busybox binary at real (none when "") has the applet
// name: busybox keeps its applet names NUL-separated in one table.
func (r *Resolver) isApplet(real, name string) (bool, error) {
	if real == "" {
		return false, nil
	}
	if r.applets == nil {
		r.applets = map[string][]byte{}
	}
	b, ok := r.applets[real]
	if !ok {
		f, err := r.fsys.Open(real)
		if err != nil {
			return false, fmt.Errorf("reading %s: %w", real, err)
		}
		b, err = io.ReadAll(io.LimitReader(f, 64<<20))
		f.Close()
		if err != nil {
			return false, fmt.Errorf("reading %s: %w", real, err)
		}
		r.applets[real] = b
	}
	return bytes.Contains(b, []byte("\x00"+name+"\x00")), nil
}

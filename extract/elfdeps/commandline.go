package elfdeps

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/slim-dev/slim/internal/rootfs"
)

// argsOf returns the arguments the config gives the program at real: the entrypoint's
// (WithArgs), or those of a command it runs (commandLine); ok is false for programs
// the config does not start.
func (r *Resolver) argsOf(real string) ([]string, bool) {
	if r.cmdArgs == nil {
		r.cmdArgs = map[string][]string{}
		for _, st := range r.opts.starts {
			if w, err := r.walk(st.program); err == nil {
				if _, seen := r.cmdArgs[w.real]; !seen {
					r.cmdArgs[w.real] = st.args
				}
			}
		}
	}
	args, ok := r.cmdArgs[real]
	return args, ok
}

// commandLine takes what the config's program at real (named) runs from its
// arguments: a shell's -c command or script file (sh -c 'exec node server.js', a
// Dockerfile's shell-form CMD), and the command an exec wrapper starts (tini --
// node app.js, gosu app npm start, env X=1 python3 app.py), which is itself a program
// the config starts, with its own arguments. Without this only the shell or the
// wrapper was taken, and the image failed at start.
func (r *Resolver) commandLine(c *collector, real, named string, args []string) error {
	name := path.Base(named)
	if name == "busybox" {
		// busybox APPLET ARGS: only its shells run more than the applet itself.
		if len(args) == 0 || !isShell(args[0]) || args[0] == "busybox" {
			return nil
		}
		args = args[1:]
		return r.shellArgs(c, named, args)
	}
	// Under busybox the name is the applet: sed's arguments are no script.
	if isShell(name) || path.Base(real) != "busybox" && isShell(path.Base(real)) {
		return r.shellArgs(c, named, args)
	}
	argv := wrapped(name, args)
	if argv == nil {
		argv = wrapped(path.Base(real), args)
	}
	if len(argv) == 0 {
		return nil
	}
	why := fmt.Sprintf("command %q run by /%s", argv[0], named)
	found, err := r.runArgv(c, argv, r.opts.path, why)
	if err == nil && !found {
		c.miss("%s", why)
	}
	return err
}

// maxArgLists bounds the other argument lists one program is run with: each runs it
// again (a script is read again), and a program given more is a utility, not what an
// app's arguments rule.
const maxArgLists = 32

// runArgv runs argv[0], found through pathEnv as execvp finds it, as a program the
// config starts with the arguments argv[1:] (its own command line is followed in
// turn). found is false when there is no such program.
//
// A program already given other arguments (by the config, or an earlier command line)
// is run once more with these, aside: a script that runs java -version, then java
// -jar app.jar, needs what the second names. The first arguments stay the program's.
func (r *Resolver) runArgv(c *collector, argv []string, pathEnv, why string) (found bool, err error) {
	file, err := rootfs.LookPath(r.links, argv[0], pathEnv, r.opts.workdir)
	switch {
	case errors.Is(err, rootfs.ErrNotFound) || errors.Is(err, rootfs.ErrNotExecutable):
		return false, nil
	case err != nil:
		return false, err
	}
	w, err := r.walk(file)
	if err != nil {
		return true, r.run(c, file, why) // run says what is wrong with it
	}
	r.argsOf(w.real) // the config's own entry first
	args := argv[1:]
	prev, seen := r.cmdArgs[w.real]
	if !seen {
		r.cmdArgs[w.real] = args
		return true, r.run(c, file, why)
	}
	key := w.real + "\x00" + strings.Join(args, "\x00")
	if slices.Equal(prev, args) || r.otherArgs[key] != nil || r.otherRuns[w.real] >= maxArgLists {
		return true, r.run(c, file, why)
	}
	if r.otherArgs == nil {
		r.otherArgs, r.otherRuns = map[string][]string{}, map[string]int{}
	}
	r.otherArgs[key] = args
	r.otherRuns[w.real]++
	ran := c.roots[w.real]
	r.cmdArgs[w.real] = args
	delete(c.roots, w.real)
	err = r.run(c, file, why)
	r.cmdArgs[w.real], c.roots[w.real] = prev, ran
	return true, err
}

// shellArgs takes what a shell's arguments run: the command of -c (options may be
// grouped, as in -ec), else the script file named first.
func (r *Resolver) shellArgs(c *collector, named string, args []string) error {
	for i, a := range args {
		switch {
		case a == "--":
			return r.shellScriptArg(c, named, args[i+1:])
		case strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "--") && strings.Contains(a, "c"):
			if i+1 < len(args) {
				// sh -c BODY NAME ARGS…: NAME is $0, ARGS are "$@".
				params := []string{}
				if i+3 < len(args) {
					params = args[i+3:]
				}
				// A Dockerfile's shell-form CMD is one plain command line: its program
				// gets its arguments, as an exec-form one does (java's class path,
				// python3 -m), before the scan runs it without them.
				if argv := simpleCommand(args[i+1]); argv != nil {
					if _, err := r.runArgv(c, argv, r.opts.path, fmt.Sprintf("command %q of the -c command of /%s", argv[0], named)); err != nil {
						return err
					}
				}
				return r.scanSource(c, []byte(args[i+1]), newShellRun(fmt.Sprintf("the -c command of /%s", named), r.busyboxOf(named), r.opts.path, params))
			}
			return nil
		case strings.HasPrefix(a, "-") || strings.HasPrefix(a, "+"):
			if a == "-o" || a == "+o" {
				return nil // -o OPTION: rare in a config, not worth parsing
			}
		default:
			return r.shellScriptArg(c, named, args[i:])
		}
	}
	return nil
}

// simpleCommand is the words of a shell command line with nothing for the shell to
// do but split it (no quotes, expansions, operators, globs or assignments), less a
// leading exec; nil otherwise.
func simpleCommand(body string) []string {
	if strings.ContainsAny(body, ";&|<>$`\"'\\(){}*?[]#~\n") {
		return nil
	}
	argv := strings.Fields(body)
	if len(argv) > 0 && argv[0] == "exec" {
		argv = argv[1:]
	}
	if len(argv) == 0 || strings.Contains(argv[0], "=") {
		return nil
	}
	return argv
}

// shellScriptArg scans the script file a shell is given (sh /app/run.sh), looked up as
// the shell opens it: relative to the working directory.
func (r *Resolver) shellScriptArg(c *collector, named string, args []string) error {
	if len(args) == 0 {
		return nil
	}
	file := r.inWorkdir(args[0])
	w, err := r.walk(file)
	if err != nil {
		if rootfs.IsNotFound(err) {
			c.miss("shell script %s of /%s", args[0], named)
			return nil
		}
		return err
	}
	if ok, err := r.isRegular(file); !ok || err != nil {
		return err // a directory: the shell fails on it as the original does
	}
	c.add(w, tidyName(file), fmt.Sprintf("script run by /%s", named))
	return r.scanScript(c, w.real, newShellRun(tidyName(file), r.busyboxOf(named), r.opts.path, append([]string{}, args[1:]...)))
}

// busyboxOf is the busybox binary that the shell named runs as, or "".
func (r *Resolver) busyboxOf(named string) string {
	if w, err := r.walk(named); err == nil && path.Base(w.real) == "busybox" {
		return w.real
	}
	return ""
}

// wrapper describes an exec wrapper's arguments: options that take a value, and how
// many words (a user, a duration) come before the command.
type wrapper struct {
	valued []string
	before int
}

// wrappers are the programs that set something up, then exec the command their
// arguments name.
func wrappers() map[string]wrapper {
	return map[string]wrapper{
		"tini":         {valued: []string{"-p", "-e"}},
		"tini-static":  {valued: []string{"-p", "-e"}},
		"dumb-init":    {valued: []string{"-r", "--rewrite"}},
		"catatonit":    {},
		"gosu":         {before: 1},
		"su-exec":      {before: 1},
		"s6-setuidgid": {before: 1},
		"env":          {valued: []string{"-u", "--unset", "-C", "--chdir", "-S", "--split-string"}},
		"nice":         {valued: []string{"-n", "--adjustment"}},
		"nohup":        {},
		"setsid":       {},
		"timeout":      {valued: []string{"-s", "--signal", "-k", "--kill-after"}, before: 1},
		"chpst":        {valued: []string{"-u", "-U", "-b", "-e", "-/", "-n", "-l", "-L", "-m", "-d", "-o", "-p", "-f", "-c"}},
		"runuser":      {valued: []string{"-u", "--user", "-g", "--group", "-G"}},
		"setpriv":      {valued: []string{"--reuid", "--regid", "--groups", "--inh-caps", "--ambient-caps", "--bounding-set", "--securebits", "--selinux-label", "--apparmor-profile"}},
		"stdbuf":       {valued: []string{"-i", "-o", "-e"}},
	}
}

// wrapped is the command line (program and arguments) that the wrapper called name
// runs for args; nil when name is no wrapper or runs nothing.
func wrapped(name string, args []string) []string {
	w, ok := wrappers()[name]
	if !ok {
		return nil
	}
	before := w.before
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			rest := args[i+1:]
			if len(rest) > before {
				return rest[before:]
			}
			return nil
		case strings.HasPrefix(a, "-") && len(a) > 1 && before == w.before:
			for _, v := range w.valued {
				if a == v {
					i++ // its value
				}
			}
		case name == "env" && strings.Contains(a, "="):
		case before > 0:
			before--
		default:
			return args[i:]
		}
	}
	return nil
}

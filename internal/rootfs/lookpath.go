package rootfs

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
)

// DefaultPATH is what Docker, containerd and runc give a process whose image sets no
// PATH, so a program found through it here is found there too.
const DefaultPATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

var (
	// ErrNotFound is returned by LookPath when no candidate exists.
	ErrNotFound = errors.New("executable file not found")
	// ErrNotExecutable is returned by LookPath when a candidate exists but none is a
	// regular file with an execute bit: execvp's EACCES.
	ErrNotExecutable = errors.New("not executable")
)

// PathEnv is the PATH a process started with env (KEY=value entries, as in an image
// config) sees: the last PATH entry, or DefaultPATH when there is none. An empty PATH
// set on purpose stays empty: it means the working directory.
func PathEnv(env []string) string {
	if val, ok := Getenv(env, "PATH"); ok {
		return val
	}
	return DefaultPATH
}

// Getenv is the value of key that a process started with env (KEY=value entries, as
// in an image config) sees: the last entry's, as runtimes pass the list on.
func Getenv(env []string, key string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

// LookPath finds prog the way execvp does in a container whose working directory is
// workdir ("" is "/", as runtimes start a process there when the image sets none):
//
//   - a name with a slash is not searched: it is taken relative to workdir unless absolute;
//   - otherwise each element of pathEnv is tried in order, an empty one meaning workdir and
//     a relative one being relative to it, and the first regular file (after following
//     symlinks) with an execute bit wins.
//
// The result is the absolute, clean path that would be executed, symlinks kept. When
// candidates exist but none is executable, it is the first of them with an error wrapping
// ErrNotExecutable; when none exists, "" with ErrNotFound, except for a name with a slash,
// which is returned with the error too. A candidate that does not resolve (missing,
// dangling, a loop) is skipped as runc's lookup skips it; any other error ends the search.
func LookPath(fsys fs.ReadLinkFS, prog, pathEnv, workdir string) (string, error) {
	workdir = path.Join("/", workdir)
	if strings.Contains(prog, "/") {
		file := prog
		if !path.IsAbs(file) {
			file = path.Join(workdir, file)
		}
		file = path.Clean(file)
		if err := executable(fsys, file); err != nil {
			return file, fmt.Errorf("looking up %s: %w", prog, err)
		}
		return file, nil
	}
	denied := ""
	for _, dir := range strings.Split(pathEnv, ":") {
		if !path.IsAbs(dir) {
			dir = path.Join(workdir, dir) // "" joins to workdir itself
		}
		file := path.Join(dir, prog)
		err := executable(fsys, file)
		switch {
		case err == nil:
			return file, nil
		case errors.Is(err, ErrNotExecutable):
			if denied == "" {
				denied = file
			}
		case !errors.Is(err, ErrNotFound):
			return "", fmt.Errorf("looking up %s in PATH %s: %w", prog, pathEnv, err)
		}
	}
	if denied != "" {
		return denied, fmt.Errorf("looking up %s in PATH %s: %s: %w", prog, pathEnv, denied, ErrNotExecutable)
	}
	return "", fmt.Errorf("looking up %s in PATH %s: %w", prog, pathEnv, ErrNotFound)
}

// executable says whether execve would start file: nil, an error wrapping ErrNotFound
// when it does not resolve, ErrNotExecutable when it is not a regular file with an
// execute bit, or the file system's error.
func executable(fsys fs.ReadLinkFS, file string) error {
	real, _, err := Resolve(fsys, file, true)
	if err != nil {
		if IsNotFound(err) {
			return fmt.Errorf("%w: %w", ErrNotFound, err)
		}
		return err
	}
	fi, err := fsys.Lstat(real)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s (mode %s): %w", file, fi.Mode(), ErrNotExecutable)
	}
	return nil
}

// PathsIn are the absolute paths a command-line word names, whole or as a piece of it
// cut at "=", ":", "," and blanks (--config=/etc/app.yaml, -javaagent:/opt/a.jar=x,
// NODE_OPTIONS="--require /opt/r.js"), cleaned, in order.
func PathsIn(word string) []string {
	var out []string
	for _, tok := range Words(word) {
		if strings.HasPrefix(tok, "/") && !strings.HasPrefix(tok, "//") {
			out = append(out, path.Clean(tok))
		}
	}
	return out
}

// Words splits a word of a command line or an Env value where a path in it may start
// or end: at =, :, commas and blanks (--config=/etc/x, -javaagent:/opt/a.jar=port=1,
// CLASSPATH=/a:/b).
func Words(word string) []string {
	return strings.FieldsFunc(word, func(r rune) bool { return r == '=' || r == ':' || r == ',' || r == ' ' || r == '\t' })
}

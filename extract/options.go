package extract

import (
	"errors"
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// ErrBadOption means an option value cannot be used; the message says which values can.
var ErrBadOption = errors.New("invalid option")

// Deps says whether the ELF shared-library closure of what is taken is taken too.
type Deps string

const (
	// DepsAuto takes, for every ELF file and #! script taken, its loader, libraries and
	// interpreters (the default: a copied binary without its libraries does not start).
	DepsAuto Deps = "auto"
	// DepsNone takes only what the specs name.
	DepsNone Deps = "none"
)

// ParseDeps reads the value of --deps.
func ParseDeps(s string) (Deps, error) {
	switch d := Deps(s); d {
	case DepsAuto, DepsNone:
		return d, nil
	}
	return "", fmt.Errorf("parsing --deps %q (want auto or none): %w", s, ErrBadOption)
}

// Option configures Select and Extract.
type Option func(*options)

type options struct {
	deps                Deps
	env                 []string
	workdir             string
	source              string
	noXattr             bool
	asTar               bool
	tarTo               io.Writer
	warn                func(string)
	program, programWhy string
	argv                []string // the config's entrypoint and cmd, for the program's arguments
	files               []need   // WithFile
	runs                []run    // WithRun
}

// run is a program the config starts besides its entrypoint, with its arguments.
type run struct {
	path, why string
	args      []string
}

// need is a path a caller needs taken, and why.
type need struct{ path, why string }

func makeOptions(opts []Option) (options, error) {
	o := options{deps: DepsAuto, source: "source"}
	for _, opt := range opts {
		opt(&o)
	}
	if _, err := ParseDeps(string(o.deps)); err != nil {
		return o, err
	}
	if o.source == "" {
		return o, fmt.Errorf("checking source name: empty, pass the stage or image name the user gave: %w", ErrBadOption)
	}
	return o, nil
}

// WithDeps sets whether shared libraries and interpreters are taken (default DepsAuto).
func WithDeps(d Deps) Option { return func(o *options) { o.deps = d } }

// WithEnv passes the source image config's Env: its PATH and LD_LIBRARY_PATH are what
// the programs will see, so the loader's search is repeated with them.
func WithEnv(env []string) Option {
	return func(o *options) { o.env = append([]string(nil), env...) }
}

// WithWorkdir passes the source image config's WorkingDir: relative PATH elements and
// relative program names are found from it, as the runtime finds them.
func WithWorkdir(dir string) Option { return func(o *options) { o.workdir = dir } }

// WithConfig passes what the closure needs of the source's runtime config: WithEnv
// and WithWorkdir of it, and the arguments its entrypoint gives the program that
// WithProgram takes.
func WithConfig(c v1.Config) Option {
	return func(o *options) {
		WithEnv(c.Env)(o)
		WithWorkdir(c.WorkingDir)(o)
		o.argv = append(append([]string(nil), c.Entrypoint...), c.Cmd...)
	}
}

// WithSourceName names the source (stage or image) in the reasons, as the user typed it
// in --from.
func WithSourceName(name string) Option { return func(o *options) { o.source = name } }

// WithoutXattrs makes Extract skip extended attributes when writing a directory: setting
// security.capability needs root (CAP_SETFCAP) and a file system that keeps xattrs.
// Tar output always keeps them.
func WithoutXattrs() Option { return func(o *options) { o.noXattr = true } }

// AsTar makes Extract write dest as a tar file whatever its name (by default only a
// dest ending in ".tar" is one).
func AsTar() Option { return func(o *options) { o.asTar = true } }

// TarTo makes Extract stream the tar to w (standard output, say) instead of writing
// dest, which then only names it in messages.
func TarTo(w io.Writer) Option { return func(o *options) { o.tarTo = w } }

// WithWarn receives what the closure could not settle without running anything (the
// commands of a shell script that only a run can name, or that no PATH directory has).
func WithWarn(warn func(string)) Option { return func(o *options) { o.warn = warn } }

// WithProgram takes the program at the absolute path p (the one a config's entrypoint
// runs), with its closure, unless the specs already took that path; why is its reason.
// It is taken under its own name, symlinks kept, as the runtime will find it.
func WithProgram(p, why string) Option {
	return func(o *options) { o.program, o.programWhy = p, why }
}

// WithRun takes the program at the absolute path p that the config starts besides its
// entrypoint with the arguments args (the healthcheck's command), with its closure
// and what those arguments run, as WithProgram does for the entrypoint; why is its
// reason. It may be given several times.
func WithRun(p string, args []string, why string) Option {
	return func(o *options) { o.runs = append(o.runs, run{path: p, why: why, args: append([]string{}, args...)}) }
}

// WithFile takes the file at the absolute path p, unless the specs already took that
// path, for a need the caller knows of (a user the config runs as needs /etc/passwd);
// why is its reason, which the report shows. Unlike WithProgram it may be given
// several times.
func WithFile(p, why string) Option {
	return func(o *options) { o.files = append(o.files, need{p, why}) }
}

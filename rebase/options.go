package rebase

import (
	"errors"
	"io/fs"
	"os"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slim-dev/slim/internal/imageref"
	"github.com/slim-dev/slim/internal/mediatype"
)

// Sentinel errors. Callers test them with errors.Is; messages wrap them with what was
// being done and how to fix it.
var (
	// ErrCheck means the fidelity check found that the image would not start.
	ErrCheck = errors.New("image would not start")
	// ErrNoNetwork means a base could not be pulled because the registry is unreachable.
	ErrNoNetwork = errors.New("registry unreachable")
	// ErrMediaType means the layers cannot be described in one media-type family (zstd
	// layers in a Docker manifest). It is internal/mediatype's, which decides it.
	ErrMediaType = mediatype.ErrMediaType
	// ErrNoPlatform means the source and the base have no platform in common.
	ErrNoPlatform = errors.New("no common platform")
	// ErrOldBase means the image's own layers could not be told from its old base's.
	ErrOldBase = errors.New("cannot find the old base")
	// ErrBadOption is returned for option values that cannot work.
	ErrBadOption = errors.New("invalid option")
)

// Option configures ResolveBase, Assemble, AssembleIndex, Check and Rebase. Each
// function uses the options that concern it and ignores the others, so a command can
// build one list and pass it everywhere.
type Option func(*options)

type options struct {
	// ResolveBase
	getenv   func(string) string
	aliases  map[string]string
	platform *v1.Platform
	refOpts  []imageref.Option

	// Assemble and Rebase
	entrypoint, cmd *[]string
	env             []string
	user, workdir   *string
	labels          map[string]string
	expose          []string
	history         []string
	epoch           time.Time
	baseName        string
	mediaTypes      mediatype.Family
	platforms       []v1.Platform

	// Rebase
	oldBase v1.Image

	// Check
	force  bool
	warn   func(string)
	srcRef string
	srcFS  fs.FS
}

func makeOptions(opts ...Option) options {
	o := options{
		getenv: os.Getenv,
		epoch:  time.Unix(0, 0).UTC(),
		warn:   func(string) {},
	}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// WithGetenv sets how SLIM_BASE_<NAME> overrides of the aliases are looked up (default
// os.Getenv); pass func(string) string { return "" } to ignore the environment.
func WithGetenv(getenv func(string) string) Option {
	return func(o *options) {
		if getenv != nil {
			o.getenv = getenv
		}
	}
}

// WithAlias makes ResolveBase resolve name (an alias such as "distroless/cc", or a new
// word) to ref. It wins over the environment and the built-in table.
func WithAlias(name, ref string) Option {
	return func(o *options) {
		if o.aliases == nil {
			o.aliases = map[string]string{}
		}
		o.aliases[name] = ref
	}
}

// WithPlatform sets the platform of a single-image result: the config os/arch of
// scratch and static, and the image ResolveBase takes from an index when asked for an
// image (Base.Image).
func WithPlatform(p v1.Platform) Option {
	return func(o *options) { o.platform = &p }
}

// WithPlatforms narrows AssembleIndex to these platforms (--platform p1,p2).
func WithPlatforms(ps ...v1.Platform) Option {
	return func(o *options) { o.platforms = append(o.platforms, ps...) }
}

// WithRefOptions passes options (credentials, transport, insecure registries) to
// imageref when a base or an old base is opened.
func WithRefOptions(ropts ...imageref.Option) Option {
	return func(o *options) { o.refOpts = append(o.refOpts, ropts...) }
}

// WithEntrypoint overrides the entrypoint (--entrypoint). As in a Dockerfile, setting it
// clears the Cmd unless WithCmd is given too. No arguments means no entrypoint.
func WithEntrypoint(args ...string) Option {
	return func(o *options) { a := append([]string{}, args...); o.entrypoint = &a }
}

// WithCmd overrides the command (--cmd). No arguments means no command.
func WithCmd(args ...string) Option {
	return func(o *options) { a := append([]string{}, args...); o.cmd = &a }
}

// WithEnv sets environment variables ("K=V", --env), replacing a variable of the same
// name (PATH included: an explicit PATH is taken as it is). Repeatable.
func WithEnv(kv ...string) Option {
	return func(o *options) { o.env = append(o.env, kv...) }
}

// WithUser overrides the user (--user): a name, a uid, or user:group.
func WithUser(u string) Option { return func(o *options) { o.user = &u } }

// WithWorkdir overrides the working directory (--workdir).
func WithWorkdir(dir string) Option { return func(o *options) { o.workdir = &dir } }

// WithLabel sets a config label (--label). Repeatable.
func WithLabel(key, value string) Option {
	return func(o *options) {
		if o.labels == nil {
			o.labels = map[string]string{}
		}
		o.labels[key] = value
	}
}

// WithExpose adds exposed ports ("8080", "8080/tcp", "53/udp", --expose). Repeatable.
func WithExpose(ports ...string) Option {
	return func(o *options) { o.expose = append(o.expose, ports...) }
}

// WithHistory gives the history text of each new layer, in order: what slim did, e.g.
// "slim: --from builder:/app/server (3 files, ELF closure 5 files)". Layers without a
// text get a generic one.
func WithHistory(createdBy ...string) Option {
	return func(o *options) { o.history = append(o.history, createdBy...) }
}

// WithSourceDateEpoch sets the config and history creation time (default the Unix
// epoch; never the clock, so two runs give one digest). A zero time means the epoch.
func WithSourceDateEpoch(t time.Time) Option {
	return func(o *options) {
		if t.IsZero() {
			t = time.Unix(0, 0)
		}
		o.epoch = t.UTC()
	}
}

// WithBaseName sets the org.opencontainers.image.base.name annotation (the reference
// the user gave, e.g. "gcr.io/distroless/static-debian13:latest"). Without it, a Base
// from ResolveBase names itself and a bare v1.Image gets no name.
func WithBaseName(name string) Option { return func(o *options) { o.baseName = name } }

// WithMediaTypes forces the manifest's media-type family. By default it is the base's
// family, or OCI when a layer is zstd (which Docker media types cannot describe).
func WithMediaTypes(f mediatype.Family) Option { return func(o *options) { o.mediaTypes = f } }

// WithOldBase gives Rebase the image's old base (--old-base): its layers must be the
// bottom layers of the image.
func WithOldBase(img v1.Image) Option { return func(o *options) { o.oldBase = img } }

// WithForce makes Check report problems through WithWarn instead of failing (--force).
func WithForce() Option { return func(o *options) { o.force = true } }

// WithWarn receives what Check notices but does not fail on (a missing WORKDIR, and
// every problem under WithForce).
func WithWarn(fn func(msg string)) Option {
	return func(o *options) {
		if fn != nil {
			o.warn = fn
		}
	}
}

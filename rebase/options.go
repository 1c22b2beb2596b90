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

// BaseOption configures ResolveBase: WithGetenv, WithAlias, WithPlatform,
// WithRefOptions.
type BaseOption interface{ applyBase(*baseOptions) }

// AssembleOption configures Assemble: WithHistory and every AssemblyOption.
type AssembleOption interface{ applyAssemble(*assembleOptions) }

// IndexOption configures AssembleIndex: WithPlatforms and every AssemblyOption.
type IndexOption interface{ applyIndex(*indexOptions) }

// RebaseOption configures Rebase: WithOldBase, WithRefOptions and every
// AssemblyOption.
type RebaseOption interface{ applyRebase(*rebaseOptions) }

// CheckOption configures Check: WithForce, WithWarn, WithSource.
type CheckOption func(*checkOptions)

// AssemblyOption sets how an image is written besides its layers: WithEntrypoint,
// WithCmd, WithEnv, WithUser, WithWorkdir, WithLabel, WithExpose,
// WithSourceDateEpoch, WithBaseName, WithMediaTypes. It is an AssembleOption, an
// IndexOption and a RebaseOption.
type AssemblyOption func(*assembly)

func (f AssemblyOption) applyAssemble(o *assembleOptions) { f(&o.assembly) }
func (f AssemblyOption) applyIndex(o *indexOptions)       { f(&o.assembly) }
func (f AssemblyOption) applyRebase(o *rebaseOptions)     { f(&o.assembly) }

// RefOption passes imageref options to whatever opens a base: it is a BaseOption and
// a RebaseOption (which opens the old base its annotations name).
type RefOption []imageref.Option

func (r RefOption) applyBase(o *baseOptions)     { o.refOpts = append(o.refOpts, r...) }
func (r RefOption) applyRebase(o *rebaseOptions) { o.refOpts = append(o.refOpts, r...) }

// The single-function options.
type (
	baseOption     func(*baseOptions)
	assembleOption func(*assembleOptions)
	indexOption    func(*indexOptions)
	rebaseOption   func(*rebaseOptions)
)

func (f baseOption) applyBase(o *baseOptions)             { f(o) }
func (f assembleOption) applyAssemble(o *assembleOptions) { f(o) }
func (f indexOption) applyIndex(o *indexOptions)          { f(o) }
func (f rebaseOption) applyRebase(o *rebaseOptions)       { f(o) }

type baseOptions struct {
	getenv   func(string) string
	aliases  map[string]string
	platform *v1.Platform
	refOpts  []imageref.Option
}

// assembly is what Assemble, AssembleIndex and Rebase share.
type assembly struct {
	entrypoint, cmd *[]string
	env             []string
	user, workdir   *string
	labels          map[string]string
	expose          []string
	epoch           time.Time
	baseName        string
	mediaTypes      mediatype.Family
}

type assembleOptions struct {
	assembly
	history []string
}

type indexOptions struct {
	assembly
	platforms []v1.Platform
}

type rebaseOptions struct {
	assembly
	oldBase v1.Image
	refOpts []imageref.Option
	lenient func(string)
}

type checkOptions struct {
	force  bool
	warn   func(string)
	srcRef string
	srcFS  fs.FS
}

// The defaults, in one place.

func makeBaseOptions(opts []BaseOption) baseOptions {
	return apply(baseOptions{getenv: os.Getenv}, opts, BaseOption.applyBase)
}

func defaultAssembly() assembly { return assembly{epoch: time.Unix(0, 0).UTC()} }

func makeAssembleOptions(opts []AssembleOption) assembleOptions {
	return apply(assembleOptions{assembly: defaultAssembly()}, opts, AssembleOption.applyAssemble)
}

func makeIndexOptions(opts []IndexOption) indexOptions {
	return apply(indexOptions{assembly: defaultAssembly()}, opts, IndexOption.applyIndex)
}

func makeRebaseOptions(opts []RebaseOption) rebaseOptions {
	return apply(rebaseOptions{assembly: defaultAssembly()}, opts, RebaseOption.applyRebase)
}

func makeCheckOptions(opts []CheckOption) checkOptions {
	return apply(checkOptions{warn: func(string) {}}, opts, func(f CheckOption, o *checkOptions) { f(o) })
}

// apply is o with every option applied in order.
func apply[T, O any](o T, opts []O, applyOne func(O, *T)) T {
	for _, opt := range opts {
		applyOne(opt, &o)
	}
	return o
}

// WithGetenv sets how SLIM_BASE_<NAME> overrides of the aliases are looked up (default
// os.Getenv); pass func(string) string { return "" } to ignore the environment.
func WithGetenv(getenv func(string) string) BaseOption {
	return baseOption(func(o *baseOptions) {
		if getenv != nil {
			o.getenv = getenv
		}
	})
}

// WithAlias makes ResolveBase resolve name (an alias such as "distroless/cc", or a new
// word) to ref. It wins over the environment and the built-in table.
func WithAlias(name, ref string) BaseOption {
	return baseOption(func(o *baseOptions) {
		if o.aliases == nil {
			o.aliases = map[string]string{}
		}
		o.aliases[name] = ref
	})
}

// WithPlatform sets the platform ResolveBase builds scratch and static for (their
// config's os/arch) and takes from an index when asked for an image (Base.Image).
func WithPlatform(p v1.Platform) BaseOption {
	return baseOption(func(o *baseOptions) { o.platform = &p })
}

// WithPlatforms narrows AssembleIndex to these platforms (--platform p1,p2).
func WithPlatforms(ps ...v1.Platform) IndexOption {
	return indexOption(func(o *indexOptions) { o.platforms = append(o.platforms, ps...) })
}

// WithRefOptions passes options (credentials, transport, insecure registries) to
// imageref when a base or an old base is opened.
func WithRefOptions(ropts ...imageref.Option) RefOption { return RefOption(ropts) }

// WithEntrypoint overrides the entrypoint (--entrypoint). As in a Dockerfile, setting it
// clears the Cmd unless WithCmd is given too. No arguments means no entrypoint.
func WithEntrypoint(args ...string) AssemblyOption {
	return func(o *assembly) { a := append([]string{}, args...); o.entrypoint = &a }
}

// WithCmd overrides the command (--cmd). No arguments means no command.
func WithCmd(args ...string) AssemblyOption {
	return func(o *assembly) { a := append([]string{}, args...); o.cmd = &a }
}

// WithEnv sets environment variables ("K=V", --env), replacing a variable of the same
// name (PATH included: an explicit PATH is taken as it is). Repeatable.
func WithEnv(kv ...string) AssemblyOption {
	return func(o *assembly) { o.env = append(o.env, kv...) }
}

// WithUser overrides the user (--user): a name, a uid, or user:group.
func WithUser(u string) AssemblyOption { return func(o *assembly) { o.user = &u } }

// WithWorkdir overrides the working directory (--workdir).
func WithWorkdir(dir string) AssemblyOption { return func(o *assembly) { o.workdir = &dir } }

// WithLabel sets a config label (--label). Repeatable.
func WithLabel(key, value string) AssemblyOption {
	return func(o *assembly) {
		if o.labels == nil {
			o.labels = map[string]string{}
		}
		o.labels[key] = value
	}
}

// WithExpose adds exposed ports ("8080", "8080/tcp", "53/udp", --expose). Repeatable.
func WithExpose(ports ...string) AssemblyOption {
	return func(o *assembly) { o.expose = append(o.expose, ports...) }
}

// WithHistory gives Assemble the history text of each new layer, in order: what slim
// did, e.g. "slim: --from builder:/app/server (3 files, ELF closure 5 files)". Layers
// without a text get a generic one. (AssembleIndex takes the texts from its
// LayersFunc, Rebase from the image.)
func WithHistory(createdBy ...string) AssembleOption {
	return assembleOption(func(o *assembleOptions) { o.history = append(o.history, createdBy...) })
}

// WithSourceDateEpoch sets the config and history creation time (default the Unix
// epoch; never the clock, so two runs give one digest). A zero time means the epoch.
func WithSourceDateEpoch(t time.Time) AssemblyOption {
	return func(o *assembly) {
		if t.IsZero() {
			t = time.Unix(0, 0)
		}
		o.epoch = t.UTC()
	}
}

// WithBaseName sets the org.opencontainers.image.base.name annotation (the reference
// the user gave, e.g. "gcr.io/distroless/static-debian13:latest"). Without it, a Base
// from ResolveBase names itself and a bare v1.Image gets no name.
func WithBaseName(name string) AssemblyOption { return func(o *assembly) { o.baseName = name } }

// WithMediaTypes forces the manifest's media-type family. By default it is the base's
// family, or OCI when a layer is zstd (which Docker media types cannot describe).
func WithMediaTypes(f mediatype.Family) AssemblyOption {
	return func(o *assembly) { o.mediaTypes = f }
}

// WithOldBase gives Rebase the image's old base (--old-base): its layers must be the
// bottom layers of the image.
func WithOldBase(img v1.Image) RebaseOption {
	return rebaseOption(func(o *rebaseOptions) { o.oldBase = img })
}

// WithLenient makes Rebase drop the tar entries of the image's own layers that climb
// out of the root (refused otherwise), telling warn of each: a layer that has any is
// rewritten without them (a new gzip layer), the others keep their digests.
func WithLenient(warn func(msg string)) RebaseOption {
	return rebaseOption(func(o *rebaseOptions) {
		if warn == nil {
			warn = func(string) {}
		}
		o.lenient = warn
	})
}

// WithForce makes Check report problems through WithWarn instead of failing (--force).
func WithForce() CheckOption { return func(o *checkOptions) { o.force = true } }

// WithWarn receives what Check notices but does not fail on (a missing WORKDIR, and
// every problem under WithForce).
func WithWarn(fn func(msg string)) CheckOption {
	return func(o *checkOptions) {
		if fn != nil {
			o.warn = fn
		}
	}
}

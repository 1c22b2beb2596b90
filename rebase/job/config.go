package job

import (
	"github.com/slim-dev/slim/internal/imagefs"
	"github.com/slim-dev/slim/internal/progress"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slim-dev/slim/build"
	"github.com/slim-dev/slim/extract"
	"github.com/slim-dev/slim/internal/imageref"
	"github.com/slim-dev/slim/rebase"
	"github.com/slim-dev/slim/tarball"
	"github.com/slim-dev/slim/tarball/output"
)

// Config is one slim run: what to take, where to lay it, how to pack it and where to
// write it.
type Config struct {
	// From lists the --from specs. A Dockerfile run without any takes what its
	// target stage copies (auto mode).
	From []extract.From
	Deps extract.Deps
	// Base is --base: scratch, static, an alias or an image reference.
	Base string
	// Platforms is --platform: empty means this machine's for one image, or every
	// platform an index source and the base share.
	Platforms []v1.Platform
	// RefOptions open every image reference (credentials, --insecure, platform).
	RefOptions []imageref.Option
	// Compression and Level pack the new layer.
	Compression tarball.Compression
	Level       tarball.Level
	// SourceDateEpoch is stamped into layers and config (zero: the Unix epoch).
	SourceDateEpoch time.Time
	// Overrides set the result's runtime config over the source's (--entrypoint,
	// --env, --user…).
	Overrides []rebase.AssemblyOption
	// Force writes an image the fidelity check refuses; its problems become warnings.
	// It also writes a result that --verify finds different.
	Force bool
	// Lenient drops the tar entries of the sources that climb out of the root, with a
	// warning each, where they are refused otherwise (--lenient).
	Lenient bool
	// PackageMetadata is --package-metadata: by default the result keeps the
	// package metadata of what it holds, for scanners.
	PackageMetadata PackageMetadata
	// Attest attaches SBOM and provenance attestations (--sbom, --provenance).
	Attest Attest
	// Verify runs commands in the source and in the result before writing (--verify).
	Verify Verify
	// Trace runs commands in the source under a tracer and takes what they
	// touched (--trace), with Verify's Timeout and Connect.
	Trace Trace
	// Outputs and OutputOptions say where the result goes; none checks it only.
	Outputs       []output.Output
	OutputOptions []output.Option
	// Progress receives what the run is doing and its warnings (default io.Discard).
	// A Dockerfile run draws BuildKit's display on it.
	Progress io.Writer
	// Steps shows the long work of an image run (layers read, packed, written) as
	// steps of a display; nil shows nothing. A Dockerfile run uses its solve's.
	Steps progress.Sink
}

// Build is what a Dockerfile run adds to its Config.
type Build struct {
	// Dockerfile is the Dockerfile, read once (build.ReadDockerfile).
	Dockerfile *build.Dockerfile
	// Request carries the build flags (context, args, secrets, contexts, cache,
	// --no-cache, progress mode); the job sets its stages, platforms and output.
	Request build.Request
	// Connect finds BuildKit (--addr, TLS).
	Connect []build.Option
	// Target is --target (default the last stage).
	Target string
	// Keep adds paths of the target stage in auto mode (--keep).
	Keep []string
	// EmitDockerfile, when set, is where the equivalent multi-stage Dockerfile is
	// written (--emit-dockerfile).
	EmitDockerfile string
}

func (c *Config) progress() io.Writer {
	if c.Progress == nil {
		return io.Discard
	}
	return c.Progress
}

// packing is the new layer's options. Every source slim packs from reads
// concurrently: a BuildKit stage's files cost a gateway round trip each, and image
// sources are spooled (imagefs.WithSpool).
// fsOptions reads source images as Lenient says, warnings to warn.
func (c *Config) fsOptions(warn func(string)) []imagefs.Option {
	opts := []imagefs.Option{imagefs.WithProgress(c.Steps)}
	if c.Lenient {
		opts = append(opts, imagefs.WithLenient(warn))
	}
	return opts
}

func (c *Config) packing() []tarball.Option {
	return []tarball.Option{
		tarball.WithCompression(c.Compression), tarball.WithLevel(c.Level),
		tarball.WithSourceDateEpoch(c.SourceDateEpoch), tarball.WithReadAhead(8),
		tarball.WithProgress(c.Steps),
	}
}

// assembly is the options of assembly: the epoch and the overrides.
func (c *Config) assembly() []rebase.AssemblyOption {
	return append([]rebase.AssemblyOption{rebase.WithSourceDateEpoch(c.SourceDateEpoch)}, c.Overrides...)
}

// baseOptions are ResolveBase's: one platform asked for picks the base's image for it.
func (c *Config) baseOptions() []rebase.BaseOption {
	opts := []rebase.BaseOption{rebase.WithRefOptions(c.RefOptions...)}
	if len(c.Platforms) == 1 {
		opts = append(opts, rebase.WithPlatform(c.Platforms[0]))
	}
	return opts
}

// cacheDir is where a build keeps what a warm build reuses: compressed layers
// ("layers", as BuildKit keeps its blobs) and fidelity-check outcomes by result
// digest ("checks"). "" with --no-cache or no cache directory.
func cacheDir(noCache bool, kind string) string {
	dir, err := os.UserCacheDir()
	if noCache || err != nil {
		return ""
	}
	return filepath.Join(dir, "slim", kind)
}

// warnings collects the run's warnings for the Result and passes each to a writer
// that can be swapped: the step running in BuildKit's display while it runs, the
// terminal otherwise.
type warnings struct {
	mu   sync.Mutex
	w    io.Writer
	list []string
}

func (s *warnings) set(w io.Writer) {
	s.mu.Lock()
	s.w = w
	s.mu.Unlock()
}

func (s *warnings) warn(msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.list = append(s.list, msg)
	io.WriteString(s.w, "slim: warning: "+msg+"\n")
}

package tarball

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/compression"

	"github.com/slim-dev/slim/internal/mediatype"
	"github.com/slim-dev/slim/internal/progress"
)

// Sentinel errors. Callers test them with errors.Is; messages wrap them with what was
// being done.
var (
	// ErrBadCompression is returned for a compression name this package does not know.
	ErrBadCompression = errors.New("unknown compression")
	// ErrBadLevel is returned for a level that is unknown or invalid for the compression.
	ErrBadLevel = errors.New("invalid compression level")
	// ErrUnsafePath is returned for an entry whose name or hardlink target would escape
	// the layer root, or that lies under a non-directory.
	ErrUnsafePath = errors.New("unsafe path")
	// ErrDuplicate is returned when two entries name the same path.
	ErrDuplicate = errors.New("duplicate path")
	// ErrSizeMismatch is returned when an entry's content is shorter or longer than its
	// Header.Size.
	ErrSizeMismatch = errors.New("content size does not match header")
	// ErrUnsupportedType is returned for tar entry types a layer cannot hold (sparse
	// files, global headers, ...).
	ErrUnsupportedType = errors.New("unsupported entry type")
	// ErrBadOption is returned for option combinations that cannot work together.
	ErrBadOption = errors.New("invalid option")
)

// Compression is the compression of a layer blob.
type Compression string

const (
	Gzip         Compression = "gzip"
	Zstd         Compression = "zstd"
	Uncompressed Compression = "uncompressed"
)

// ParseCompression parses a user-supplied compression name ("gzip", "zstd",
// "uncompressed"; "none" is accepted for uncompressed).
func ParseCompression(s string) (Compression, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "gzip", "gz":
		return Gzip, nil
	case "zstd", "zst":
		return Zstd, nil
	case "uncompressed", "none":
		return Uncompressed, nil
	}
	return "", fmt.Errorf("parsing compression %q (want gzip, zstd or uncompressed): %w", s, ErrBadCompression)
}

// ggcr is c in go-containerregistry's words, which internal/mediatype speaks.
// Algorithm is c in go-containerregistry's words, as media types are chosen by it.
func (c Compression) Algorithm() compression.Compression {
	if c == Uncompressed {
		return compression.None
	}
	return compression.Compression(c) // gzip and zstd are spelt alike
}

// Level is a compression level. Positive values are the format's own numbers (gzip 1–9,
// zstd 1–22 as the zstd command line counts them); LevelDefault and LevelBest are the
// two named levels.
type Level int

const (
	// LevelDefault is the format's default trade-off (gzip 6, klauspost zstd default).
	LevelDefault Level = 0
	// LevelBest is the smallest output this package can produce for the format: gzip
	// by internal/deflate's near-optimal parse (about 2% smaller than gzip -9), zstd at
	// klauspost's best encoder with a 128 MiB window.
	LevelBest Level = -1
)

// String returns the level as ParseLevel accepts it.
func (l Level) String() string {
	switch l {
	case LevelDefault:
		return "default"
	case LevelBest:
		return "best"
	}
	return strconv.Itoa(int(l))
}

// maxZstdLevel is the highest level the zstd command line accepts (with --ultra).
const maxZstdLevel = 22

// ParseLevel parses a user-supplied level: "best", "default" (or empty), or a number.
// Whether a number fits the chosen compression is checked when the options are used.
func ParseLevel(s string) (Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "default":
		return LevelDefault, nil
	case "best", "max":
		return LevelBest, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 1 || n > maxZstdLevel {
		return 0, fmt.Errorf("parsing compression level %q (want best, default or 1-%d): %w", s, maxZstdLevel, ErrBadLevel)
	}
	return Level(n), nil
}

// Option configures WriteTar, NewCompressWriter, NewLayer and NewLayers. Options that
// do not concern a function are ignored by it (WriteTar never compresses).
type Option func(*options)

type options struct {
	compression   Compression
	level         Level
	mediaTypes    mediatype.Family
	epoch         time.Time
	preserveMTime bool
	parents       bool
	tempDir       string
	progress      progress.Sink
	// cacheDir, when set, keeps compressed layers for reuse (WithCacheDir).
	cacheDir     string
	cacheWarn    func(string)
	cacheRefresh bool
	cacheMax     int64
	// readAhead is how many small files are read ahead of the writer (WithReadAhead).
	readAhead int
	// workers is the number of goroutines one compressed stream may use. It changes
	// speed only, never bytes; tests set it to prove that.
	workers int
	// sizeHint, when positive, is an upper bound of the uncompressed stream's length.
	// NewLayer knows it from the headers and uses it to size the zstd window: a window
	// larger than the input compresses no better but costs memory and time.
	sizeHint int64
	// gzipBlock is the uncompressed block size of the parallel gzip writer. It is part
	// of the output format (changing it changes digests), so it is not exported.
	gzipBlock int
}

// WithCompression sets the layer compression (default Gzip, the one every runtime reads).
func WithCompression(c Compression) Option { return func(o *options) { o.compression = c } }

// WithLevel sets the compression level (default LevelDefault).
func WithLevel(l Level) Option { return func(o *options) { o.level = l } }

// WithMediaTypes sets the media-type family (default OCI).
func WithMediaTypes(f mediatype.Family) Option { return func(o *options) { o.mediaTypes = f } }

// WithSourceDateEpoch sets the time that modification times are clamped to (default the
// Unix epoch, so digests do not depend on when files were built).
// A zero time means the Unix epoch.
func WithSourceDateEpoch(t time.Time) Option {
	return func(o *options) {
		if t.IsZero() {
			t = time.Unix(0, 0)
		}
		o.epoch = t.UTC()
	}
}

// WithPreserveMTime keeps modification times (truncated to whole seconds, so USTAR
// headers suffice) instead of clamping them.
func WithPreserveMTime() Option { return func(o *options) { o.preserveMTime = true } }

// WithParents adds missing parent directories (mode 0755, root:root, clamped time).
func WithParents() Option { return func(o *options) { o.parents = true } }

// WithProgress shows each layer written (NewLayer, NewLayers) as a step of s: the tar
// bytes in and the compressed bytes out.
func WithProgress(s progress.Sink) Option { return func(o *options) { o.progress = s } }

// WithTempDir sets where NewLayer spools compressed blobs (default os.TempDir()).
func WithTempDir(dir string) Option { return func(o *options) { o.tempDir = dir } }

// withWorkers overrides the per-stream concurrency (tests only: output must not change).
func withWorkers(n int) Option { return func(o *options) { o.workers = n } }

// Settings is what a list of Options comes to, defaults included, for a caller that
// must decide around the layers it asks for (recompress picks the media-type family
// from the compression, and spools next to the layers).
type Settings struct {
	Compression Compression
	TempDir     string
}

// Resolve applies opts over the defaults. It does not check them: see Validate.
func Resolve(opts ...Option) Settings {
	o := makeOptions(opts...)
	return Settings{Compression: o.compression, TempDir: o.tempDir}
}

// Validate refuses the combinations NewLayer and NewLayers would refuse, so a caller
// can fail before doing any work.
func Validate(opts ...Option) error {
	o := makeOptions(opts...)
	return o.validate()
}

const defaultGzipBlock = 1 << 20

func makeOptions(opts ...Option) options {
	o := options{
		compression: Gzip,
		level:       LevelDefault,
		mediaTypes:  mediatype.OCI,
		epoch:       time.Unix(0, 0).UTC(),
		gzipBlock:   defaultGzipBlock,
	}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// validate refuses bad combinations up front, saying how to fix them.
func (o *options) validate() error {
	switch o.compression {
	case Gzip:
		if o.level != LevelDefault && o.level != LevelBest && (o.level < 1 || o.level > 9) {
			return fmt.Errorf("checking gzip level %s (want 1-9, default or best): %w", o.level, ErrBadLevel)
		}
	case Zstd:
		if o.level != LevelDefault && o.level != LevelBest && (o.level < 1 || o.level > maxZstdLevel) {
			return fmt.Errorf("checking zstd level %s (want 1-%d, default or best): %w", o.level, maxZstdLevel, ErrBadLevel)
		}
		if o.mediaTypes == mediatype.Docker {
			return fmt.Errorf("checking options: zstd layers need OCI media types, drop the docker media types or use gzip: %w", ErrBadOption)
		}
	case Uncompressed:
		// best is the CLI's default level: with no compression it asks for nothing.
		if o.level != LevelDefault && o.level != LevelBest {
			return fmt.Errorf("checking level %s: uncompressed layers take no level: %w", o.level, ErrBadLevel)
		}
	default:
		return fmt.Errorf("checking compression %q (want gzip, zstd or uncompressed): %w", o.compression, ErrBadCompression)
	}
	switch o.mediaTypes {
	case mediatype.OCI, mediatype.Docker:
	default:
		return fmt.Errorf("checking media types %q (want oci or docker): %w", o.mediaTypes, ErrBadOption)
	}
	if o.cacheDir != "" && o.cacheMax <= 0 {
		if _, err := CacheLimit(); err != nil {
			return err
		}
	}
	if o.workers < 0 {
		return fmt.Errorf("checking workers %d: %w", o.workers, ErrBadOption)
	}
	return nil
}

package recompress

import (
	"github.com/slim-dev/slim/internal/imagefs"
	"github.com/slim-dev/slim/internal/imageref"
	"github.com/slim-dev/slim/internal/mediatype"
	"github.com/slim-dev/slim/tarball"
)

// Option configures Recompress.
type Option func(*options)

type options struct {
	packing  []tarball.Option
	squash   bool
	keepBase int
	// baseName, when set, names the base whose layers are kept: resolved (with
	// refOpts) for the image's platform, or read from its annotations when "auto".
	baseName string
	refOpts  []imageref.Option
	strip    []string
	fsOpts   []imagefs.Option
	family   mediatype.Family
}

// WithFamily writes the image in the media-type family f whatever the input's, for a
// caller that knows its outputs will hold f (an OCI layout), so that the report gives
// the types and digests that are written.
func WithFamily(f mediatype.Family) Option { return func(o *options) { o.family = f } }

// WithImageOptions adds options to the reading of the image (imagefs.WithLenient).
func WithImageOptions(opts ...imagefs.Option) Option {
	return func(o *options) { o.fsOpts = append(o.fsOpts, opts...) }
}

// WithPacking gives the options of the layers Recompress writes (tarball.WithCompression,
// WithLevel, WithSourceDateEpoch, WithTempDir, ...). The media-type family is
// Recompress's to choose: it follows the input's.
func WithPacking(opts ...tarball.Option) Option {
	return func(o *options) { o.packing = append(o.packing, opts...) }
}

// WithSquash writes the rewritten layers as one layer holding their merged view.
func WithSquash() Option {
	return func(o *options) { o.squash = true }
}

// WithKeepBaseLayers leaves the first n layers as they are, byte for byte (same
// digests, so registries and clients keep sharing them). BaseLayerCount computes n from a
// base image.
func WithKeepBaseLayers(n int) Option {
	return func(o *options) { o.keepBase = n }
}

// WithKeepBase leaves the layers of the base name as they are (--keep-base): name is a
// base as --base names one (scratch, static, an alias or an image reference, opened with
// ropts), or "auto" for the base the image's org.opencontainers.image.base.* annotations
// name. Its layers must be the image's bottom layers.
func WithKeepBase(name string, ropts ...imageref.Option) Option {
	return func(o *options) { o.baseName, o.refOpts = name, ropts }
}

// WithStrip removes from the rewritten layers every path matching one of patterns: a
// preset name (see ParseStrip) or a glob. Stripping changes the merged file system on
// purpose; it is never on by default.
func WithStrip(patterns ...string) Option {
	return func(o *options) { o.strip = append(o.strip, patterns...) }
}

func makeOptions(opts []Option) options {
	var o options
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	return o
}

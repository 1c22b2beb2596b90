// Package recompress owns `slim recompress`: it drops the files an image never shows
// (deleted or overwritten by a later layer) layer by layer, drops whiteouts that hide
// nothing any more and layers left empty, optionally strips more on purpose (--strip,
// with the glob language of package extract), and repacks and recompresses what is
// left with package tarball's deterministic layer writer. The input's config, history
// and annotations are carried over, so the result is the same image, smaller.
package recompress

import (
	"context"
	"errors"
	"fmt"
	"slices"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/slim-dev/slim/internal/imagefs"
	"github.com/slim-dev/slim/internal/mediatype"
	"github.com/slim-dev/slim/tarball"
)

var (
	// ErrNotPrefix is returned when the base given to keep is not the bottom of the image:
	// its layer digests are not the first layer digests of the image.
	ErrNotPrefix = errors.New("base image layers are not a prefix of the image's layers")
	// ErrBadStrip is returned for a strip pattern that is neither a preset nor a valid glob.
	ErrBadStrip = errors.New("invalid strip pattern")
	// ErrBadOption is returned for options that cannot apply to the image (keeping more
	// base layers than it has). Bad packing options wrap tarball's errors instead.
	ErrBadOption = errors.New("invalid option")
)

// Report says what Recompress did, per input layer and in total. Its JSON
// form is what `slim recompress --report` writes.
type Report struct {
	Layers []LayerReport `json:"layers"`
	// LayersRemoved counts input layers that no output layer stands for: emptied, or
	// squashed into another.
	LayersRemoved int `json:"layersRemoved"`
	// Size and UncompressedSize are the sums over the input layers, NewSize and
	// NewUncompressedSize over the output layers.
	Size                int64 `json:"size"`
	NewSize             int64 `json:"newSize"`
	UncompressedSize    int64 `json:"uncompressedSize"`
	NewUncompressedSize int64 `json:"newUncompressedSize"`
	WasteRemoved        int64 `json:"wasteRemoved"`
	EntriesDropped      int   `json:"entriesDropped"`
	// Stripped counts the entries WithStrip removed, StrippedBytes their content.
	Stripped      int   `json:"stripped"`
	StrippedBytes int64 `json:"strippedBytes"`

	layers []*tarball.Layer
}

// Close removes the spooled blobs of the layers Recompress wrote. Call it once the
// image has been written out; the image is unreadable afterwards.
func (r *Report) Close() error {
	var errs []error
	for _, l := range r.layers {
		errs = append(errs, l.Close())
	}
	r.layers = nil
	return errors.Join(errs...)
}

// LayerReport is one input layer. New* fields describe the output layer that
// stands for it; they are zero (NewDigest and NewMediaType absent) when the layer
// was removed, which Removed says.
type LayerReport struct {
	Index        int             `json:"index"`
	Digest       v1.Hash         `json:"digest"`
	NewDigest    *v1.Hash        `json:"newDigest,omitempty"`
	MediaType    types.MediaType `json:"mediaType"`
	NewMediaType types.MediaType `json:"newMediaType,omitempty"`
	// Size is the compressed size, UncompressedSize the tar stream's.
	Size                int64 `json:"size"`
	NewSize             int64 `json:"newSize"`
	UncompressedSize    int64 `json:"uncompressedSize"`
	NewUncompressedSize int64 `json:"newUncompressedSize"`
	// WasteRemoved is the content of files a later layer deletes or overwrites (what
	// slim inspect calls wasted) that the layer no longer holds.
	WasteRemoved int64 `json:"wasteRemoved"`
	// EntriesDropped is the number of tar entries the layer lost, whiteouts included.
	EntriesDropped int `json:"entriesDropped"`
	// Kept is true for a base layer left byte-identical; Removed for one that is gone.
	Kept    bool `json:"kept,omitempty"`
	Removed bool `json:"removed,omitempty"`
}

// Recompress writes an image whose merged file system is the input's, minus what it
// never showed: files that a later layer deletes or overwrites are dropped from their
// layer, whiteouts and opaque markers that no longer hide anything are dropped, layers
// left empty are removed (their history entries become empty_layer ones, so history
// and layers still match), and every rewritten layer is written again, deterministically
// and in parallel, with the compression and level of opts. The media types stay in the
// input's family (OCI or Docker), but zstd makes a Docker image OCI.
//
// File content streams from the input's layers, each rewritten layer reading its
// source layers in tar order. The returned layers are spooled to temporary files:
// call the report's Close once the image has been written. On error nothing is
// returned and nothing is left behind.
func Recompress(ctx context.Context, img v1.Image, opts ...Option) (v1.Image, *Report, error) {
	o := makeOptions(opts)
	mt, err := img.MediaType()
	if err != nil {
		return nil, nil, fmt.Errorf("recompressing: reading manifest media type: %w", err)
	}
	if err := tarball.Validate(o.packing...); err != nil {
		return nil, nil, fmt.Errorf("recompressing: %w", err)
	}
	// The input's family, unless the new layers have no Docker type (zstd).
	newType, err := mediatype.Layer(mediatype.OCI, tarball.Resolve(o.packing...).Compression.Algorithm())
	if err != nil {
		return nil, nil, fmt.Errorf("recompressing: %w", err)
	}
	family := mediatype.Choose(mt, newType)
	if o.family != "" {
		if _, err := mediatype.Convert(newType, o.family); err != nil {
			return nil, nil, fmt.Errorf("recompressing: %w", err)
		}
		family = o.family
	}
	layerOpts := append(slices.Clip(o.packing), tarball.WithMediaTypes(family))
	if err := tarball.Validate(layerOpts...); err != nil {
		return nil, nil, fmt.Errorf("recompressing: %w", err)
	}
	tempDir := tarball.Resolve(layerOpts...).TempDir
	strip, err := newStripper(o.strip)
	if err != nil {
		return nil, nil, fmt.Errorf("recompressing: %w", err)
	}
	inLayers, err := img.Layers()
	if err != nil {
		return nil, nil, fmt.Errorf("recompressing: listing layers: %w", err)
	}
	if o.baseName != "" {
		// Its own error, as --keep-base's problems are the user's to fix there.
		if o.keepBase, err = keepBaseCount(ctx, img, o.baseName, o.refOpts); err != nil {
			return nil, nil, err
		}
	}
	if o.keepBase < 0 || o.keepBase > len(inLayers) {
		return nil, nil, fmt.Errorf("recompressing: keeping %d base layers of %d: %w", o.keepBase, len(inLayers), ErrBadOption)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, nil, fmt.Errorf("recompressing: reading config: %w", err)
	}

	fsys, err := imagefs.New(ctx, img, append([]imagefs.Option{imagefs.WithRewriteInfo(o.keepBase), imagefs.WithLargest(0), imagefs.WithSpool(tempDir)}, o.fsOpts...)...)
	if err != nil {
		return nil, nil, fmt.Errorf("recompressing: %w", err)
	}
	defer fsys.Close()
	idx := fsys.Layers()

	p, err := makePlan(fsys, len(inLayers), &o, strip)
	if err != nil {
		return nil, nil, fmt.Errorf("recompressing: %w", err)
	}
	var sets [][]tarball.Entry
	var setLayer []int // input layer each set stands for
	for i, set := range p.sets {
		if len(set) > 0 {
			sets = append(sets, set)
			setLayer = append(setLayer, i)
		}
	}
	built, err := tarball.NewLayers(ctx, sets, layerOpts...)
	if err != nil {
		return nil, nil, fmt.Errorf("recompressing: %w", err)
	}
	rep := &Report{layers: built, Stripped: p.stripped, StrippedBytes: p.strippedBytes}
	out, err := assemble(img, cf, inLayers, idx, built, setLayer, &o, family, rep)
	if err != nil {
		rep.Close()
		return nil, nil, fmt.Errorf("recompressing: %w", err)
	}
	for k, i := range setLayer {
		lr := &rep.Layers[i]
		if lr.NewUncompressedSize, err = tarball.TarSize(sets[k], layerOpts...); err != nil {
			rep.Close()
			return nil, nil, fmt.Errorf("recompressing: sizing layer %d: %w", i, err)
		}
	}
	for i := range rep.Layers {
		lr := &rep.Layers[i]
		if !lr.Kept {
			lr.EntriesDropped = idx[i].Entries - p.entries[i]
			lr.WasteRemoved = idx[i].Wasted
		} else {
			lr.NewUncompressedSize = lr.UncompressedSize
		}
		rep.Size += lr.Size
		rep.NewSize += lr.NewSize
		rep.UncompressedSize += lr.UncompressedSize
		rep.NewUncompressedSize += lr.NewUncompressedSize
		rep.WasteRemoved += lr.WasteRemoved
		rep.EntriesDropped += lr.EntriesDropped
		if lr.Removed {
			rep.LayersRemoved++
		}
	}
	return out, rep, nil
}

package rebase

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/slim-dev/slim/internal/imagefs"
	"github.com/slim-dev/slim/internal/imageref"
	"github.com/slim-dev/slim/internal/mediatype"
	"github.com/slim-dev/slim/rebase/static"
)

// RebaseOnto is Rebase with the new base, and the old one unless oldBase is empty, named
// as --base names them (scratch, static, an alias or an image reference) and resolved
// for img's platform through WithRefOptions. The result records newBase's name.
func RebaseOnto(ctx context.Context, img v1.Image, newBase, oldBase string, opts ...RebaseOption) (v1.Image, error) {
	ref := RefOption(makeRebaseOptions(opts).refOpts)
	base, baseImg, err := BaseFor(ctx, newBase, img, ref)
	if err != nil {
		return nil, err
	}
	opts = append(slices.Clip(opts), WithBaseName(base.AnnotationName()))
	if oldBase != "" {
		_, oldImg, err := BaseFor(ctx, oldBase, img, ref)
		if err != nil {
			return nil, fmt.Errorf("resolving --old-base: %w", err)
		}
		opts = append(opts, WithOldBase(oldImg))
	}
	return Rebase(ctx, img, baseImg, opts...)
}

// Rebase moves img's own layers (those above its old base) onto newBase: the result is
// newBase's layers, then img's own layers as byte-identical blobs, with img's config
// merged over newBase's as Assemble merges a source's, and img's own history entries
// kept after newBase's.
//
// Where the old base ends is found, in this order, from:
//
//  1. WithOldBase: its layer digests must be the image's bottom layers;
//  2. the org.opencontainers.image.base.name and .base.digest annotations (or labels,
//     on a Docker-typed image), which Assemble writes: the old base is opened by name
//     and digest (through WithRefOptions) to count its layers; "scratch" has none and
//     "static" is rebuilt here;
//  3. nothing else: history alone cannot say where a base ends (a base's last
//     instructions may be empty_layer entries or not, squashed bases have one layer for
//     many entries), so the error asks for --old-base.
//
// Use WithBaseName to record newBase's name in the result's annotations.
func Rebase(ctx context.Context, img v1.Image, newBase v1.Image, opts ...RebaseOption) (v1.Image, error) {
	o := makeRebaseOptions(opts)
	mf, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("rebasing: reading manifest: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("rebasing: reading config: %w", err)
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("rebasing: reading layers: %w", err)
	}

	oldBase := o.oldBase
	if oldBase == nil {
		oldBase, err = oldBaseFromAnnotations(ctx, mf, cf, o.refOpts)
		if err != nil {
			return nil, err
		}
	}
	n, oldHistory, err := baseLayerCount(oldBase)
	if err != nil {
		return nil, err
	}
	if n > len(mf.Layers) {
		return nil, fmt.Errorf("rebasing: the old base has %d layers but the image only %d: it is not the image's base: %w", n, len(mf.Layers), ErrOldBase)
	}
	if oldBase != nil {
		oldMf, err := oldBase.Manifest()
		if err != nil {
			return nil, fmt.Errorf("rebasing: reading old base manifest: %w", err)
		}
		for i, d := range oldMf.Layers {
			if d.Digest != mf.Layers[i].Digest {
				return nil, fmt.Errorf("rebasing: the old base is not the image's base: layer %d is %s in the old base but %s in the image; give the base the image was built on with --old-base: %w",
					i+1, d.Digest, mf.Layers[i].Digest, ErrOldBase)
			}
		}
	}

	own := layers[n:]
	// They keep their digests, so nothing else reads them: check them here, by the
	// rule every other command reads layers with.
	var fsOpts []imagefs.Option
	if o.lenient != nil {
		fsOpts = append(fsOpts, imagefs.WithLenient(o.lenient))
	}
	dropped, err := imagefs.CheckLayers(ctx, own, fsOpts...)
	if err != nil {
		return nil, fmt.Errorf("rebasing: %w", err)
	}
	if len(dropped) > 0 {
		own = slices.Clone(own)
		for _, i := range dropped {
			if own[i], err = imagefs.FilterUnsafe(own[i]); err != nil {
				return nil, fmt.Errorf("rebasing: rewriting layer %d without its unsafe entries: %w", n+i, err)
			}
		}
	}
	history := ownHistory(cf.History, n, oldHistory, len(own), o.epoch)

	src := cf.DeepCopy()
	// The old base's names must not survive as labels of the new image.
	delete(src.Config.Labels, specs.AnnotationBaseImageName)
	delete(src.Config.Labels, specs.AnnotationBaseImageDigest)
	if oldBase != nil {
		if err := dropInherited(&src.Config, oldBase); err != nil {
			return nil, err
		}
	}
	out, err := assemble(ctx, newBase, o.baseName, own, history, src, &o.assembly)
	if err != nil {
		return nil, fmt.Errorf("rebasing: %w", err)
	}
	return out, nil
}

// dropInherited removes from c the environment variables and labels that c has exactly
// as the old base set them: they describe the old base (its LANG, its SSL_CERT_FILE),
// and the new base's own values should apply instead. A PATH that the image changed is
// kept whole: its old-base directories cannot be told from the program's own, and a
// PATH directory that does not exist costs nothing.
func dropInherited(c *v1.Config, oldBase v1.Image) error {
	ocf, err := oldBase.ConfigFile()
	if err != nil {
		return fmt.Errorf("rebasing: reading old base config: %w", err)
	}
	inherited := map[string]bool{}
	for _, kv := range ocf.Config.Env {
		inherited[kv] = true
	}
	env := c.Env[:0:0]
	for _, kv := range c.Env {
		if !inherited[kv] {
			env = append(env, kv)
		}
	}
	c.Env = env
	for k, v := range ocf.Config.Labels {
		if lv, ok := c.Labels[k]; ok && lv == v {
			delete(c.Labels, k)
		}
	}
	return nil
}

// baseLayerCount is how many layers and history entries the old base has (0 for none).
func baseLayerCount(base v1.Image) (int, []v1.History, error) {
	if base == nil {
		return 0, nil, nil
	}
	mf, err := base.Manifest()
	if err != nil {
		return 0, nil, fmt.Errorf("rebasing: reading old base manifest: %w", err)
	}
	cf, err := base.ConfigFile()
	if err != nil {
		return 0, nil, fmt.Errorf("rebasing: reading old base config: %w", err)
	}
	return len(mf.Layers), cf.History, nil
}

// oldBaseFromAnnotations opens the base named by the image's annotations (or labels).
// A nil image with a nil error means the base is scratch.
func oldBaseFromAnnotations(ctx context.Context, mf *v1.Manifest, cf *v1.ConfigFile, refOpts []imageref.Option) (v1.Image, error) {
	name, digest := mediatype.BaseAnnotations(mf, cf)
	switch {
	case name == Scratch && digest == "":
		return nil, nil
	case name == "" && digest == "":
		return nil, fmt.Errorf("rebasing: the image does not say which base it was built on (no %s annotation), and its history cannot tell where a base ends; give the old base with --old-base: %w",
			specs.AnnotationBaseImageName, ErrOldBase)
	case name == "":
		return nil, fmt.Errorf("rebasing: the image names its base only by digest (%s); give the old base with --old-base: %w", digest, ErrOldBase)
	}
	p := configPlatform(cf)
	if name == Static {
		img, err := static.Image(p)
		if err != nil {
			return nil, fmt.Errorf("rebasing: rebuilding the static base: %w", err)
		}
		if d, err := img.Digest(); err == nil && (digest == "" || d.String() == digest) {
			return img, nil
		}
		return nil, fmt.Errorf("rebasing: the image was built on slim's static base %s, which this version of slim no longer builds; give the old base with --old-base: %w", digest, ErrOldBase)
	}

	ref := name
	if digest != "" {
		ref = withDigest(name, digest, refOpts)
	}
	fail := func(err error) error {
		return fmt.Errorf("rebasing: opening the old base %s named by the image's annotations: %v; give the old base with --old-base: %w", ref, err, ErrOldBase)
	}
	r, err := imageref.Parse(ref, refOpts...)
	if err != nil {
		return nil, fail(err)
	}
	img, idx, err := imageref.Open(ctx, r, refOpts...)
	if err != nil {
		if isNetworkError(err) {
			return nil, fmt.Errorf("rebasing: the registry of the old base %s cannot be reached (%w: %w); give the old base with --old-base, e.g. an oci-layout:// copy",
				ref, ErrNoNetwork, err)
		}
		return nil, fail(err)
	}
	if idx != nil {
		if img, _, err = selectPlatform(idx, p); err != nil {
			return nil, fail(err)
		}
		return img, nil
	}
	if digest != "" {
		// An archive or a daemon image cannot be addressed by digest: compare instead.
		if d, err := img.Digest(); err != nil || d.String() != digest {
			return nil, fail(fmt.Errorf("it is %s now, not %s", d, digest))
		}
	}
	return img, nil
}

// withDigest addresses the base by digest, so the base the image was built on is the
// one opened even after its tag moved.
func withDigest(name, digest string, ropts []imageref.Option) string {
	r, err := imageref.Parse(name, ropts...)
	if err != nil {
		return name
	}
	switch r.Kind {
	case imageref.Registry:
		return r.Name.Context().String() + "@" + digest
	case imageref.Layout:
		return "oci-layout://" + r.Path + "@" + digest
	}
	return name
}

// ownHistory is the image's history above the old base: after the old base's entries
// when they are a prefix of the image's, else after the n-th entry that made a layer.
// If the entries do not account for the own layers (history was dropped or squashed),
// one generic entry per layer stands in, so history and layers stay in step.
func ownHistory(h []v1.History, n int, oldHistory []v1.History, layers int, epoch time.Time) []v1.History {
	start := -1
	if len(oldHistory) <= len(h) && nonEmpty(h[:len(oldHistory)]) == n && samePrefix(h, oldHistory) {
		start = len(oldHistory)
	} else {
		seen := 0
		for i, e := range h {
			if seen == n {
				start = i
				break
			}
			if !e.EmptyLayer {
				seen++
			}
		}
		if seen == n && start < 0 {
			start = len(h)
		}
	}
	if start >= 0 && nonEmpty(h[start:]) == layers {
		return append([]v1.History{}, h[start:]...)
	}
	out := make([]v1.History, layers)
	for i := range out {
		out[i] = v1.History{Created: v1.Time{Time: epoch}, CreatedBy: fmt.Sprintf("slim rebase: layer %d of the original image (its history did not match its layers)", n+i+1)}
	}
	return out
}

func nonEmpty(h []v1.History) int {
	n := 0
	for _, e := range h {
		if !e.EmptyLayer {
			n++
		}
	}
	return n
}

func samePrefix(h, prefix []v1.History) bool {
	for i, e := range prefix {
		if strings.TrimSpace(h[i].CreatedBy) != strings.TrimSpace(e.CreatedBy) || h[i].EmptyLayer != e.EmptyLayer {
			return false
		}
	}
	return true
}

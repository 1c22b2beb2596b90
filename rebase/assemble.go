package rebase

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/slim-dev/slim/internal/mediatype"
)

// Assemble puts layers on top of base and gives the result src's runtime config.
//
//   - The base's layers are kept as they are (same blobs, same digests), so registries
//     and clients share them; the new layers follow, in order.
//   - The config is the base's, then src's runtime settings, then the override options;
//     see mergeConfig for the rules (PATH in particular).
//   - History: the base's entries, then one per new layer with the WithHistory text.
//     Every time is WithSourceDateEpoch's (default the Unix epoch), never the clock.
//   - The manifest carries org.opencontainers.image.base.name and .base.digest (on a
//     Docker-typed manifest, which has no annotations in its schema, they are config
//     labels instead).
//   - One media-type family per manifest: the base's, or OCI when a layer is zstd, or
//     WithMediaTypes'. Layers of the other family get their descriptor's media type
//     converted (the bytes, hence the digests, stay the same); zstd with Docker media
//     types is refused with ErrMediaType.
//
// src may be nil (only the base's config and the overrides apply).
func Assemble(ctx context.Context, base v1.Image, layers []v1.Layer, src *v1.ConfigFile, opts ...AssembleOption) (v1.Image, error) {
	o := makeAssembleOptions(opts)
	return assemble(ctx, base, o.baseName, layers, newHistory(o.history, len(layers), o.epoch), src, &o.assembly)
}

// newHistory is one history entry per new layer, with the given texts.
func newHistory(texts []string, n int, epoch time.Time) []v1.History {
	h := make([]v1.History, n)
	for i := range h {
		text := fmt.Sprintf("slim: layer %d", i+1)
		if i < len(texts) && texts[i] != "" {
			text = texts[i]
		}
		h[i] = v1.History{Created: v1.Time{Time: epoch}, CreatedBy: text}
	}
	return h
}

// assemble does Assemble's work with ready history entries, which Rebase takes from the
// image (empty_layer entries included).
func assemble(ctx context.Context, base v1.Image, baseName string, layers []v1.Layer, history []v1.History, src *v1.ConfigFile, o *assembly) (v1.Image, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("assembling image: %w", err)
	}
	baseMf, err := base.Manifest()
	if err != nil {
		return nil, fmt.Errorf("reading base manifest: %w", err)
	}
	baseCf, err := base.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading base config: %w", err)
	}
	baseLayers, err := base.Layers()
	if err != nil {
		return nil, fmt.Errorf("reading base layers: %w", err)
	}
	if len(baseLayers) != len(baseMf.Layers) {
		return nil, fmt.Errorf("reading base: %d layers but %d in the manifest", len(baseLayers), len(baseMf.Layers))
	}
	if src != nil && src.Architecture != "" && baseCf.Architecture != "" {
		sp, bp := configPlatform(src), configPlatform(baseCf)
		if !platformMatches(bp, sp) {
			return nil, fmt.Errorf("assembling image: the source is %s but the base is %s; choose the base's platform with --platform %s: %w",
				platformKey(sp), platformKey(bp), platformKey(sp), ErrNoPlatform)
		}
	}

	// Descriptors of every layer, bottom first.
	descs := make([]v1.Descriptor, 0, len(baseLayers)+len(layers))
	descs = append(descs, baseMf.Layers...)
	for i, l := range layers {
		mt, err := l.MediaType()
		if err != nil {
			return nil, fmt.Errorf("reading media type of new layer %d: %w", i+1, err)
		}
		d, err := l.Digest()
		if err != nil {
			return nil, fmt.Errorf("reading digest of new layer %d: %w", i+1, err)
		}
		descs = append(descs, v1.Descriptor{MediaType: mt, Digest: d})
	}
	family, err := chooseFamily(baseMf.MediaType, descs, o.mediaTypes)
	if err != nil {
		return nil, err
	}

	all := append(slices.Clip(baseLayers), layers...)
	adds := make([]mutate.Addendum, len(all))
	for i, l := range all {
		mt, err := mediatype.Convert(descs[i].MediaType, family)
		if err != nil {
			return nil, fmt.Errorf("assembling image: layer %d (%s): %w", i+1, descs[i].Digest, err)
		}
		if mt != descs[i].MediaType {
			// The layer must describe itself as the manifest does (validate.Image and
			// registries compare them); unconverted layers stay unwrapped, so ggcr can
			// still mount them across repositories.
			l = typedLayer{Layer: l, mt: mt}
		}
		adds[i] = mutate.Addendum{Layer: l, MediaType: mt, Annotations: descs[i].Annotations, URLs: descs[i].URLs}
	}
	img, err := mutate.Append(mediatype.EmptyImage(family), adds...)
	if err != nil {
		return nil, fmt.Errorf("assembling image: %w", err)
	}

	cf := baseCf.DeepCopy()
	cf.Config = mergeConfig(baseCf.Config, src, o)
	cf.Created = v1.Time{Time: o.epoch}
	cf.History = append(slices.Clip(cf.History), history...)
	cf.RootFS = v1.RootFS{Type: "layers"}
	for i, l := range all {
		d, err := l.DiffID()
		if err != nil {
			return nil, fmt.Errorf("reading diff id of layer %d: %w", i+1, err)
		}
		cf.RootFS.DiffIDs = append(cf.RootFS.DiffIDs, d)
	}
	// The base's build-time leftovers describe the base's build, not this image.
	cf.Container, cf.DockerVersion = "", ""

	var baseDigest string
	if len(baseLayers) > 0 {
		d, err := base.Digest()
		if err != nil {
			return nil, fmt.Errorf("reading base digest: %w", err)
		}
		baseDigest = d.String()
	}
	annotations := mediatype.NewBaseAnnotations(baseName, baseDigest)
	if family == mediatype.Docker && len(annotations) > 0 {
		if cf.Config.Labels == nil {
			cf.Config.Labels = map[string]string{}
		}
		for k, v := range annotations {
			cf.Config.Labels[k] = v
		}
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("assembling image config: %w", err)
	}
	if family == mediatype.OCI && len(annotations) > 0 {
		img = mutate.Annotations(img, annotations).(v1.Image)
	}
	return img, nil
}

// typedLayer is a layer whose media type is given in the other family's words.
type typedLayer struct {
	v1.Layer
	mt types.MediaType
}

func (l typedLayer) MediaType() (types.MediaType, error) { return l.mt, nil }

// chooseFamily picks the manifest's media-type family: forced, else as
// mediatype.Choose decides from the base manifest and the layers.
func chooseFamily(baseType types.MediaType, descs []v1.Descriptor, forced mediatype.Family) (mediatype.Family, error) {
	switch forced {
	case mediatype.OCI, mediatype.Docker:
		// A layer the family cannot describe is refused when its type is converted.
		return forced, nil
	case "":
	default:
		return "", fmt.Errorf("assembling image: media types %q (want oci or docker): %w", forced, ErrBadOption)
	}
	layers := make([]types.MediaType, len(descs))
	for i, d := range descs {
		layers[i] = d.MediaType
	}
	return mediatype.Choose(baseType, layers...), nil
}

// mergeConfig is the runtime config of the result: base, then src, then overrides.
//
//   - Entrypoint and Cmd go together: when src sets either, src's pair replaces the
//     base's (a base's Cmd is meaningless under another program's Entrypoint).
//   - Env is merged by name, src winning. PATH is the exception: src's directories come
//     first, in src's order (the program was built and tested with them), then the
//     base's directories that src's PATH lacks, so tools the base provides (alpine's
//     /bin/sh, for a script) are still found. An explicit WithEnv("PATH=...") is taken
//     as it is.
//   - WorkingDir, User, StopSignal and Healthcheck: src's when set.
//   - ExposedPorts and Labels: the union, src winning per key.
//   - Volumes, OnBuild and Shell stay the base's: src's volumes name paths of src's file
//     system, most of which slim does not copy.
//
// Overrides then apply: WithEntrypoint (clearing Cmd unless WithCmd is given, as a
// Dockerfile ENTRYPOINT does), WithCmd, WithEnv, WithUser, WithWorkdir, WithLabel,
// WithExpose.
// RuntimeConfig is the config a result made from src with opts runs with, before its
// base's own settings: what decides the program its entrypoint starts.
func RuntimeConfig(src *v1.ConfigFile, opts ...AssemblyOption) v1.Config {
	o := defaultAssembly()
	for _, opt := range opts {
		opt(&o)
	}
	return mergeConfig(v1.Config{}, src, &o)
}

func mergeConfig(base v1.Config, src *v1.ConfigFile, o *assembly) v1.Config {
	c := *base.DeepCopy()
	if src != nil {
		s := src.Config
		if len(s.Entrypoint) > 0 || len(s.Cmd) > 0 {
			c.Entrypoint = slices.Clone(s.Entrypoint)
			c.Cmd = slices.Clone(s.Cmd)
		}
		c.Env = mergeEnv(c.Env, s.Env, true)
		if s.WorkingDir != "" {
			c.WorkingDir = s.WorkingDir
		}
		if s.User != "" {
			c.User = s.User
		}
		if s.StopSignal != "" {
			c.StopSignal = s.StopSignal
		}
		if s.Healthcheck != nil {
			h := *s.Healthcheck
			h.Test = slices.Clone(h.Test)
			c.Healthcheck = &h
		}
		for p := range s.ExposedPorts {
			if c.ExposedPorts == nil {
				c.ExposedPorts = map[string]struct{}{}
			}
			c.ExposedPorts[p] = struct{}{}
		}
		for k, v := range s.Labels {
			if c.Labels == nil {
				c.Labels = map[string]string{}
			}
			c.Labels[k] = v
		}
	}
	if o.entrypoint != nil {
		c.Entrypoint = slices.Clone(*o.entrypoint)
		if o.cmd == nil {
			c.Cmd = nil
		}
	}
	if o.cmd != nil {
		c.Cmd = slices.Clone(*o.cmd)
	}
	c.Env = mergeEnv(c.Env, o.env, false)
	if o.user != nil {
		c.User = *o.user
	}
	if o.workdir != nil {
		c.WorkingDir = *o.workdir
	}
	for k, v := range o.labels {
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		c.Labels[k] = v
	}
	for _, p := range o.expose {
		if !strings.Contains(p, "/") {
			p += "/tcp"
		}
		if c.ExposedPorts == nil {
			c.ExposedPorts = map[string]struct{}{}
		}
		c.ExposedPorts[p] = struct{}{}
	}
	if len(c.Entrypoint) == 0 {
		c.Entrypoint = nil
	}
	if len(c.Cmd) == 0 {
		c.Cmd = nil
	}
	return c
}

// mergeEnv sets every variable of top over base, keeping base's order and appending new
// names in top's order. With mergePath, PATH is merged as mergeConfig describes.
func mergeEnv(base, top []string, mergePath bool) []string {
	out := slices.Clone(base)
	index := map[string]int{}
	for i, kv := range out {
		k, _, _ := strings.Cut(kv, "=")
		index[k] = i
	}
	for _, kv := range top {
		k, v, _ := strings.Cut(kv, "=")
		i, ok := index[k]
		if !ok {
			index[k] = len(out)
			out = append(out, kv)
			continue
		}
		if mergePath && k == "PATH" {
			_, old, _ := strings.Cut(out[i], "=")
			kv = "PATH=" + mergePATH(v, old)
		}
		out[i] = kv
	}
	return out
}

// mergePATH is first's directories, then second's that first lacks.
func mergePATH(first, second string) string {
	dirs := strings.Split(first, ":")
	for _, d := range strings.Split(second, ":") {
		if d != "" && !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	return strings.Join(dirs, ":")
}

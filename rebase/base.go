package rebase

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sort"
	"strings"
	"syscall"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/slim-dev/slim/internal/imageref"
	"github.com/slim-dev/slim/internal/mediatype"
	"github.com/slim-dev/slim/rebase/static"
)

// Names of the built-in bases, which need no registry.
const (
	Scratch = "scratch"
	Static  = "static"
)

// aliases is the table documented in the package comment. It is a function, not a
// package variable, so nothing can change it behind a caller's back.
func aliases() map[string]string {
	return map[string]string{
		"alpine":            "docker.io/library/alpine:3.22",
		"distroless":        "gcr.io/distroless/static-debian13:latest",
		"distroless/static": "gcr.io/distroless/static-debian13:latest",
		"distroless/base":   "gcr.io/distroless/base-debian13:latest",
		"distroless/cc":     "gcr.io/distroless/cc-debian13:latest",
	}
}

// Aliases returns the built-in alias table (name → pinned reference).
func Aliases() map[string]string { return aliases() }

// EnvName is the environment variable that overrides alias name: SLIM_BASE_ and the name
// in upper case with every other character than letters and digits turned into "_"
// (distroless/cc → SLIM_BASE_DISTROLESS_CC).
func EnvName(name string) string {
	var b strings.Builder
	b.WriteString("SLIM_BASE_")
	for _, r := range strings.ToUpper(name) {
		if r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// Base is a resolved base: a single image, an index, or a built-in base that exists
// for every platform.
type Base struct {
	// Name is what was asked for: "scratch", "static", an alias or a reference.
	Name string
	// Ref is the reference an alias or a reference resolved to; empty for built-ins.
	Ref string
	// Image is the base for the platform of WithPlatform (default this machine's, on
	// linux): always set for built-ins and single images, set for an index only when it
	// has that platform.
	Image v1.Image
	// Index is set when the reference names an index.
	Index v1.ImageIndex

	builtin func(v1.Platform) (v1.Image, error)
}

// Builtin reports whether the base is built in (scratch or static): it exists for
// every platform and needs no registry.
func (b Base) Builtin() bool { return b.builtin != nil }

// AnnotationName is the name of this base that the result records (see
// mediatype.NewBaseAnnotations): its registry reference written in full
// (docker.io/library/alpine:3.20), a built-in base's own name (scratch, static: kept
// out of org.opencontainers.image.base.name), or "" for a base no other machine can
// pull by name (a layout, an archive, the daemon), which tools such as regctl image
// check-base would otherwise look up in a registry.
func (b Base) AnnotationName() string {
	if b.Builtin() {
		return b.Name
	}
	if b.Ref == "" {
		return ""
	}
	r, err := imageref.Parse(b.Ref)
	if err != nil {
		return ""
	}
	q, _ := r.Qualified()
	return q
}

// ForPlatform returns the base image for p.
func (b Base) ForPlatform(p v1.Platform) (v1.Image, error) {
	switch {
	case b.builtin != nil:
		return b.builtin(p)
	case b.Index != nil:
		img, _, err := selectPlatform(b.Index, p)
		if err != nil {
			return nil, fmt.Errorf("choosing %s from base %s: %w", p, b.Name, err)
		}
		return img, nil
	case b.Image != nil:
		cf, err := b.Image.ConfigFile()
		if err != nil {
			return nil, fmt.Errorf("reading config of base %s: %w", b.Name, err)
		}
		if !platformMatches(configPlatform(cf), p) {
			return nil, fmt.Errorf("base %s is %s, not %s: %w", b.Name, configPlatform(cf), p, ErrNoPlatform)
		}
		return b.Image, nil
	}
	return nil, fmt.Errorf("base %q is empty: %w", b.Name, ErrBadOption)
}

// ResolveBase turns a --base value into a Base: "scratch" (no layers), "static" (the
// built-in offline base, see package static), an alias from the table in the package
// comment (overridable by WithAlias or SLIM_BASE_<NAME>), or any image reference that
// imageref understands.
//
// When a registry cannot be reached, the error wraps ErrNoNetwork and suggests the
// built-in static base or an oci-layout:// base.
func ResolveBase(ctx context.Context, name string, opts ...BaseOption) (Base, error) {
	o := makeBaseOptions(opts)
	p := o.defaultPlatform()
	name = strings.TrimSpace(name)
	if name == "" {
		return Base{}, fmt.Errorf("resolving base: empty name (want scratch, static, an alias or an image reference): %w", ErrBadOption)
	}

	if ref, ok := o.aliases[name]; ok {
		return openBase(ctx, name, ref, p, &o)
	}
	switch name {
	case Scratch:
		b := Base{Name: Scratch, builtin: scratchImage}
		img, err := b.builtin(p)
		b.Image = img
		return b, err
	case Static:
		b := Base{Name: Static, builtin: static.Image}
		img, err := b.builtin(p)
		if err != nil {
			return Base{}, fmt.Errorf("building static base: %w", err)
		}
		b.Image = img
		return b, nil
	}
	if ref, ok := aliases()[name]; ok {
		if env := o.getenv(EnvName(name)); env != "" {
			ref = env
		}
		return openBase(ctx, name, ref, p, &o)
	}
	return openBase(ctx, name, name, p, &o)
}

func (o *baseOptions) defaultPlatform() v1.Platform {
	if o.platform != nil {
		return *o.platform
	}
	return v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
}

func openBase(ctx context.Context, name, ref string, p v1.Platform, o *baseOptions) (Base, error) {
	what := "base " + name
	if ref != name {
		what += " (" + ref + ")"
	}
	r, err := imageref.Parse(ref, o.refOpts...)
	if err != nil {
		return Base{}, fmt.Errorf("resolving %s: %w", what, err)
	}
	if ref != name && r.Kind == imageref.Registry {
		// An alias names an upstream image: its registry bytes, not a daemon's re-export
		// of a copy, so base layers keep the digests registries share.
		r.Bare = false
	}
	img, idx, err := imageref.Open(ctx, r, o.refOpts...)
	if err != nil {
		if isNetworkError(err) {
			return Base{}, fmt.Errorf("pulling %s: the registry cannot be reached (%w: %w); use --base static (built in, offline) or a local base as oci-layout://DIR",
				what, ErrNoNetwork, err)
		}
		return Base{}, fmt.Errorf("pulling %s: %w", what, err)
	}
	b := Base{Name: name, Ref: ref, Image: img, Index: idx}
	if idx != nil {
		img, _, err := selectPlatform(idx, p)
		switch {
		case err == nil:
			b.Image = img
		case errors.Is(err, ErrNoPlatform):
			// AssembleIndex may still use other platforms of the index.
		default:
			if isNetworkError(err) {
				return Base{}, fmt.Errorf("pulling %s: the registry cannot be reached (%w: %w); use --base static (built in, offline) or a local base as oci-layout://DIR",
					what, ErrNoNetwork, err)
			}
			return Base{}, fmt.Errorf("reading %s: %w", what, err)
		}
	}
	return b, nil
}

// isNetworkError tells "no network" (no route, no DNS, nothing listening) from a
// registry that answered with an error, so the message can suggest an offline base.
func isNetworkError(err error) bool {
	var op *net.OpError
	var dns *net.DNSError
	var ne net.Error
	return errors.As(err, &op) || errors.As(err, &dns) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENETUNREACH) ||
		errors.Is(err, syscall.EHOSTUNREACH) ||
		errors.As(err, &ne) && ne.Timeout()
}

// scratchImage is an image with no layers whose config only says which platform it is
// for, so that the assembled image's config has an os and architecture.
func scratchImage(p v1.Platform) (v1.Image, error) {
	img := mediatype.EmptyImage(mediatype.OCI)
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("building scratch base: %w", err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant, cf.OSVersion = p.OS, p.Architecture, p.Variant, p.OSVersion
	if cf.OS == "" {
		cf.OS = "linux"
	}
	if cf.Architecture == "" {
		cf.Architecture = runtime.GOARCH
	}
	cf.RootFS.Type = "layers"
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("building scratch base: %w", err)
	}
	return img, nil
}

// configPlatform is the platform an image's config says it runs on.
func configPlatform(cf *v1.ConfigFile) v1.Platform {
	return v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant, OSVersion: cf.OSVersion}
}

// platformMatches reports whether have runs what want asks for: empty fields of want
// match anything, and arm64's default variant v8 equals no variant.
func platformMatches(have, want v1.Platform) bool {
	if want.OS != "" && have.OS != want.OS {
		return false
	}
	if want.Architecture != "" && have.Architecture != want.Architecture {
		return false
	}
	hv, wv := have.Variant, want.Variant
	if have.Architecture == "arm64" {
		hv = strings.TrimPrefix(hv, "v8")
		wv = strings.TrimPrefix(wv, "v8")
	}
	return wv == "" || hv == wv
}

// platformKey names a platform for messages and de-duplication.
func platformKey(p v1.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" && !(p.Architecture == "arm64" && p.Variant == "v8") {
		s += "/" + p.Variant
	}
	return s
}

// indexImage is one runnable image of an index, with its platform.
type indexImage struct {
	platform v1.Platform
	digest   v1.Hash
	parent   v1.ImageIndex
}

// indexImages lists the platform images of idx, descending into nested indexes;
// attestation manifests (unknown/unknown) and entries without a platform are skipped.
func indexImages(idx v1.ImageIndex) ([]indexImage, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("reading index manifest: %w", err)
	}
	var out []indexImage
	for _, d := range im.Manifests {
		switch {
		case d.MediaType.IsIndex():
			child, err := idx.ImageIndex(d.Digest)
			if err != nil {
				return nil, fmt.Errorf("reading nested index %s: %w", d.Digest, err)
			}
			more, err := indexImages(child)
			if err != nil {
				return nil, err
			}
			out = append(out, more...)
		case d.MediaType.IsImage():
			if d.Platform == nil || d.Platform.OS == "unknown" {
				continue
			}
			out = append(out, indexImage{platform: *d.Platform, digest: d.Digest, parent: idx})
		}
	}
	return out, nil
}

// selectPlatform returns the first image of idx for p, with its digest.
func selectPlatform(idx v1.ImageIndex, p v1.Platform) (v1.Image, v1.Hash, error) {
	imgs, err := indexImages(idx)
	if err != nil {
		return nil, v1.Hash{}, err
	}
	var have []string
	for _, ii := range imgs {
		if platformMatches(ii.platform, p) {
			img, err := ii.parent.Image(ii.digest)
			if err != nil {
				return nil, v1.Hash{}, fmt.Errorf("reading image %s: %w", ii.digest, err)
			}
			return img, ii.digest, nil
		}
		have = append(have, platformKey(ii.platform))
	}
	sort.Strings(have)
	return nil, v1.Hash{}, fmt.Errorf("no %s in the index (it has %s): %w", platformKey(p), orNone(have), ErrNoPlatform)
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

package imageref

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/moby/moby/client"

	"github.com/slim-dev/slim/internal/ctxio"
	"github.com/slim-dev/slim/internal/limits"
	"github.com/slim-dev/slim/internal/regerr"
	"github.com/slim-dev/slim/internal/tempfile"
)

// Annotations that name a manifest in an OCI layout's index.json: the OCI one holds the
// tag (or a full reference), the containerd one, written by BuildKit and containerd
// exports, holds a full reference such as docker.io/library/app:v1.
const (
	annotationRefName       = "org.opencontainers.image.ref.name"
	annotationContainerName = "io.containerd.image.name"
)

// Open returns what the reference names: either an image or an index (exactly one
// non-nil). Layer contents are read only when used.
func Open(ctx context.Context, r Ref, opts ...Option) (v1.Image, v1.ImageIndex, error) {
	o := makeOptions(opts...)
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("reading %s: %w", r, err)
	}
	at, err := Resolve(ctx, r, opts...)
	if err != nil {
		return nil, nil, err
	}
	var (
		img v1.Image
		idx v1.ImageIndex
	)
	switch at.Kind {
	case Registry:
		img, idx, err = openRemote(ctx, at, o)
		if err != nil && at.Bare && !errors.Is(err, regerr.ErrUnauthorized) {
			if _, tagged := at.Name.(name.Tag); tagged {
				// The daemon was asked first; say so, or a local image that is missing
				// reads as a registry problem only.
				err = fmt.Errorf("%w (no local Docker daemon holds it either)", err)
			}
		}
	case Layout:
		img, idx, err = openLayout(at)
	case DockerArchive:
		img, err = openArchive(ctx, at)
	case DockerDaemon:
		img, err = openDaemon(ctx, at, o)
	default:
		err = fmt.Errorf("%w: %v", ErrUnknownScheme, at.Kind)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("reading %s: %w", r, err)
	}
	return img, idx, nil
}

// Image resolves the reference to one image, narrowing an index to the platform chosen
// with WithPlatform (default: the platform of this machine).
func Image(ctx context.Context, r Ref, opts ...Option) (v1.Image, error) {
	img, idx, err := Open(ctx, r, opts...)
	if err != nil {
		return nil, err
	}
	o := makeOptions(opts...)
	if img != nil {
		if o.platformSet {
			if err := CheckPlatform(img, o.platform); err != nil {
				return nil, fmt.Errorf("reading %s: %w", r, err)
			}
		}
		return img, nil
	}
	img, err = selectPlatform(idx, o.platform)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", r, err)
	}
	return img, nil
}

func openRemote(ctx context.Context, r Ref, o options) (v1.Image, v1.ImageIndex, error) {
	if r.Name == nil {
		return nil, nil, errors.New("no image name")
	}
	ref := r.Name
	if o.insecure {
		// Open may be given WithInsecure even though Parse was not.
		n, err := name.ParseReference(ref.String(), name.Insecure)
		if err != nil {
			return nil, nil, err
		}
		ref = n
	}
	ropts := remoteOptions(ctx, o)
	desc, err := remote.Get(ref, ropts...)
	if err != nil {
		var terr *transport.Error
		if errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound {
			return nil, nil, fmt.Errorf("%w: %w", ErrNotFound, err)
		}
		return nil, nil, regerr.Wrap(err, ref.Context().RegistryStr())
	}
	puller, err := remote.NewPuller(ropts...)
	if err != nil {
		return nil, nil, err
	}
	repo := ref.Context()
	// Blobs are fetched by digest through one puller (one token per repository), not
	// through ggcr's image layers, which re-read the manifest at every request.
	open := func(img v1.Image, d v1.Descriptor) (io.ReadCloser, error) {
		if len(d.URLs) > 0 {
			// A foreign layer: ggcr's layer tries the registry, then the URLs.
			l, err := img.LayerByDigest(d.Digest)
			if err != nil {
				return nil, err
			}
			return l.Compressed()
		}
		l, err := puller.Layer(ctx, repo.Digest(d.Digest.String()))
		if err != nil {
			return nil, err
		}
		return l.Compressed()
	}
	// Mountable, so a push to another repository of the registry mounts the blob.
	wrap := func(l v1.Layer, d v1.Descriptor) v1.Layer {
		return &remote.MountableLayer{Layer: l, Reference: repo.Digest(d.Digest.String())}
	}
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return nil, nil, err
		}
		return nil, strictIdx(idx, open, wrap), nil
	}
	img, err := desc.Image()
	if err != nil {
		return nil, nil, err
	}
	img, err = strict(img, open, wrap)
	return img, nil, err
}

// RemoteOptions are the ggcr options that reach a registry as Open does: credentials,
// plain HTTP and unverified certificates with WithInsecure, the transport and the
// user agent. Writers to registries use them so that a name pushed to is reached the
// way it is read back.
func RemoteOptions(ctx context.Context, opts ...Option) []remote.Option {
	return remoteOptions(ctx, makeOptions(opts...))
}

func remoteOptions(ctx context.Context, o options) []remote.Option {
	ropts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(o.keychain),
	}
	tr := remote.DefaultTransport
	switch {
	case o.transport != nil:
		tr = o.transport
	case o.insecure:
		// As crane --insecure and Docker's insecure-registries: a registry the user
		// called insecure may also have a self-signed certificate.
		t := remote.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // asked for by the user
		tr = t
	}
	if o.userAgent != "" {
		ropts = append(ropts, remote.WithUserAgent(o.userAgent))
	}
	return append(ropts, remote.WithTransport(limitTransport{inner: tr}))
}

func openLayout(r Ref) (v1.Image, v1.ImageIndex, error) {
	p, err := layout.FromPath(r.Path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if _, serr := os.Stat(r.Path); serr != nil {
				if r.Tag != "" {
					// "DIR:tag" is read as a tag; say so when DIR:tag is a directory.
					if fi, err := os.Stat(r.Path + ":" + r.Tag); err == nil && fi.IsDir() {
						return nil, nil, fmt.Errorf("no directory %s (for the directory %s:%s, end the reference with a slash: %s://%s:%s/): %w",
							r.Path, r.Path, r.Tag, schemeLayout, r.Path, r.Tag, ErrNotFound)
					}
				}
				return nil, nil, fmt.Errorf("no directory %s: %w", r.Path, ErrNotFound)
			}
			return nil, nil, fmt.Errorf("%s is not an OCI image layout (no index.json): %w", r.Path, ErrNotFound)
		}
		return nil, nil, err
	}
	if fi, err := os.Stat(filepath.Join(r.Path, "index.json")); err == nil && fi.Size() > limits.Manifest {
		return nil, nil, limits.Exceeded(filepath.Join(r.Path, "index.json"), fi.Size(), limits.Manifest, "bytes")
	}
	root, err := p.ImageIndex()
	if err != nil {
		return nil, nil, err
	}
	// Children are read strictly; blobs are files named by their digest.
	root = strictIdx(root, func(_ v1.Image, d v1.Descriptor) (io.ReadCloser, error) { return p.Blob(d.Digest) }, nil)
	im, err := root.IndexManifest()
	if err != nil {
		return nil, nil, fmt.Errorf("reading %s: %w", filepath.Join(r.Path, "index.json"), err)
	}
	desc, err := selectLayoutManifest(im.Manifests, r.Tag, r.Digest)
	if errors.Is(err, ErrNotFound) && r.Digest != "" {
		// The digest of one platform's image sits inside a multi-platform index, not in
		// index.json; it names an image all the same, as it would in a registry.
		h, herr := v1.NewHash(r.Digest)
		if herr != nil {
			return nil, nil, herr
		}
		img, idx, ok, ferr := findNested(root, im.Manifests, h)
		if ferr != nil || ok {
			return img, idx, ferr
		}
	}
	if err != nil {
		return nil, nil, err
	}
	return openChild(root, desc)
}

func openChild(parent v1.ImageIndex, desc v1.Descriptor) (v1.Image, v1.ImageIndex, error) {
	if desc.MediaType.IsIndex() {
		idx, err := parent.ImageIndex(desc.Digest)
		return nil, idx, err
	}
	img, err := parent.Image(desc.Digest)
	return img, nil, err
}

// findNested looks for h among the children of the indexes listed in manifests.
// Manifests are content-addressed, so the graph has no cycles and the walk ends.
func findNested(parent v1.ImageIndex, manifests []v1.Descriptor, h v1.Hash) (v1.Image, v1.ImageIndex, bool, error) {
	for _, d := range manifests {
		if !d.MediaType.IsIndex() {
			continue
		}
		child, err := parent.ImageIndex(d.Digest)
		if err != nil {
			return nil, nil, false, fmt.Errorf("reading index %s: %w", d.Digest, err)
		}
		im, err := child.IndexManifest()
		if err != nil {
			return nil, nil, false, fmt.Errorf("reading index %s: %w", d.Digest, err)
		}
		for _, cd := range im.Manifests {
			if cd.Digest == h {
				img, idx, err := openChild(child, cd)
				return img, idx, true, err
			}
		}
		if img, idx, ok, err := findNested(child, im.Manifests, h); ok || err != nil {
			return img, idx, ok, err
		}
	}
	return nil, nil, false, nil
}

// selectLayoutManifest picks the index.json entry that tag or digest names; with neither,
// the layout must hold exactly one.
func selectLayoutManifest(manifests []v1.Descriptor, tag, digest string) (v1.Descriptor, error) {
	switch {
	case digest != "":
		for _, d := range manifests {
			if d.Digest.String() == digest {
				return d, nil
			}
		}
		return v1.Descriptor{}, fmt.Errorf("no manifest %s in the layout: %w", digest, ErrNotFound)
	case tag != "":
		var found []v1.Descriptor
		for _, d := range manifests {
			if slices.Contains(layoutTags(d), tag) && !slices.ContainsFunc(found, func(f v1.Descriptor) bool { return f.Digest == d.Digest }) {
				found = append(found, d)
			}
		}
		switch len(found) {
		case 1:
			return found[0], nil
		case 0:
			return v1.Descriptor{}, fmt.Errorf("no tag %q in the layout; it has %s: %w", tag, describeLayout(manifests), ErrNotFound)
		}
		return v1.Descriptor{}, fmt.Errorf("tag %q names %d different manifests in the layout; choose one with @DIGEST: %s", tag, len(found), describeLayout(found))
	}
	switch len(manifests) {
	case 1:
		return manifests[0], nil
	case 0:
		return v1.Descriptor{}, fmt.Errorf("the layout holds no image: %w", ErrNotFound)
	}
	// buildx reads a layout without a tag as :latest.
	if d, err := selectLayoutManifest(manifests, "latest", ""); err == nil {
		return d, nil
	}
	return v1.Descriptor{}, fmt.Errorf("the layout holds %d manifests; choose one with :TAG or @DIGEST: %s", len(manifests), describeLayout(manifests))
}

// layoutTags lists the tags a layout entry answers to.
func layoutTags(d v1.Descriptor) []string {
	var tags []string
	for _, key := range []string{annotationRefName, annotationContainerName} {
		v := d.Annotations[key]
		if v == "" {
			continue
		}
		// A full reference ends in :tag; a bare ref.name is the tag itself.
		if i := strings.LastIndexByte(v, ':'); i >= 0 && !strings.Contains(v[i+1:], "/") {
			tags = append(tags, v[i+1:])
		} else if key == annotationRefName && !strings.Contains(v, "/") {
			tags = append(tags, v)
		}
	}
	return tags
}

func describeLayout(manifests []v1.Descriptor) string {
	if len(manifests) == 0 {
		return "nothing"
	}
	var parts []string
	for _, d := range manifests {
		if tags := layoutTags(d); len(tags) > 0 {
			parts = append(parts, tags[0])
		} else {
			parts = append(parts, "@"+d.Digest.String())
		}
	}
	return strings.Join(parts, ", ")
}

func openArchive(ctx context.Context, r Ref) (v1.Image, error) {
	f, err := os.Open(r.Path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no file %s: %w", r.Path, ErrNotFound)
		}
		return nil, err
	}
	// The file stays open as long as the image is read from it (its finalizer closes it).
	img, err := openArchiveFile(ctx, f, r)
	if err != nil {
		f.Close()
		return nil, err
	}
	return img, nil
}

func openArchiveFile(ctx context.Context, f *os.File, r Ref) (v1.Image, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	var tag *name.Tag
	if r.Tag != "" {
		t, err := name.NewTag(r.Tag)
		if err != nil {
			return nil, fmt.Errorf("parsing archive tag %q: %w", r.Tag, err)
		}
		tag = &t
	}
	a, err := indexArchive(ctx, f, fi.Size())
	var m tarball.Manifest
	if err == nil {
		m, err = a.manifest()
	}
	if err != nil {
		return nil, fmt.Errorf("reading manifest.json of %s: %w", r.Path, err)
	}
	switch {
	case len(m) == 0:
		return nil, fmt.Errorf("the archive holds no image: %w", ErrNotFound)
	case tag == nil && len(m) > 1:
		return nil, fmt.Errorf("the archive holds %d images; choose one with :NAME:TAG: %s", len(m), describeArchive(m))
	case tag != nil && !archiveHas(m, *tag):
		hint := ""
		if !strings.ContainsAny(r.Tag, ":/") {
			// "FILE:v1" reads v1 as an image name; the user most likely meant a tag.
			for _, d := range m {
				for _, s := range d.RepoTags {
					if strings.HasSuffix(s, ":"+r.Tag) {
						hint = fmt.Sprintf(" (the part after the file is a full name such as %s, not a bare tag)", s)
					}
				}
			}
		}
		return nil, fmt.Errorf("no %s in the archive; it has %s%s: %w", r.Tag, describeArchive(m), hint, ErrNotFound)
	}
	return a.strictImage(m, tag)
}

func archiveHas(m tarball.Manifest, tag name.Tag) bool {
	return slices.ContainsFunc(m, func(d tarball.Descriptor) bool {
		return slices.ContainsFunc(d.RepoTags, func(s string) bool {
			t, err := name.NewTag(s)
			return err == nil && t.Name() == tag.Name()
		})
	})
}

func describeArchive(m tarball.Manifest) string {
	var parts []string
	for i, d := range m {
		if len(d.RepoTags) == 0 {
			parts = append(parts, fmt.Sprintf("untagged image #%d", i+1))
			continue
		}
		parts = append(parts, d.RepoTags...)
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ", ")
}

// openDaemon reads the image through `docker save`, as a docker archive. ggcr's
// daemon.Image takes the layers from that archive too, but builds ConfigFile from
// `docker image inspect` and `docker history`, which lists history newest first and
// calls every 0-byte step empty: history then no longer lines up with the layers (the
// base layer gets the last step's created_by), and RawConfigFile and ConfigFile
// disagree. The archive's own config is the image's, byte for byte.
func openDaemon(ctx context.Context, r Ref, o options) (v1.Image, error) {
	if r.Name == nil {
		return nil, errors.New("no image name")
	}
	c, release, err := dockerClient(o)
	if err != nil {
		return nil, err
	}
	defer release()
	if _, err := c.ImageInspect(ctx, r.Name.String()); err != nil {
		return nil, daemonError(err)
	}
	rc, err := c.ImageSave(ctx, []string{r.Name.String()})
	if err != nil {
		return nil, daemonError(err)
	}
	defer rc.Close()
	// A spool file rather than memory: an image must not have to fit in memory (the
	// bounded-memory rule of DESIGN.md §5). The unlinked file lives as long as the
	// image's opener holds it.
	f, err := tempfile.Unlinked("", "slim-docker-save-*.tar")
	if err != nil {
		return nil, err
	}
	n, err := io.Copy(ctxio.Writer(ctx, f), rc)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("reading docker save of %s: %w", r.Name, err)
	}
	img, err := openDaemonArchive(ctx, f, n)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("reading docker save of %s: %w", r.Name, err)
	}
	return img, nil
}

func daemonError(err error) error {
	if client.IsErrConnectionFailed(err) {
		return fmt.Errorf("cannot reach the Docker daemon: %w", err)
	}
	var nf interface{ NotFound() }
	if errors.As(err, &nf) {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return err
}

// openDaemonArchive reads the one image of a `docker save` spooled to f (n bytes).
func openDaemonArchive(ctx context.Context, f io.ReaderAt, n int64) (v1.Image, error) {
	a, err := indexArchive(ctx, f, n)
	if err != nil {
		return nil, err
	}
	m, err := a.manifest()
	if err != nil {
		return nil, err
	}
	return a.strictImage(m, nil)
}

package tarball

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/daemon"
	ggcrtarball "github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/moby/moby/client"
)

// dockerTags parses names as the RepoTags of a docker archive. A name without a tag
// gets ":latest", as `docker tag` would give it; docker load cannot use a digest.
func dockerTags(names []string) ([]string, error) {
	var tags []string
	for _, n := range names {
		t, err := name.NewTag(n)
		if err != nil {
			return nil, fmt.Errorf("parsing name %q (want NAME[:TAG]; docker cannot load by digest): %v: %w", n, err, ErrBadOutput)
		}
		s := t.String()
		if !strings.HasSuffix(s, ":"+t.TagStr()) {
			s += ":" + t.TagStr()
		}
		tags = append(tags, s)
	}
	return tags, nil
}

// writeDockerArchive writes a `docker save` archive: the config, the layer blobs and
// manifest.json.
//
// ggcr's tarball.MultiRefWrite writes the same files, but takes the tags from a map,
// so with two -t tags the order of RepoTags (and so the archive's bytes) changed from
// run to run. This writer keeps the tags in the order given, sorts the entries and
// stamps them with the epoch. Media types are not converted: the archive holds no
// manifest, only manifest.json (config and layer file names), the config and the layer
// blobs, and none of these carries a media type; docker load finds the compression from
// the layer bytes. An OCI-typed gzip image and its Docker-typed twin therefore give the
// same archive and load as the same image ID (the config digest). Zstd layers were
// refused before this is reached.
func writeDockerArchive(ctx context.Context, img v1.Image, dest string, tags []string) (committer, error) {
	tf, err := newTempFile(dest)
	if err != nil {
		return nil, fmt.Errorf("writing docker archive %s: %w", dest, err)
	}
	if err := writeDockerArchiveTo(ctx, tf.f, img, tags); err != nil {
		tf.abort()
		return nil, fmt.Errorf("writing docker archive %s: %w", dest, err)
	}
	if err := tf.close(); err != nil {
		tf.abort()
		return nil, fmt.Errorf("writing docker archive %s: %w", dest, err)
	}
	return tf, nil
}

func writeDockerArchiveTo(ctx context.Context, w io.Writer, img v1.Image, tags []string) error {
	cfgName, err := img.ConfigName()
	if err != nil {
		return fmt.Errorf("reading config: %w", err)
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return fmt.Errorf("reading config: %w", err)
	}
	m, err := img.Manifest()
	if err != nil {
		return fmt.Errorf("reading manifest: %w", err)
	}
	desc := ggcrtarball.Descriptor{Config: cfgName.Hex + ".json", RepoTags: tags}
	if desc.RepoTags == nil {
		// docker load takes an untagged image (as `docker save IMAGE_ID` writes it) and
		// reports its ID; [] rather than null is what Docker itself writes.
		desc.RepoTags = []string{}
	}
	type entry struct {
		name string
		blob layoutBlob
	}
	entries := []entry{{name: desc.Config, blob: layoutBlob{size: int64(len(cfg)), raw: cfg}}}
	seen := map[v1.Hash]bool{}
	for _, d := range m.Layers {
		file := d.Digest.Hex + layerFileExtension(d.MediaType)
		desc.Layers = append(desc.Layers, file)
		if !d.MediaType.IsDistributable() {
			// A foreign layer's blob lives elsewhere; Docker fetches it from the URLs.
			if desc.LayerSources == nil {
				desc.LayerSources = map[v1.Hash]v1.Descriptor{}
			}
			cf, err := img.ConfigFile()
			if err != nil {
				return fmt.Errorf("reading config: %w", err)
			}
			i := len(desc.Layers) - 1
			if i < len(cf.RootFS.DiffIDs) {
				desc.LayerSources[cf.RootFS.DiffIDs[i]] = d
			}
		}
		if seen[d.Digest] {
			continue
		}
		seen[d.Digest] = true
		l, err := img.LayerByDigest(d.Digest)
		if err != nil {
			return fmt.Errorf("reading layer %s: %w", d.Digest, err)
		}
		entries = append(entries, entry{name: file, blob: layoutBlob{digest: d.Digest, size: d.Size, layer: l}})
	}
	manifest, err := json.Marshal(ggcrtarball.Manifest{desc})
	if err != nil {
		return fmt.Errorf("encoding manifest.json: %w", err)
	}

	// Hex names sort before "manifest.json" ('0'-'f' < 'm').
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.name, b.name) })
	entries = append(entries, entry{name: "manifest.json", blob: layoutBlob{size: int64(len(manifest)), raw: manifest}})

	tw := tar.NewWriter(w)
	epoch := time.Unix(0, 0).UTC()
	for _, e := range entries {
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Typeflag: tar.TypeReg, Mode: 0o644, Size: e.blob.size, ModTime: epoch}); err != nil {
			return err
		}
		if err := writeBlob(ctx, tw, e.blob); err != nil {
			return err
		}
	}
	return tw.Close()
}

// layerFileExtension names layer files as ggcr and Docker do, so tools that guess the
// compression from the name (gunzip, old loaders) guess right.
func layerFileExtension(mt types.MediaType) string {
	switch mt {
	case types.OCIUncompressedLayer, types.OCIUncompressedRestrictedLayer, types.DockerUncompressedLayer:
		return ".tar"
	case types.OCILayerZStd:
		return ".tar.zst"
	}
	return ".tar.gz"
}

// Load puts img into the Docker daemon under every tag (--load). The daemon is the one
// DOCKER_HOST and the Docker environment name. Zstd layers are refused unless the daemon
// speaks API 1.44 (Docker 25) or later, the first that loads them.
func Load(ctx context.Context, img v1.Image, tags []string, opts ...OutputOption) error {
	o := makeOutputOptions(opts...)
	if img == nil {
		return fmt.Errorf("loading into the docker daemon: no image: %w", ErrBadOutput)
	}
	if len(tags) == 0 {
		return fmt.Errorf("loading into the docker daemon: no name; give -t NAME:TAG: %w", ErrBadOutput)
	}
	return loadDaemon(ctx, img, tags, &o)
}

func loadDaemon(ctx context.Context, img v1.Image, names []string, o *outputOptions) error {
	var tags []name.Tag
	for _, n := range names {
		t, err := name.NewTag(n)
		if err != nil {
			return fmt.Errorf("loading into the docker daemon: parsing name %q (want NAME[:TAG]): %v: %w", n, err, ErrBadOutput)
		}
		tags = append(tags, t)
	}
	c := o.daemonClient
	if c == nil {
		cl, err := client.New(client.FromEnv)
		if err != nil {
			return fmt.Errorf("loading into the docker daemon: cannot reach the Docker daemon at %s: use -o type=docker,dest=FILE and `docker load` (%v): %w", os.Getenv("DOCKER_HOST"), err, ErrNoDaemon)
		}
		defer cl.Close()
		c = cl
	}
	host := os.Getenv("DOCKER_HOST")
	if h, ok := c.(interface{ DaemonHost() string }); ok {
		host = h.DaemonHost()
	}
	ping, err := c.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true})
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("loading into the docker daemon: %w", ctx.Err())
		}
		return fmt.Errorf("loading into the docker daemon: cannot reach the Docker daemon at %s: use -o type=docker,dest=FILE and `docker load` (%v): %w", host, err, ErrNoDaemon)
	}
	if err := checkDockerLayers(img, apiAtLeast(ping.APIVersion, 1, 44)); err != nil {
		return fmt.Errorf("loading into the docker daemon at %s (API %s): %w", host, ping.APIVersion, err)
	}
	dopts := []daemon.Option{daemon.WithClient(c), daemon.WithContext(ctx)}
	resp, err := daemon.Write(tags[0], img, dopts...)
	if err != nil {
		return fmt.Errorf("loading %s into the docker daemon: %w", tags[0], err)
	}
	// The daemon answers 200 and reports a failed load inside the JSON stream, which
	// ggcr hands back as text.
	if msg := loadError(resp); msg != "" {
		return fmt.Errorf("loading %s into the docker daemon: %s", tags[0], msg)
	}
	for _, t := range tags[1:] {
		if err := daemon.Tag(tags[0], t, dopts...); err != nil {
			return fmt.Errorf("tagging %s as %s in the docker daemon: %w", tags[0], t, err)
		}
	}
	return nil
}

func loadError(resp string) string {
	dec := json.NewDecoder(strings.NewReader(resp))
	for {
		var msg struct {
			Error       string `json:"error"`
			ErrorDetail *struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&msg); err != nil {
			return ""
		}
		switch {
		case msg.ErrorDetail != nil && msg.ErrorDetail.Message != "":
			return msg.ErrorDetail.Message
		case msg.Error != "":
			return msg.Error
		}
	}
}

// apiAtLeast compares a Docker API version "1.44" with major.minor.
func apiAtLeast(v string, major, minor int) bool {
	a, b, ok := strings.Cut(v, ".")
	if !ok {
		return false
	}
	ma, err1 := strconv.Atoi(a)
	mi, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil {
		return false
	}
	return ma > major || ma == major && mi >= minor
}

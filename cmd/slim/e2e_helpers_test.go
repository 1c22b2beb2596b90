package main

import (
	"archive/tar"
	"crypto/sha256"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/slim-dev/slim/internal/testimage"
	"github.com/slim-dev/slim/internal/testimage/apps"
	"github.com/slim-dev/slim/rebase"
	"github.com/slim-dev/slim/tarball"
)

// needRoot stops a test that must chroot: under CI=true it fails, so CI never passes by
// skipping what it is there to prove.
func needRoot(t *testing.T) {
	t.Helper()
	testimage.NeedRoot(t, "running images with chroot")
}

// needDocker returns the docker CLI's path once a Docker daemon answers it. .ci/run
// starts Debian's dockerd, so under CI=true a missing daemon is a failure.
func needDocker(t *testing.T) string {
	t.Helper()
	docker := testimage.NeedTool(t, "docker")
	if b, err := exec.Command(docker, "version", "--format", "{{.Server.APIVersion}}").CombinedOutput(); err != nil {
		testimage.Missing(t, "no Docker daemon answers: %v\n%s", err, b)
	}
	return docker
}

// hostEntries is apps.HostEntries for a test: host files as layer entries ("dest=src").
func hostEntries(t *testing.T, paths ...string) []tarball.Entry {
	t.Helper()
	out, err := apps.HostEntries(paths...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// hostImage writes an image of host files as an OCI layout, with uncompressed layers so
// that a near-gigabyte fat image is quick to make, and returns its oci-layout reference.
func hostImage(t *testing.T, layers [][]tarball.Entry, cfg func(*v1.Config), platform ...string) (v1.Image, string) {
	t.Helper()
	var ls []v1.Layer
	for _, entries := range layers {
		l, err := tarball.NewLayer(entries, tarball.WithCompression(tarball.Uncompressed), tarball.WithParents(), tarball.WithTempDir(t.TempDir()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		ls = append(ls, l)
	}
	opts := []testimage.Option{testimage.WithConfig(cfg)}
	if len(platform) == 2 {
		opts = append(opts, testimage.WithPlatform(platform[0], platform[1]))
	}
	img := testimage.ImageFromLayers(t, ls, opts...)
	return img, "oci-layout://" + testimage.WriteLayout(t, img)
}

// unpack unpacks an OCI layout's image with umoci, a third-party reader, and returns
// the root file system. umoci (0.4) cannot read a tag that names an index holding an
// image and its attestation manifest ("tag is ambiguous"), which is why a layout holds
// attestations only when asked (job.ResolveAttest).
func unpack(t *testing.T, layoutDir, tag string) string {
	t.Helper()
	umoci := testimage.NeedTool(t, "umoci")
	bundle := filepath.Join(t.TempDir(), "bundle")
	if b, err := exec.Command(umoci, "unpack", "--image", layoutDir+":"+tag, bundle).CombinedOutput(); err != nil {
		t.Fatalf("umoci unpack %s:%s: %v\n%s", layoutDir, tag, err, b)
	}
	return filepath.Join(bundle, "rootfs")
}

// runIn is build_test.go's name for testimage.Chroot.
func runIn(t *testing.T, rootfs, user string, env []string, argv ...string) string {
	t.Helper()
	return testimage.Chroot(t, rootfs, user, env, argv...)
}

func symlinkEntry(name, target string) tarball.Entry {
	return tarball.Entry{Header: &tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777}}
}

// runHost runs a program on this machine: the fat C image holds this machine's own
// libraries, so this is what the fat image prints.
func runHost(t *testing.T, argv ...string) string {
	t.Helper()
	b, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %v\n%s", argv, err, b)
	}
	return string(b)
}

// layoutImage is the image slim wrote into an OCI layout directory (see layoutResult).
func layoutImage(t *testing.T, dir string) v1.Image {
	t.Helper()
	idx, d := layoutResult(t, dir)
	img, err := idx.Image(d.Digest)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// layoutResult finds the image of the single entry of an OCI layout directory: the
// entry itself, or, when attestations made the result an index, the one image in it
// that is not an attestation manifest, as BuildKit and containerd pick it. It returns
// the index that holds the image and the image's descriptor.
func layoutResult(t *testing.T, dir string) (v1.ImageIndex, v1.Descriptor) {
	t.Helper()
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil || len(im.Manifests) != 1 {
		t.Fatalf("layout %s: %v, %d manifests", dir, err, len(im.Manifests))
	}
	d := im.Manifests[0]
	if !d.MediaType.IsIndex() {
		return idx, d
	}
	inner, err := idx.ImageIndex(d.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if im, err = inner.IndexManifest(); err != nil {
		t.Fatal(err)
	}
	var images []v1.Descriptor
	for _, c := range im.Manifests {
		if c.Annotations[rebase.ReferenceTypeAnnotation] != rebase.AttestationManifestType {
			images = append(images, c)
		}
	}
	if len(images) != 1 {
		t.Fatalf("layout %s: the index holds %d images (not attestations), want 1", dir, len(images))
	}
	return inner, images[0]
}

// layerPaths reads every layer of img and fails the test for a file or symlink that two
// layers hold identically: a base's file added again is waste that dive flags. It
// returns how many layers hold each path.
func layerPaths(t *testing.T, img v1.Image) map[string]int {
	t.Helper()
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{} // path → content digest or link target, of the layer below
	count := map[string]int{}
	for i, l := range ls {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("reading layer %d: %v", i, err)
			}
			name := strings.TrimPrefix(filepath.Clean("/"+h.Name), "/")
			var id string
			switch h.Typeflag {
			case tar.TypeReg:
				d := sha256.New()
				if _, err := io.Copy(d, tr); err != nil {
					t.Fatal(err)
				}
				id = fmt.Sprintf("%x %o %d:%d", d.Sum(nil), h.Mode, h.Uid, h.Gid)
			case tar.TypeSymlink:
				id = "-> " + h.Linkname
			default:
				continue
			}
			count[name]++
			if prev, ok := seen[name]; ok && prev == id {
				t.Errorf("/%s is in layer %d identically to a layer below: added again", name, i)
			}
			seen[name] = id
		}
		rc.Close()
	}
	return count
}

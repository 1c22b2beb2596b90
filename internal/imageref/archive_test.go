package imageref

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/slim-dev/slim/internal/limits"
)

// archiveMemberSpec is one member of a hand-made docker archive.
type archiveMemberSpec struct {
	name string
	body []byte
	link string // a symbolic link to this target when set
}

func writeArchive(t testing.TB, members []archiveMemberSpec) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "a.tar")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(f)
	for _, m := range members {
		h := &tar.Header{Name: m.name, Mode: 0o644, Size: int64(len(m.body)), Typeflag: tar.TypeReg}
		if m.link != "" {
			h = &tar.Header{Name: m.name, Mode: 0o777, Typeflag: tar.TypeSymlink, Linkname: m.link}
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(m.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

// layerTar is a one-file layer, gzipped when gz.
func layerTar(t testing.TB, name string, gz bool) (blob []byte, diffID v1.Hash) {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(name)), Typeflag: tar.TypeReg}) //nolint:errcheck // into memory
	tw.Write([]byte(name))                                                                              //nolint:errcheck // into memory
	tw.Close()
	diffID, _, _ = v1.SHA256(bytes.NewReader(b.Bytes()))
	if !gz {
		return b.Bytes(), diffID
	}
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(b.Bytes()) //nolint:errcheck // into memory
	zw.Close()
	return z.Bytes(), diffID
}

// dockerSave makes an archive as `docker save` (before Docker 25) lays one out: a
// directory per layer, duplicates as symbolic links to the first copy.
func dockerSave(t testing.TB, n int, gz bool, dupLast bool) string {
	t.Helper()
	var members []archiveMemberSpec
	var diffIDs []v1.Hash
	var paths []string
	for i := range n {
		p := fmt.Sprintf("%04d/layer.tar", i)
		if dupLast && i == n-1 {
			members = append(members, archiveMemberSpec{name: p, link: "../0000/layer.tar"})
			diffIDs = append(diffIDs, diffIDs[0])
		} else {
			blob, d := layerTar(t, fmt.Sprintf("f%d", i), gz)
			members = append(members, archiveMemberSpec{name: p, body: blob})
			diffIDs = append(diffIDs, d)
		}
		paths = append(paths, p)
	}
	cfg, _ := json.Marshal(v1.ConfigFile{OS: "linux", Architecture: "amd64", RootFS: v1.RootFS{Type: "layers", DiffIDs: diffIDs}})
	man, _ := json.Marshal(tarball.Manifest{{Config: "config.json", RepoTags: []string{"app:v1"}, Layers: paths}})
	members = append(members, archiveMemberSpec{name: "config.json", body: cfg}, archiveMemberSpec{name: "manifest.json", body: man})
	return writeArchive(t, members)
}

// The indexed reader builds the image ggcr's tarball package builds, digest for digest,
// whether the layers are compressed or not and when a layer is a link to another.
func TestArchiveMatchesGGCR(t *testing.T) {
	t.Parallel()
	written := filepath.Join(t.TempDir(), "w.tar")
	tag, _ := name.NewTag("app:v1")
	if err := tarball.WriteToFile(written, tag, randomImage(t)); err != nil {
		t.Fatal(err)
	}
	for what, p := range map[string]string{
		"ggcr-written":       written,
		"gzip layers":        dockerSave(t, 3, true, true),
		"uncompressed":       dockerSave(t, 3, false, true),
		"uncompressed-nodup": dockerSave(t, 2, false, false),
	} {
		t.Run(what, func(t *testing.T) {
			t.Parallel()
			want, err := tarball.ImageFromPath(p, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Image(t.Context(), mustParse(t, "docker-archive://"+p))
			if err != nil {
				t.Fatal(err)
			}
			wm, _ := want.RawManifest()
			gm, err := got.RawManifest()
			if err != nil || !bytes.Equal(gm, wm) {
				t.Fatalf("manifest %s (%v), ggcr's %s", gm, err, wm)
			}
			if err := validate.Image(got); err != nil {
				t.Errorf("validate.Image: %v", err)
			}
		})
	}
}

// sparseArchive is a tar whose member name claims size bytes that are never written:
// the file is sparse past the header, so nothing of that size exists anywhere.
func sparseArchive(t *testing.T, before []archiveMemberSpec, member string, size int64) string {
	t.Helper()
	p := writeArchive(t, before)
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	end, err := f.Seek(-1024, io.SeekEnd) // over the end-of-archive blocks
	if err != nil {
		t.Fatal(err)
	}
	var hdr bytes.Buffer
	tw := tar.NewWriter(&hdr)
	if err := tw.WriteHeader(&tar.Header{Name: member, Mode: 0o644, Size: size, Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(hdr.Bytes(), end); err != nil {
		t.Fatal(err)
	}
	// The body (zeros), then two zero blocks ending the archive.
	if err := f.Truncate(end + int64(hdr.Len()) + (size+511)/512*512 + 1024); err != nil {
		t.Fatal(err)
	}
	return p
}

// manifest.json and the config are refused from their tar headers above their limits,
// with the limit named, before a byte of them is read.
func TestArchiveOverLimits(t *testing.T) {
	t.Parallel()
	const huge = 1 << 40 // a terabyte, sparse
	bigManifest := sparseArchive(t, nil, "manifest.json", huge)
	man, _ := json.Marshal(tarball.Manifest{{Config: "config.json", Layers: []string{}}})
	bigConfig := sparseArchive(t, []archiveMemberSpec{{name: "manifest.json", body: man}}, "config.json", limits.Config+1)
	for _, tt := range []struct {
		path, want string
	}{
		{bigManifest, fmt.Sprintf("the archive's manifest.json is %d bytes, more than the limit of %d", int64(huge), limits.Manifest)},
		{bigConfig, fmt.Sprintf("config config.json is %d bytes, more than the limit of %d", limits.Config+1, limits.Config)},
	} {
		start := time.Now()
		_, err := Image(t.Context(), mustParse(t, "docker-archive://"+tt.path))
		if err == nil || !errors.Is(err, limits.ErrExceeded) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("opening %s: %v, want %q", tt.path, err, tt.want)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("refusing took %v: the member was read", d)
		}
	}
}

// Opening an archive and every one of its layers is linear in the layer count: each
// member is found in an index made in one pass, not by scanning the tar again.
func TestArchiveLinearInLayers(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: a timing comparison (make test and CI run it)")
	}
	once := func(p string) time.Duration {
		start := time.Now()
		img, err := Image(t.Context(), mustParse(t, "docker-archive://"+p))
		if err != nil {
			t.Fatal(err)
		}
		ls, err := img.Layers()
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range ls {
			rc, err := l.Compressed()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, rc); err != nil {
				t.Fatal(err)
			}
			rc.Close()
		}
		return time.Since(start)
	}
	small, big := dockerSave(t, 1000, true, false), dockerSave(t, 2000, true, false)
	once(small) // warm up
	// The fastest of 5 runs each, alternated, so that a busy moment of the machine (the
	// race detector and other packages' tests share its 2 cores) slows both sides.
	t1, t2 := time.Duration(1<<62), time.Duration(1<<62)
	for range 5 {
		t1, t2 = min(t1, once(small)), min(t2, once(big))
	}
	t.Logf("1,000 layers %v, 2,000 layers %v (ratio %.2f)", t1, t2, float64(t2)/float64(t1))
	if t2 > 3*t1 {
		t.Errorf("2,000 layers took %v, %.1f× the %v of 1,000: not linear", t2, float64(t2)/float64(t1), t1)
	}
}

package output

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/daemon"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	ggcrtarball "github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/moby/moby/client"

	"github.com/slim-dev/slim/internal/imageref"
	"github.com/slim-dev/slim/internal/testimage"
)

// outputLayers is the content of every test image: a file to look for after unpacking,
// and an executable in a second layer.
func outputLayers() [][]testimage.Entry {
	return [][]testimage.Entry{
		{testimage.Dir("etc"), testimage.File("etc/hello", "hello from slim\n")},
		{testimage.Dir("bin"), testimage.File("bin/app", "#!/bin/sh\necho hi\n", 0o755)},
	}
}

type outputCase struct {
	name string
	v    any // v1.Image or v1.ImageIndex
	zstd bool
}

func outputSubjects(t *testing.T) []outputCase {
	t.Helper()
	gz := testimage.Image(t, outputLayers())
	zst := testimage.Image(t, outputLayers(), testimage.WithCompression(testimage.Zstd))
	docker := testimage.Image(t, outputLayers(), testimage.WithDocker())
	plain := testimage.Image(t, outputLayers(), testimage.WithCompression(testimage.None))
	arm := testimage.Image(t, outputLayers(), testimage.WithPlatform("linux", "arm64/v8"))
	return []outputCase{
		{name: "oci-gzip", v: gz},
		{name: "oci-zstd", v: zst, zstd: true},
		{name: "oci-uncompressed", v: plain},
		{name: "docker-types", v: docker},
		{name: "index", v: testimage.Index(t, map[string]v1.Image{"linux/amd64": gz, "linux/arm64/v8": arm})},
	}
}

func digestOfOutput(t *testing.T, v any) v1.Hash {
	t.Helper()
	var (
		h   v1.Hash
		err error
	)
	switch v := v.(type) {
	case v1.Image:
		h, err = v.Digest()
	case v1.ImageIndex:
		h, err = v.Digest()
	}
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// openOutput reads what Write wrote with slim's own reader.
func openOutput(t *testing.T, ref string) (v1.Image, v1.ImageIndex) {
	t.Helper()
	r, err := imageref.Parse(ref)
	if err != nil {
		t.Fatal(err)
	}
	img, idx, err := imageref.Open(t.Context(), r)
	if err != nil {
		t.Fatalf("reading back %s: %v", ref, err)
	}
	return img, idx
}

// untarTo unpacks an OCI layout tar so slim's layout reader can open it.
func untarTo(t *testing.T, file string) string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dir := t.TempDir()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return dir
		}
		if err != nil {
			t.Fatalf("reading %s: %v", file, err)
		}
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		if h.Typeflag == tar.TypeDir {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func runTool(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), name, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// skopeoDigest runs skopeo inspect and returns the manifest digest it reports.
func skopeoDigest(t *testing.T, transportRef string, extra ...string) string {
	t.Helper()
	args := append([]string{"inspect", "--override-os", "linux", "--override-arch", "amd64"}, extra...)
	out := runTool(t, testimage.NeedTool(t, "skopeo"), append(args, transportRef)...)
	var got struct{ Digest string }
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("skopeo inspect %s: %v\n%s", transportRef, err, out)
	}
	return got.Digest
}

// skopeoCopy copies through skopeo, which reads every blob and checks its digest.
func skopeoCopy(t *testing.T, transportRef string, extra ...string) {
	t.Helper()
	dst := "oci:" + t.TempDir() + ":copy"
	args := append([]string{"copy", "--quiet", "--override-os", "linux", "--override-arch", "amd64"}, extra...)
	runTool(t, testimage.NeedTool(t, "skopeo"), append(args, transportRef, dst)...)
}

// umociUnpack unpacks the layout with umoci and checks a file of the image is there.
func umociUnpack(t *testing.T, dir, tag string, unpack bool) {
	t.Helper()
	umoci := testimage.NeedTool(t, "umoci")
	runTool(t, umoci, "stat", "--image", dir+":"+tag)
	if !unpack {
		t.Skip("umoci 0.4 unpacks gzip and uncompressed layers only, not zstd; stat passed")
	}
	if os.Geteuid() != 0 {
		t.Skip("umoci unpack needs root (CI runs the tests as root)")
	}
	bundle := filepath.Join(t.TempDir(), "bundle")
	runTool(t, umoci, "unpack", "--image", dir+":"+tag, bundle)
	b, err := os.ReadFile(filepath.Join(bundle, "rootfs", "etc", "hello"))
	if err != nil || string(b) != "hello from slim\n" {
		t.Fatalf("umoci unpack: etc/hello = %q, %v", b, err)
	}
}

func TestParseOutput(t *testing.T) {
	t.Parallel()
	good := []struct {
		spec string
		want Output
	}{
		{"type=oci,dest=out/", Output{Type: OCI, Dest: "out/"}},
		{"type=oci,dest=img.tar", Output{Type: OCI, Dest: "img.tar", Tar: true}},
		{"type=oci,dest=img.TAR", Output{Type: OCI, Dest: "img.TAR", Tar: true}},
		{"type=oci,dest=layout,tar=true", Output{Type: OCI, Dest: "layout", Tar: true}},
		{"type=oci,dest=dir.tar,tar=false", Output{Type: OCI, Dest: "dir.tar"}},
		{"type=oci,dest=dir,replace=true", Output{Type: OCI, Dest: "dir", Replace: true}},
		{"type=oci,dest=out,name=app:slim", Output{Type: OCI, Dest: "out", Name: []string{"app:slim"}}},
		{"type=docker,dest=img.tar,name=app:slim", Output{Type: Docker, Dest: "img.tar", Name: []string{"app:slim"}}},
		{"type=docker", Output{Type: Docker}},
		{"type=registry,name=localhost:5000/app:slim", Output{Type: Registry, Name: []string{"localhost:5000/app:slim"}}},
		{`type=image,"name=a:1,b:2",push=true`, Output{Type: Image, Name: []string{"a:1", "b:2"}, Push: true}},
		{"type=image,name=a:1", Output{Type: Image, Name: []string{"a:1"}}},
		{"TYPE=OCI, DEST=x", Output{Type: OCI, Dest: "x"}},
		{"type=oci,dest= spaced ", Output{Type: OCI, Dest: " spaced "}},
		{`type=oci,"dest=a,b"`, Output{Type: OCI, Dest: "a,b"}},
		{"out/", Output{Type: OCI, Dest: "out/"}},
		{"img.tar", Output{Type: OCI, Dest: "img.tar", Tar: true}},
		{"oci-layout:///tmp/out", Output{Type: OCI, Dest: "/tmp/out"}},
		{"oci-layout://img.tar", Output{Type: OCI, Dest: "img.tar", Tar: true}},
		{"docker-archive://img.tar", Output{Type: Docker, Dest: "img.tar"}},
	}
	for _, tt := range good {
		got, err := Parse(tt.spec)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.spec, err)
			continue
		}
		if !outputEqual(got, tt.want) {
			t.Errorf("Parse(%q) = %+v, want %+v", tt.spec, got, tt.want)
		}
		// String gives a spec that reads back to the same output.
		again, err := Parse(got.String())
		if err != nil || !outputEqual(again, got) {
			t.Errorf("Parse(%q).String() = %q reads back as %+v, %v", tt.spec, got.String(), again, err)
		}
	}

	bad := []struct{ spec, errText string }{
		{"", "empty spec"},
		{"-", "standard output"},
		{"type=oci,dest=-", "standard output"},
		{"dest=out", "no type (want type=oci|docker|registry|image)"},
		{"type=local,dest=out", `unknown type "local" (want oci|docker|registry|image); for the files rather than an image use slim extract`},
		{"type=cacheonly", `unknown type "cacheonly" (want oci|docker|registry|image)`},
		{"type=oci", "type=oci needs dest=DIR or dest=FILE.tar"},
		{"type=oci,dest=", "empty dest"},
		{"type=oci,dest=x,compression=zstd", `type=oci takes no key "compression" (valid: type, dest, name, tar, replace)`},
		{"type=registry,dest=x", `type=registry takes no key "dest" (valid: type, name)`},
		{"type=docker,push=true", `type=docker takes no key "push"`},
		{"type=image,push=maybe", `push="maybe" is not true or false`},
		{"type=oci,dest=x,tar=yes", `tar="yes" is not true or false`},
		{"type=oci,type=docker,dest=x", "type given twice"},
		{"type=oci,dest", `"dest" is not key=value`},
		{"type=registry,name=", "empty name"},
		{`type=oci,dest="x`, "parsing output"},
		{"type=oci,dest=a\nb", "control character"},
		{"out\x00", "control character"},
		{"docker-daemon://app:slim", "unknown scheme docker-daemon://"},
		{"registry://x/y", "unknown scheme registry://"},
		{"oci-layout://", "no path after oci-layout://"},
	}
	for _, tt := range bad {
		_, err := Parse(tt.spec)
		if !errors.Is(err, ErrBadOutput) || !strings.Contains(err.Error(), tt.errText) {
			t.Errorf("Parse(%q) error = %v, want ErrBadOutput saying %q", tt.spec, err, tt.errText)
		}
	}
}

func outputEqual(a, b Output) bool {
	return a.Type == b.Type && a.Dest == b.Dest && a.Tar == b.Tar && a.Replace == b.Replace && a.Push == b.Push && slices.Equal(a.Name, b.Name)
}

// Every format, from every kind of image, reads back through slim's own reader with the
// same digest (the docker archive with the same config and layers) and through skopeo
// and umoci.
func TestWriteFormats(t *testing.T) {
	t.Parallel()
	host := testimage.Registry(t)
	for _, sc := range outputSubjects(t) {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			want := digestOfOutput(t, sc.v)
			_, isIndex := sc.v.(v1.ImageIndex)
			tmp := t.TempDir()
			dir := filepath.Join(tmp, "layout")
			slashed := dir + string(filepath.Separator) // as typed in -o dest=out/
			tarFile := filepath.Join(tmp, "sub", "layout.tar")
			archive := filepath.Join(tmp, "docker.tar")
			ref := host + "/" + sc.name + ":slim"
			outs := []Output{
				{Type: OCI, Dest: slashed},
				{Type: OCI, Dest: tarFile, Tar: true},
				{Type: Registry},
			}
			if !isIndex && !sc.zstd {
				outs = append(outs, Output{Type: Docker, Dest: archive})
			}
			var progress bytes.Buffer
			err := Write(t.Context(), sc.v, outs, WithTags([]string{ref}), WithProgress(&progress))
			if err != nil {
				t.Fatalf("Write: %v", err)
			}
			if n := strings.Count(progress.String(), "wrote "); n != len(outs) || !strings.Contains(progress.String(), "wrote registry "+ref+" ("+want.String()+")") {
				t.Errorf("progress has %d lines, want %d, one with the pushed digest:\n%s", n, len(outs), progress.String())
			}
			// No temporary names left next to the outputs.
			assertEmptyDir(t, tmp, "layout", "sub", "docker.tar")
			assertEmptyDir(t, filepath.Dir(tarFile), "layout.tar")

			for _, r := range []string{"oci-layout://" + dir + ":slim", "oci-layout://" + untarTo(t, tarFile) + ":slim", ref} {
				img, idx := openOutput(t, r)
				if sc.name == "docker-types" && strings.HasPrefix(r, "oci-layout://") {
					// Written with OCI manifests (TestWriteLayoutMediaTypes); the same config
					// and layers.
					testimage.Validate(t, img)
					if mustConfigName(t, img) != mustConfigName(t, sc.v.(v1.Image)) || !slices.Equal(layerDigests(t, img), layerDigests(t, sc.v.(v1.Image))) {
						t.Errorf("%s: config or layers differ from the image's", r)
					}
					continue
				}
				if isIndex {
					if idx == nil {
						t.Fatalf("%s: got an image, want the index", r)
					}
					if d := digestOfOutput(t, idx); d != want {
						t.Errorf("%s: digest %s, want %s", r, d, want)
					}
					continue
				}
				if img == nil {
					t.Fatalf("%s: got an index, want an image", r)
				}
				testimage.Validate(t, img)
				if d := digestOfOutput(t, img); d != want {
					t.Errorf("%s: digest %s, want %s", r, d, want)
				}
			}
			if !isIndex && !sc.zstd {
				img, _ := openOutput(t, "docker-archive://"+archive+":"+ref)
				testimage.Validate(t, img)
				src := sc.v.(v1.Image)
				if got, want := mustConfigName(t, img), mustConfigName(t, src); got != want {
					t.Errorf("docker archive: image ID %s, want %s", got, want)
				}
				// ggcr reads an uncompressed archive layer as gzip (compressing it on the
				// fly), so the uncompressed contents are what must match.
				if got, want := layerDiffIDs(t, img), layerDiffIDs(t, src); !slices.Equal(got, want) {
					t.Errorf("docker archive: layers %v, want %v", got, want)
				}
			}

			// Third-party readers. skopeo chooses linux/amd64 from the index.
			t.Run("skopeo", func(t *testing.T) {
				wantSkopeo := want.String()
				if isIndex {
					wantSkopeo = digestOfOutput(t, sc.v.(v1.ImageIndex)).String()
				}
				if got := skopeoDigest(t, "oci:"+dir+":slim"); !isIndex && sc.name != "docker-types" && got != wantSkopeo {
					t.Errorf("skopeo inspect oci: digest %s, want %s", got, wantSkopeo)
				}
				skopeoDigest(t, "oci-archive:"+tarFile+":slim")
				if got := skopeoDigest(t, "docker://"+ref, "--tls-verify=false"); !isIndex && got != wantSkopeo {
					t.Errorf("skopeo inspect docker: digest %s, want %s", got, wantSkopeo)
				}
				skopeoCopy(t, "oci:"+dir+":slim")
				skopeoCopy(t, "oci-archive:"+tarFile+":slim")
				skopeoCopy(t, "docker://"+ref, "--src-tls-verify=false")
				if !isIndex && !sc.zstd {
					skopeoDigest(t, "docker-archive:"+archive)
					skopeoCopy(t, "docker-archive:"+archive)
				}
			})
			t.Run("umoci", func(t *testing.T) {
				if isIndex {
					// umoci 0.4 reads image manifests only, not indexes.
					t.Skip("umoci cannot unpack an index")
				}
				umociUnpack(t, dir, "slim", !sc.zstd)
			})
		})
	}
}

func mustConfigName(t *testing.T, img v1.Image) v1.Hash {
	t.Helper()
	h, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func layerDiffIDs(t *testing.T, img v1.Image) []v1.Hash {
	t.Helper()
	return layerHashes(t, img, v1.Layer.DiffID)
}

func layerDigests(t *testing.T, img v1.Image) []v1.Hash {
	t.Helper()
	return layerHashes(t, img, v1.Layer.Digest)
}

// layerHashes is one hash (digest, diff id) of each of img's layers, bottom first.
func layerHashes(t *testing.T, img v1.Image, hash func(v1.Layer) (v1.Hash, error)) []v1.Hash {
	t.Helper()
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var out []v1.Hash
	for _, l := range ls {
		d, err := hash(l)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

// The same image written twice gives the same bytes, whatever the order of the tags'
// map iteration inside ggcr would have been.
func TestWriteReproducible(t *testing.T) {
	t.Parallel()
	img := testimage.Image(t, outputLayers())
	tags := WithTags([]string{"b.example/app:2", "a.example/app:1", "app"})
	var sums [2][2][]byte
	for i := range 2 {
		dir := t.TempDir()
		outs := []Output{{Type: OCI, Dest: filepath.Join(dir, "l.tar"), Tar: true}, {Type: Docker, Dest: filepath.Join(dir, "d.tar")}}
		if err := Write(t.Context(), img, outs, tags); err != nil {
			t.Fatal(err)
		}
		for j, o := range outs {
			b, err := os.ReadFile(o.Dest)
			if err != nil {
				t.Fatal(err)
			}
			sums[i][j] = b
		}
	}
	for j := range 2 {
		if !bytes.Equal(sums[0][j], sums[1][j]) {
			t.Errorf("output %d differs between two runs", j)
		}
	}
	// Sorted entries, epoch mtimes, the -t order kept in RepoTags.
	var names []string
	for _, m := range testimage.ReadTar(t, bytes.NewReader(sums[0][0])) {
		h := m.Header
		if h.ModTime.Unix() != 0 || h.Uid != 0 || h.Gid != 0 {
			t.Errorf("%s: mtime %v uid %d gid %d, want epoch and root", h.Name, h.ModTime, h.Uid, h.Gid)
		}
		names = append(names, h.Name)
	}
	if !slices.IsSorted(names) || names[len(names)-1] != "oci-layout" {
		t.Errorf("layout tar entries not sorted: %v", names)
	}
	m, err := ggcrtarball.LoadManifest(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(sums[0][1])), nil })
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"b.example/app:2", "a.example/app:1", "app:latest"}; len(m) != 1 || !slices.Equal(m[0].RepoTags, want) {
		t.Errorf("RepoTags = %v, want %v", m, want)
	}
}

// Every -t tag names the image in a layout (skopeo finds it by the tag alone) and is
// pushed; name= in the spec wins over the tags, as in buildx.
func TestWriteTags(t *testing.T) {
	t.Parallel()
	img := testimage.Image(t, outputLayers())
	want := digestOfOutput(t, img)
	host := testimage.Registry(t)
	dir := filepath.Join(t.TempDir(), "layout")
	tags := []string{host + "/app:v1", host + "/other:v2"}
	outs := []Output{
		{Type: OCI, Dest: dir},
		{Type: Registry},
		{Type: Image, Push: true, Name: []string{host + "/named:v3"}},
	}
	if err := Write(t.Context(), img, outs, WithTags(tags)); err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"oci-layout://" + dir + ":v1", "oci-layout://" + dir + ":v2", tags[0], tags[1], host + "/named:v3"} {
		got, _ := openOutput(t, r)
		if got == nil || digestOfOutput(t, got) != want {
			t.Errorf("%s does not hold the image", r)
		}
	}
	r, err := name.ParseReference(host + "/app:v3")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := remote.Head(r); err == nil {
		t.Errorf("%s was pushed though the output had its own name=", r)
	}
	if _, err := exec.LookPath("skopeo"); err == nil {
		if got := skopeoDigest(t, "oci:"+dir+":v2"); got != want.String() {
			t.Errorf("skopeo oci:%s:v2 digest %s, want %s", dir, got, want)
		}
	}
}

func TestWriteRefused(t *testing.T) {
	t.Parallel()
	gz := testimage.Image(t, outputLayers())
	zst := testimage.Image(t, outputLayers(), testimage.WithCompression(testimage.Zstd))
	idx := testimage.Index(t, map[string]v1.Image{"linux/amd64": gz})
	tests := []struct {
		name    string
		v       any
		outs    []Output
		tags    []string
		wantErr error
		errText string
	}{
		{"zstd docker archive", zst, []Output{{Type: Docker, Dest: "x.tar"}}, nil, ErrUnsupportedOutput, "zstd-compressed, which Docker before 25 cannot load; use --compression gzip, or -o type=oci"},
		{"index docker archive", idx, []Output{{Type: Docker, Dest: "x.tar"}}, nil, ErrUnsupportedOutput, "choose one with --platform"},
		{"index load", idx, []Output{{Type: Docker}}, []string{"a:1"}, ErrUnsupportedOutput, "choose one with --platform"},
		{"load without tag", gz, []Output{{Type: Image}}, nil, ErrBadOutput, "needs a name; give -t NAME:TAG"},
		{"push without name", gz, []Output{{Type: Registry}}, nil, ErrBadOutput, "pushing needs a name"},
		{"push to a layout", gz, []Output{{Type: Registry, Name: []string{"oci-layout:///tmp/x"}}}, nil, ErrBadOutput, "needs a registry name"},
		{"push a digest", gz, []Output{{Type: Registry, Name: []string{"127.0.0.1:1/a@sha256:" + strings.Repeat("0", 64)}}}, nil, ErrBadOutput, "not a digest"},
		{"bad name", gz, []Output{{Type: Registry, Name: []string{"UPPER/case"}}}, nil, ErrBadOutput, "lower case"},
		{"docker archive by digest", gz, []Output{{Type: Docker, Dest: "x.tar", Name: []string{"a@sha256:" + strings.Repeat("0", 64)}}}, nil, ErrBadOutput, "docker cannot load by digest"},
		{"oci without dest", gz, []Output{{Type: OCI}}, nil, ErrBadOutput, "needs dest"},
		{"unknown type", gz, []Output{{Type: "local", Dest: "x"}}, nil, ErrBadOutput, "unknown type"},
		{"no outputs", gz, nil, nil, ErrBadOutput, "no output given"},
		{"same dest twice", gz, []Output{{Type: OCI, Dest: "x.tar", Tar: true}, {Type: Docker, Dest: "./x.tar"}}, nil, ErrBadOutput, "both write to"},
		{"not an image", "image", []Output{{Type: OCI, Dest: "x"}}, nil, ErrBadOutput, "neither an image nor an index"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			var outs []Output
			if tt.outs != nil {
				// A good output next to the bad one: the check comes before any write.
				outs = append([]Output{{Type: OCI, Dest: filepath.Join(dir, "good")}}, tt.outs...)
			}
			for i := range outs {
				if outs[i].Dest != "" && !filepath.IsAbs(outs[i].Dest) {
					outs[i].Dest = filepath.Join(dir, outs[i].Dest)
				}
			}
			err := Write(t.Context(), tt.v, outs, WithTags(tt.tags))
			if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.errText) {
				t.Fatalf("Write error = %v, want %v saying %q", err, tt.wantErr, tt.errText)
			}
			assertEmptyDir(t, dir)
		})
	}
}

func assertEmptyDir(t *testing.T, dir string, keep ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !slices.Contains(keep, e.Name()) {
			t.Errorf("%s left behind in %s", e.Name(), dir)
		}
	}
}

// failingLayer yields half of its compressed bytes, then an error: a registry
// connection that drops, a disk that fails.
type failingLayer struct {
	v1.Layer
}

func (l failingLayer) Compressed() (io.ReadCloser, error) {
	rc, err := l.Layer.Compressed()
	if err != nil {
		return nil, err
	}
	size, err := l.Size()
	if err != nil {
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{io.MultiReader(io.LimitReader(rc, size/2), errReader{}), rc}, nil
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

// liarLayer yields other bytes than its digest says.
type liarLayer struct{ v1.Layer }

func (l liarLayer) Compressed() (io.ReadCloser, error) {
	size, err := l.Size()
	if err != nil {
		return nil, err
	}
	return io.NopCloser(bytes.NewReader(make([]byte, size))), nil
}

// A run that fails part-way, at any stage, leaves nothing under the destination names,
// no temporary files, no created parents, and an existing layout untouched.
func TestWriteFailureLeavesNothing(t *testing.T) {
	t.Parallel()
	good := testimage.Image(t, outputLayers())
	mkBroken := func(wrap func(v1.Layer) v1.Layer) v1.Image {
		ls, err := good.Layers()
		if err != nil {
			t.Fatal(err)
		}
		return testimage.ImageFromLayers(t, []v1.Layer{ls[0], wrap(ls[1])})
	}
	broken := mkBroken(func(l v1.Layer) v1.Layer { return failingLayer{l} })
	liar := mkBroken(func(l v1.Layer) v1.Layer { return liarLayer{l} })
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	failPush := WithRefOptions(imageref.WithTransport(roundTripFunc(func(*http.Request) (*http.Response, error) {
		return nil, errors.New("network is down")
	})))

	tests := []struct {
		name    string
		ctx     context.Context
		img     v1.Image
		outs    func(dir string) []Output
		opts    []Option
		errText string
	}{
		{"layer fails in a layout dir", t.Context(), broken, func(d string) []Output {
			return []Output{{Type: OCI, Dest: filepath.Join(d, "new", "deeper", "layout")}}
		}, nil, "connection reset"},
		{"layer fails in a layout tar", t.Context(), broken, func(d string) []Output {
			return []Output{{Type: OCI, Dest: filepath.Join(d, "l.tar"), Tar: true}}
		}, nil, "connection reset"},
		{"layer fails in a docker archive", t.Context(), broken, func(d string) []Output {
			return []Output{{Type: Docker, Dest: filepath.Join(d, "d.tar")}}
		}, nil, "connection reset"},
		{"layer lies about its digest", t.Context(), liar, func(d string) []Output {
			return []Output{{Type: OCI, Dest: filepath.Join(d, "l.tar"), Tar: true}}
		}, nil, "content has digest"},
		{"second output fails", t.Context(), broken, func(d string) []Output {
			// The first output succeeded on its own, yet must not appear.
			return []Output{{Type: OCI, Dest: filepath.Join(d, "l.tar"), Tar: true}, {Type: Docker, Dest: filepath.Join(d, "d.tar")}}
		}, nil, "connection reset"},
		{"push fails after the files", t.Context(), good, func(d string) []Output {
			return []Output{{Type: OCI, Dest: filepath.Join(d, "l.tar"), Tar: true}, {Type: Registry, Name: []string{"127.0.0.1:1/app:v1"}}}
		}, []Option{failPush}, "network is down"},
		{"cancelled", cancelled, good, func(d string) []Output {
			return []Output{{Type: OCI, Dest: filepath.Join(d, "l.tar"), Tar: true}, {Type: Docker, Dest: filepath.Join(d, "d.tar")}}
		}, nil, "context canceled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			// An older layout in place must survive a failed replacement.
			old := filepath.Join(dir, "existing")
			if err := Write(t.Context(), good, []Output{{Type: OCI, Dest: old}}, WithTags([]string{"old:v0"})); err != nil {
				t.Fatal(err)
			}
			before := digestOfOutput(t, good)
			err := Write(tt.ctx, tt.img, append(tt.outs(dir), Output{Type: OCI, Dest: old}), tt.opts...)
			if err == nil || !strings.Contains(err.Error(), tt.errText) {
				t.Fatalf("Write error = %v, want one saying %q", err, tt.errText)
			}
			assertEmptyDir(t, dir, "existing")
			img, _ := openOutput(t, "oci-layout://"+old+":v0")
			if digestOfOutput(t, img) != before {
				t.Errorf("the existing layout changed")
			}
		})
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// With replace=true an existing layout (or empty directory) is replaced whole; a
// directory of other files is refused, with replace=true or without.
func TestWriteReplacesLayout(t *testing.T) {
	t.Parallel()
	a := testimage.Image(t, outputLayers())
	b := testimage.Image(t, outputLayers()[:1])
	dir := t.TempDir()
	layout := filepath.Join(dir, "layout")
	if err := Write(t.Context(), a, []Output{{Type: OCI, Dest: layout}}, WithTags([]string{"app:v0"})); err != nil {
		t.Fatal(err)
	}
	for _, img := range []v1.Image{a, b} {
		if err := Write(t.Context(), img, []Output{{Type: OCI, Dest: layout, Replace: true}}, WithTags([]string{"app:v1"})); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := openOutput(t, "oci-layout://"+layout+":v1")
	if digestOfOutput(t, got) != digestOfOutput(t, b) {
		t.Errorf("layout holds the old image")
	}
	if idx := readLayoutIndex(t, layout); len(idx.Manifests) != 1 {
		t.Errorf("replaced layout has %d entries, want 1", len(idx.Manifests))
	}
	// Only the new image's blobs are left.
	blobs, err := os.ReadDir(filepath.Join(layout, "blobs", "sha256"))
	if err != nil {
		t.Fatal(err)
	}
	if len(blobs) != 3 {
		t.Errorf("layout has %d blobs, want 3 (manifest, config, one layer)", len(blobs))
	}
	assertEmptyDir(t, dir, "layout")

	emptyDir := filepath.Join(dir, "empty")
	if err := os.Mkdir(emptyDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, replace := range []bool{false, true} {
		if err := Write(t.Context(), a, []Output{{Type: OCI, Dest: emptyDir, Replace: replace}}); err != nil {
			t.Errorf("writing into an empty directory (replace=%v): %v", replace, err)
		}
	}

	home := filepath.Join(dir, "home")
	if err := os.Mkdir(home, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, "notes.txt"), []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, replace := range []bool{false, true} {
		err = Write(t.Context(), a, []Output{{Type: OCI, Dest: home, Replace: replace}})
		if !errors.Is(err, ErrBadOutput) || !strings.Contains(err.Error(), "neither empty nor an OCI layout") {
			t.Errorf("writing over a directory of other files (replace=%v): %v, want ErrBadOutput", replace, err)
		}
	}
	assertEmptyDir(t, home, "notes.txt")
	err = Write(t.Context(), a, []Output{{Type: OCI, Dest: home, Tar: true}})
	if !errors.Is(err, ErrBadOutput) || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("writing a tar over a directory: %v, want ErrBadOutput", err)
	}
}

// --load with no daemon says where it looked and what to do instead.
func TestLoadWithoutDaemon(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "nothing.sock")
	t.Setenv("DOCKER_HOST", "unix://"+sock)
	img := testimage.Image(t, outputLayers())
	for _, call := range []func() error{
		func() error { return Load(t.Context(), img, []string{"app:slim"}) },
		func() error {
			return Write(t.Context(), img, []Output{{Type: Docker}}, WithTags([]string{"app:slim"}))
		},
	} {
		err := call()
		if !errors.Is(err, ErrNoDaemon) {
			t.Fatalf("error = %v, want ErrNoDaemon", err)
		}
		for _, want := range []string{"cannot reach the Docker daemon at unix://" + sock, "use -o type=docker,dest=FILE and `docker load`"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		}
	}
}

// fakeDaemon is the part of a Docker daemon that ggcr's daemon.Write talks to.
type fakeDaemon struct {
	daemon.Client
	api      string
	response string

	mu     sync.Mutex
	loaded []byte
	tagged []string
}

func (f *fakeDaemon) Ping(context.Context, client.PingOptions) (client.PingResult, error) {
	return client.PingResult{APIVersion: f.api}, nil
}

func (f *fakeDaemon) ImageInspect(_ context.Context, ref string, _ ...client.ImageInspectOption) (client.ImageInspectResult, error) {
	return client.ImageInspectResult{}, fmt.Errorf("no such image: %s", ref)
}

func (f *fakeDaemon) ImageLoad(_ context.Context, r io.Reader, _ ...client.ImageLoadOption) (client.ImageLoadResult, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.loaded = b
	f.mu.Unlock()
	return io.NopCloser(strings.NewReader(f.response)), nil
}

func (f *fakeDaemon) ImageTag(_ context.Context, o client.ImageTagOptions) (client.ImageTagResult, error) {
	f.mu.Lock()
	f.tagged = append(f.tagged, o.Target)
	f.mu.Unlock()
	return client.ImageTagResult{}, nil
}

func TestLoad(t *testing.T) {
	t.Parallel()
	gz := testimage.Image(t, outputLayers())
	zst := testimage.Image(t, outputLayers(), testimage.WithCompression(testimage.Zstd))
	const ok = `{"stream":"Loaded image: app:slim\n"}`
	tests := []struct {
		name     string
		img      v1.Image
		api      string
		response string
		wantErr  error
		errText  string
	}{
		{name: "gzip", img: gz, api: "1.41", response: ok},
		{name: "zstd on docker 25", img: zst, api: "1.44", response: ok},
		{name: "zstd on docker 24", img: zst, api: "1.43", wantErr: ErrUnsupportedOutput, errText: "Docker before 25 cannot load"},
		{name: "daemon reports an error", img: gz, api: "1.47", response: `{"errorDetail":{"message":"no space left on device"},"error":"no space left on device"}`, errText: "no space left on device"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeDaemon{api: tt.api, response: tt.response}
			err := Write(t.Context(), tt.img, []Output{{Type: Image}}, WithTags([]string{"app:slim", "registry.example/app:v1"}), withDaemonClient(f))
			if tt.errText != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errText) || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Fatalf("error = %v, want %v saying %q", err, tt.wantErr, tt.errText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// What reached the daemon is an archive of this image, under the first tag.
			m, err := ggcrtarball.LoadManifest(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(f.loaded)), nil })
			if err != nil {
				t.Fatal(err)
			}
			if len(m) != 1 || !slices.Equal(m[0].RepoTags, []string{"app:slim"}) || m[0].Config != mustConfigName(t, tt.img).String() {
				t.Errorf("loaded %+v", m)
			}
			if !slices.Equal(f.tagged, []string{"registry.example/app:v1"}) {
				t.Errorf("tagged %v, want the second tag", f.tagged)
			}
		})
	}
}

// An OCI layout holds OCI manifests: an OCI image is written as it is (same digest); a
// Docker-typed image or index gets OCI manifests over the very same config and layer
// blobs.
func TestWriteLayoutMediaTypes(t *testing.T) {
	t.Parallel()
	docker := testimage.Image(t, outputLayers(), testimage.WithDocker())
	dockerArm := testimage.Image(t, outputLayers(), testimage.WithDocker(), testimage.WithPlatform("linux", "arm64"))
	dockerIndex := testimage.Index(t, map[string]v1.Image{"linux/amd64": docker, "linux/arm64": dockerArm})
	for _, sc := range append(outputSubjects(t), outputCase{name: "docker-index", v: dockerIndex}) {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "l")
			if err := Write(t.Context(), sc.v, []Output{{Type: OCI, Dest: dir}}); err != nil {
				t.Fatal(err)
			}
			img, idx := openOutput(t, "oci-layout://"+dir)
			var srcImages, gotImages []v1.Image
			if idx != nil {
				mt, err := idx.MediaType()
				if err != nil || mt != types.OCIImageIndex {
					t.Errorf("index media type %s, %v", mt, err)
				}
				gotImages = indexImages(t, idx)
				srcImages = indexImages(t, sc.v.(v1.ImageIndex))
			} else {
				gotImages, srcImages = []v1.Image{img}, []v1.Image{sc.v.(v1.Image)}
			}
			if len(gotImages) != len(srcImages) {
				t.Fatalf("%d images, want %d", len(gotImages), len(srcImages))
			}
			for i, got := range gotImages {
				testimage.Validate(t, got)
				m, err := got.Manifest()
				if err != nil {
					t.Fatal(err)
				}
				if m.MediaType != types.OCIManifestSchema1 || m.Config.MediaType != types.OCIConfigJSON {
					t.Errorf("manifest %s, config %s; want OCI", m.MediaType, m.Config.MediaType)
				}
				for _, l := range m.Layers {
					if !strings.HasPrefix(string(l.MediaType), "application/vnd.oci.") {
						t.Errorf("layer media type %s", l.MediaType)
					}
				}
				src := srcImages[i]
				if mustConfigName(t, got) != mustConfigName(t, src) || !slices.Equal(layerDigests(t, got), layerDigests(t, src)) {
					t.Errorf("config or layers changed")
				}
				srcMT, _ := src.MediaType()
				if same := digestOfOutput(t, got) == digestOfOutput(t, src); same != (srcMT == types.OCIManifestSchema1) {
					t.Errorf("digest kept = %v for a %s source", same, srcMT)
				}
			}
		})
	}
}

func indexImages(t *testing.T, idx v1.ImageIndex) []v1.Image {
	t.Helper()
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var out []v1.Image
	for _, d := range im.Manifests {
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, img)
	}
	return out
}

// Whatever Parse accepts, String writes back in a form that parses to the same
// output.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"type=oci,dest=out/", "img.tar", `type=image,"name=a:1,b:2",push=true`, "type=docker", "type=oci,dest= x,tar=false", `type=oci,"dest=a""b"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		out, err := Parse(spec)
		if err != nil {
			if !errors.Is(err, ErrBadOutput) {
				t.Fatalf("Parse(%q) error %v is not ErrBadOutput", spec, err)
			}
			return
		}
		again, err := Parse(out.String())
		if err != nil || !outputEqual(again, out) {
			t.Fatalf("Parse(%q) = %+v; String %q reads back as %+v, %v", spec, out, out.String(), again, err)
		}
	})
}

// Where a Docker daemon runs, the docker archive loads with `docker load` and --load
// puts the image in the daemon, both under the image ID slim reports.
func TestLoadIntoDocker(t *testing.T) {
	t.Parallel()
	c, err := client.New(client.FromEnv)
	if err != nil {
		testimage.Missing(t, "no Docker client (%v); the docker load checks run where a daemon does", err)
	}
	defer c.Close()
	if _, err := c.Ping(t.Context(), client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		testimage.Missing(t, "no Docker daemon at %s; the docker load checks run where one does", c.DaemonHost())
	}
	img := testimage.Image(t, outputLayers(), testimage.WithConfig(func(c *v1.Config) { c.Cmd = []string{"/bin/app"} }))
	want := mustConfigName(t, img)
	tag := fmt.Sprintf("slim-test/output:%d", os.Getpid())
	fileTag := tag + "-file"
	t.Cleanup(func() {
		for _, r := range []string{tag, fileTag} {
			_, _ = c.ImageRemove(context.Background(), r, client.ImageRemoveOptions{Force: true})
		}
	})
	archive := filepath.Join(t.TempDir(), "d.tar")
	if err := Write(t.Context(), img, []Output{{Type: Docker, Dest: archive, Name: []string{fileTag}}, {Type: Docker}}, WithTags([]string{tag})); err != nil {
		t.Fatal(err)
	}
	loaded := []string{tag}
	if docker, err := exec.LookPath("docker"); err == nil {
		out := runTool(t, docker, "load", "-i", archive)
		if !strings.Contains(string(out), fileTag) {
			t.Errorf("docker load: %s", out)
		}
		loaded = append(loaded, fileTag)
	}
	for _, r := range loaded {
		got, _ := openOutput(t, "docker-daemon://"+r)
		if got == nil || mustConfigName(t, got) != want {
			t.Errorf("docker-daemon://%s is not the image %s", r, want)
		}
	}
}

// Push targets follow imageref's rules: plain HTTP for loopback registries, and for all
// with imageref.WithInsecure.
func TestRegistryScheme(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		insecure bool
		scheme   string
	}{
		{"registry.example/app:v1", false, "https"},
		{"registry.example/app:v1", true, "http"},
		{"localhost:5000/app:v1", false, "http"},
		{"127.0.0.1:5000/app:v1", false, "http"},
		{"app", false, "https"},
	} {
		refs, err := registryRefs([]string{tt.name}, []imageref.Option{imageref.WithInsecure(tt.insecure)})
		if err != nil {
			t.Fatal(err)
		}
		if got := refs[0].Context().Scheme(); got != tt.scheme {
			t.Errorf("%s (insecure %v): scheme %s, want %s", tt.name, tt.insecure, got, tt.scheme)
		}
	}
}

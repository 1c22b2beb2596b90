package output

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/slim-dev/slim/internal/testimage"
)

func readLayoutIndex(t *testing.T, dir string) v1.IndexManifest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var idx v1.IndexManifest
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatalf("index.json does not parse: %v\n%s", err, b)
	}
	return idx
}

// A layout directory is a store: each write adds its image, replacing only the entry
// of the same tag, and what another tool put in index.json stays as it was.
func TestWriteLayoutStore(t *testing.T) {
	t.Parallel()
	a := testimage.Image(t, outputLayers())
	b := testimage.Image(t, outputLayers()[:1])
	c := testimage.Image(t, outputLayers()[1:])
	dir := t.TempDir()
	layout := filepath.Join(dir, "layout")
	write := func(img v1.Image, tags ...string) {
		t.Helper()
		if err := Write(t.Context(), img, []Output{{Type: OCI, Dest: layout}}, WithTags(tags)); err != nil {
			t.Fatal(err)
		}
	}
	write(a, "app:v1")
	// Another tool's entry, with a field slim does not know, must survive byte for byte.
	foreign := `{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:` + strings.Repeat("a", 64) + `","size":1,"annotations":{"org.opencontainers.image.ref.name":"other"},"x-tool":"kept"}`
	idxPath := filepath.Join(layout, "index.json")
	raw, err := os.ReadFile(idxPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(idxPath, []byte(strings.Replace(string(raw), `"manifests":[`, `"manifests":[`+foreign+",", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	write(b, "app:v2")
	write(c) // untagged: added, replaces nothing
	write(c) // the same untagged image is not added twice
	write(b, "app:v1")

	for tag, img := range map[string]v1.Image{"v1": b, "v2": b} {
		got, _ := openOutput(t, "oci-layout://"+layout+":"+tag)
		if digestOfOutput(t, got) != digestOfOutput(t, img) {
			t.Errorf("tag %s holds the wrong image", tag)
		}
	}
	idx := readLayoutIndex(t, layout)
	if len(idx.Manifests) != 4 { // other, v2, untagged c, v1
		t.Errorf("index has %d entries, want 4: %+v", len(idx.Manifests), idx.Manifests)
	}
	raw, _ = os.ReadFile(idxPath)
	if !strings.Contains(string(raw), foreign) {
		t.Errorf("another tool's entry changed:\n%s", raw)
	}
	// The blobs of a (its tag now b's) stay: a store drops nothing it was not told to.
	blobs, _ := os.ReadDir(filepath.Join(layout, "blobs", "sha256"))
	if len(blobs) != 8 { // a: manifest, config, 2 layers; b and c: manifest, config
		t.Errorf("layout has %d blobs, want 8", len(blobs))
	}
	assertEmptyDir(t, dir, "layout")
	assertEmptyDir(t, layout, "blobs", "index.json", "oci-layout")

	// A layout whose index.json cannot be read is not overwritten.
	if err := os.WriteFile(idxPath, []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Write(t.Context(), a, []Output{{Type: OCI, Dest: layout}}); err == nil || !strings.Contains(err.Error(), "replace=true") {
		t.Errorf("writing into a layout with a broken index.json: %v, want an error naming replace=true", err)
	}
}

// A layout blob of the wrong size (truncated by something else) is replaced by the
// verified one; one of the right size is not written again.
func TestWriteLayoutStoreBlobs(t *testing.T) {
	t.Parallel()
	a := testimage.Image(t, outputLayers())
	layout := filepath.Join(t.TempDir(), "layout")
	if err := Write(t.Context(), a, []Output{{Type: OCI, Dest: layout}}); err != nil {
		t.Fatal(err)
	}
	ls, err := a.Layers()
	if err != nil {
		t.Fatal(err)
	}
	d, _ := ls[0].Digest()
	p := filepath.Join(layout, "blobs", "sha256", d.Hex)
	if err := os.WriteFile(p, []byte("short"), 0o644); err != nil {
		t.Fatal(err)
	}
	d1, _ := ls[1].Digest()
	kept, _ := os.Stat(filepath.Join(layout, "blobs", "sha256", d1.Hex))
	if err := Write(t.Context(), a, []Output{{Type: OCI, Dest: layout}}, WithTags([]string{"x:v1"})); err != nil {
		t.Fatal(err)
	}
	got, _ := openOutput(t, "oci-layout://"+layout+":v1")
	if err := validate.Image(got); err != nil {
		t.Errorf("layout after repair: %v", err)
	}
	now, _ := os.Stat(filepath.Join(layout, "blobs", "sha256", d1.Hex))
	if !os.SameFile(kept, now) {
		t.Errorf("an intact blob was written again")
	}
}

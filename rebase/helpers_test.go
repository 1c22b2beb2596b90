package rebase

import (
	"os"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slim-dev/slim/internal/testimage"
)

// digests lists an image's layer digests, bottom first.
func digests(t *testing.T, img v1.Image) []v1.Hash {
	t.Helper()
	mf, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	var out []v1.Hash
	for _, d := range mf.Layers {
		out = append(out, d.Digest)
	}
	return out
}

func configOf(t *testing.T, img v1.Image) *v1.ConfigFile {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	return cf
}

// baseImage is a two-layer base with a config, as a distro base would be.
func baseImage(t *testing.T, opts ...testimage.Option) v1.Image {
	t.Helper()
	opts = append([]testimage.Option{testimage.WithConfig(func(c *v1.Config) {
		c.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8"}
		c.Cmd = []string{"/bin/sh"}
		c.Labels = map[string]string{"vendor": "base", "keep": "base"}
		c.ExposedPorts = map[string]struct{}{"22/tcp": {}}
	})}, opts...)
	return testimage.Image(t, [][]testimage.Entry{
		{testimage.Dir("bin"), testimage.File("bin/sh", "#!sh", 0o755)},
		{testimage.Dir("etc"), testimage.File("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n")},
	}, opts...)
}

func newLayer(t *testing.T, opts ...testimage.Option) v1.Layer {
	t.Helper()
	return testimage.Layer(t, []testimage.Entry{
		testimage.Dir("app"), testimage.File("app/server", "#!/bin/sh\necho hi\n", 0o755),
	}, opts...)
}

func readDoc(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

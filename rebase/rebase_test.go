package rebase

import (
	"context"
	"errors"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/slim-dev/slim/internal/imagefs"
	"github.com/slim-dev/slim/internal/imageref"
	"github.com/slim-dev/slim/internal/testimage"
)

func TestRebase(t *testing.T) {
	ctx := context.Background()
	baseA := baseImage(t)
	baseADocker := baseImage(t, testimage.WithDocker())
	baseB := testimage.Image(t, [][]testimage.Entry{
		{testimage.Dir("usr"), testimage.File("usr/bin-b", "b", 0o755)},
	}, testimage.WithConfig(func(c *v1.Config) {
		c.Env = []string{"PATH=/usr/sbin:/usr/bin", "B=1"}
		c.Labels = map[string]string{"vendor": "b"}
	}))
	own := []v1.Layer{
		newLayer(t),
		testimage.Layer(t, []testimage.Entry{testimage.File("etc/app.conf", "x=1\n")}),
	}
	src := &v1.ConfigFile{Config: v1.Config{
		Entrypoint: []string{"/app/server"}, User: "nobody", Env: []string{"PATH=/app:/usr/bin"},
	}}
	assembled := func(t *testing.T, base v1.Image, name string, opts ...AssembleOption) v1.Image {
		t.Helper()
		img, err := Assemble(ctx, base, own, src, append([]AssembleOption{WithBaseName(name), WithHistory("slim: app", "slim: conf")}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
	host := testimage.Registry(t)
	regA := testimage.Push(t, host, "bases/a:1", baseA)
	regADocker := testimage.Push(t, host, "bases/a-docker:1", baseADocker)
	layoutA := "oci-layout://" + testimage.WriteLayout(t, testimage.Index(t, map[string]v1.Image{"linux/amd64": baseA})) + ":latest"
	staticBase, err := ResolveBase(ctx, "static", WithPlatform(v1.Platform{OS: "linux", Architecture: "amd64"}))
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		img     v1.Image
		opts    []RebaseOption
		wantN   int // old base layers dropped
		wantErr error
		wantMsg string
	}{
		{name: "old base given", img: assembled(t, baseA, ""), opts: []RebaseOption{WithOldBase(baseA)}, wantN: 2},
		{name: "old base from registry annotation", img: assembled(t, baseA, regA), wantN: 2},
		{name: "old base from docker labels", img: assembled(t, baseADocker, regADocker), wantN: 2},
		{name: "old base from layout annotation (index)", img: assembled(t, baseA, layoutA), wantN: 2},
		{name: "old base scratch", img: assembled(t, mustScratch(t), "scratch"), wantN: 0},
		{name: "old base static", img: assembled(t, staticBase.Image, "static"), wantN: 1},
		{name: "wrong old base", img: assembled(t, baseA, ""), opts: []RebaseOption{WithOldBase(baseB)}, wantErr: ErrOldBase, wantMsg: "--old-base"},
		{name: "no annotation", img: assembled(t, baseA, ""), wantErr: ErrOldBase, wantMsg: "--old-base"},
		{name: "annotation names an unreachable registry", img: assembled(t, baseA, "127.0.0.1:1/bases/a:1"), wantErr: ErrNoNetwork, wantMsg: "--old-base"},
		{name: "annotation names a missing image", img: assembled(t, baseA, host+"/bases/gone:1"), wantErr: ErrOldBase, wantMsg: "--old-base"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := append([]RebaseOption{WithBaseName("example.com/b:1"), WithRefOptions(imageref.WithPlatform(v1.Platform{OS: "linux", Architecture: "amd64"}))}, tt.opts...)
			out, err := Rebase(ctx, tt.img, baseB, opts...)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error %v, want %v", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantMsg) {
					t.Errorf("error %q does not say %q", err, tt.wantMsg)
				}
				t.Logf("error: %v", err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			testimage.Validate(t, out)

			// New base layers, then the own layers, byte-identical.
			want := append(digests(t, baseB), digests(t, tt.img)[tt.wantN:]...)
			if got := digests(t, out); !slices.Equal(got, want) {
				t.Fatalf("layers %v, want %v", got, want)
			}
			cf := configOf(t, out)
			mf, _ := out.Manifest()
			names := mf.Annotations
			if strings.Contains(string(mf.MediaType), "docker") {
				names = cf.Config.Labels
			}
			bd, _ := baseB.Digest()
			if names[specs.AnnotationBaseImageName] != "example.com/b:1" || names[specs.AnnotationBaseImageDigest] != bd.String() {
				t.Errorf("base annotations %v", names)
			}
			// Config: the image's runtime settings over the new base's.
			if !slices.Equal(cf.Config.Entrypoint, []string{"/app/server"}) || cf.Config.User != "nobody" {
				t.Errorf("entrypoint %q user %q", cf.Config.Entrypoint, cf.Config.User)
			}
			// The old base's variables give way to the new base's; the image's PATH
			// comes first, then the new base's directories it lacks.
			path := ""
			for _, kv := range cf.Config.Env {
				if v, ok := strings.CutPrefix(kv, "PATH="); ok {
					path = v
				}
				if strings.HasPrefix(kv, "LANG=") || strings.HasPrefix(kv, "SSL_CERT_FILE=") {
					t.Errorf("old base variable %s survived", kv)
				}
			}
			if !slices.Contains(cf.Config.Env, "B=1") || !strings.HasPrefix(path, "/app:/usr/bin:") || !strings.Contains(path+":", ":/usr/sbin:") {
				t.Errorf("env %q", cf.Config.Env)
			}
			if cf.Config.Labels["vendor"] != "b" {
				t.Errorf("labels %v: the old base's vendor label should give way to the new base's", cf.Config.Labels)
			}
			// History: the new base's, then the image's own entries.
			baseHist := configOf(t, baseB).History
			if len(cf.History) != len(baseHist)+2 || cf.History[len(baseHist)].CreatedBy != "slim: app" || cf.History[len(baseHist)+1].CreatedBy != "slim: conf" {
				t.Errorf("history %+v", cf.History)
			}
		})
	}
}

func TestOwnHistory(t *testing.T) {
	h := func(s string, empty bool) v1.History { return v1.History{CreatedBy: s, EmptyLayer: empty} }
	full := []v1.History{h("base 1", false), h("base env", true), h("base 2", false), h("base cmd", true), h("own 1", false), h("own env", true), h("own 2", false)}
	oldHist := full[:4]
	tests := []struct {
		name string
		old  []v1.History
		n    int
		want []string
	}{
		{name: "old base history is a prefix", old: oldHist, n: 2, want: []string{"own 1", "own env", "own 2"}},
		{name: "counting layers only", n: 2, want: []string{"base cmd", "own 1", "own env", "own 2"}},
		{name: "no base", n: 0, want: []string{"base 1", "base env", "base 2", "base cmd", "own 1", "own env", "own 2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			layers := 2
			if tt.n == 0 {
				layers = 4
			}
			got := ownHistory(full, tt.n, tt.old, layers, mustEpoch())
			var s []string
			for _, e := range got {
				s = append(s, e.CreatedBy)
			}
			if !slices.Equal(s, tt.want) {
				t.Errorf("own history %q, want %q", s, tt.want)
			}
		})
	}
	// History that does not match the layers is replaced, one entry per layer.
	got := ownHistory(full[:2], 1, nil, 3, mustEpoch())
	if len(got) != 3 || got[0].EmptyLayer {
		t.Errorf("stand-in history %+v", got)
	}
}

func mustEpoch() time.Time { return time.Unix(0, 0).UTC() }

// Issue 13, item 8: rebase kept a "../" entry that recompress dropped and extract
// ignored; all refuse it now, naming it.
func TestRebaseRefusesUnsafeEntries(t *testing.T) {
	ctx := context.Background()
	base := baseImage(t)
	own := []v1.Layer{testimage.Layer(t, []testimage.Entry{testimage.File("../evil", "x"), testimage.File("ok", "y")})}
	img, err := Assemble(ctx, base, own, &v1.ConfigFile{}, WithHistory("slim: evil"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Rebase(ctx, img, mustScratch(t), WithOldBase(base))
	if !errors.Is(err, imagefs.ErrUnsafeEntry) || !strings.Contains(err.Error(), `"../evil"`) {
		t.Fatalf("got %v, want %v naming \"../evil\"", err, imagefs.ErrUnsafeEntry)
	}
}

// Issue 13, item 10: names that are not UTF-8 are legal in tar and on Linux; the
// moved layer is checked and kept byte for byte.
func TestRebaseKeepsNonUTF8Names(t *testing.T) {
	ctx := context.Background()
	base := baseImage(t)
	l := testimage.Layer(t, []testimage.Entry{testimage.Dir("d"), testimage.File("d/\xff\xfe-bad-utf8", "x")})
	img, err := Assemble(ctx, base, []v1.Layer{l}, &v1.ConfigFile{}, WithHistory("slim: names"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := Rebase(ctx, img, mustScratch(t), WithOldBase(base))
	if err != nil {
		t.Fatal(err)
	}
	layers, err := out.Layers()
	if err != nil {
		t.Fatal(err)
	}
	got, _ := layers[len(layers)-1].Digest()
	want, _ := l.Digest()
	if got != want {
		t.Fatalf("moved layer is %s, want %s", got, want)
	}
}

// With WithLenient the entry is dropped instead, with a warning naming it: the layer
// that had it is rewritten without it, and the result checks clean.
func TestRebaseLenientDropsUnsafeEntries(t *testing.T) {
	ctx := context.Background()
	base := baseImage(t)
	own := []v1.Layer{testimage.Layer(t, []testimage.Entry{testimage.File("../evil", "x"), testimage.Hardlink("h", "/../../etc/passwd"), testimage.File("ok", "y")})}
	img, err := Assemble(ctx, base, own, &v1.ConfigFile{}, WithHistory("slim: evil"))
	if err != nil {
		t.Fatal(err)
	}
	var warnings []string
	out, err := Rebase(ctx, img, mustScratch(t), WithOldBase(base), WithLenient(func(s string) { warnings = append(warnings, s) }))
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 2 || !strings.Contains(warnings[0], `"../evil"`) || !strings.Contains(warnings[1], `"/../../etc/passwd"`) {
		t.Errorf("warnings %q, want one naming each entry", warnings)
	}
	fsys, err := imagefs.New(ctx, out)
	if err != nil {
		t.Fatalf("the result is refused: %v", err)
	}
	defer fsys.Close()
	if _, err := fs.Stat(fsys, "ok"); err != nil {
		t.Errorf("ok is gone: %v", err)
	}
	if _, err := fs.Stat(fsys, "h"); err == nil {
		t.Errorf("the escaping hard link is in the result")
	}
}

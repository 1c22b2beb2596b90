package tarball

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/zstd"

	"github.com/slim-dev/slim/internal/mediatype"
	ti "github.com/slim-dev/slim/internal/testimage"
)

func sampleEntries() []Entry {
	return []Entry{
		dir("app", 0o755),
		file("app/server", string(testData(300<<10)), 0o755),
		file("app/config.json", `{"port": 8080}`, 0o644),
		symlink("app/current", "server"),
	}
}

func TestNewLayerMediaTypes(t *testing.T) {
	tests := []struct {
		name string
		opts []Option
		want types.MediaType
	}{
		{"default is oci gzip", nil, types.OCILayer},
		{"oci zstd", []Option{WithCompression(Zstd)}, types.OCILayerZStd},
		{"oci zstd best", []Option{WithCompression(Zstd), WithLevel(LevelBest)}, types.OCILayerZStd},
		{"oci uncompressed", []Option{WithCompression(Uncompressed)}, types.OCIUncompressedLayer},
		{"docker gzip", []Option{WithMediaTypes(mediatype.Docker)}, types.DockerLayer},
		{"docker gzip best", []Option{WithMediaTypes(mediatype.Docker), WithLevel(LevelBest)}, types.DockerLayer},
		{"docker uncompressed", []Option{WithMediaTypes(mediatype.Docker), WithCompression(Uncompressed)}, types.DockerUncompressedLayer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := NewLayer(sampleEntries(), append(tt.opts, WithTempDir(t.TempDir()))...)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			if mt, _ := l.MediaType(); mt != tt.want {
				t.Errorf("MediaType() = %s, want %s", mt, tt.want)
			}
			checkLayer(t, l)

			// The uncompressed stream is exactly what WriteTar writes.
			rc, err := l.Uncompressed()
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatal(err)
			}
			if want := writeTarBytes(t, sampleEntries(), tt.opts...); !bytes.Equal(got, want) {
				t.Errorf("Uncompressed() gives %d bytes, WriteTar %d", len(got), len(want))
			}
		})
	}
}

func TestLayerCloseRemovesSpoolFile(t *testing.T) {
	tmp := t.TempDir()
	l, err := NewLayer(sampleEntries(), WithTempDir(tmp))
	if err != nil {
		t.Fatal(err)
	}
	files, _ := os.ReadDir(tmp)
	if len(files) != 1 {
		t.Fatalf("spool dir holds %d files, want 1", len(files))
	}
	checkLayer(t, l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if files, _ := os.ReadDir(tmp); len(files) != 0 {
		t.Errorf("Close left %d files behind", len(files))
	}
	if _, err := l.Compressed(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Compressed() after Close: %v, want os.ErrClosed", err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestNewLayerFailureLeavesNothing(t *testing.T) {
	tmp := t.TempDir()
	bad := append(sampleEntries(), file("../escape", "x", 0o644))
	if _, err := NewLayer(bad, WithTempDir(tmp)); !errors.Is(err, ErrUnsafePath) {
		t.Fatalf("NewLayer() error = %v, want ErrUnsafePath", err)
	}
	short := Entry{Header: &tar.Header{Typeflag: tar.TypeReg, Name: "short", Size: 1 << 20}, Open: file("x", "abc", 0).Open}
	if _, err := NewLayer([]Entry{short}, WithTempDir(tmp)); !errors.Is(err, ErrSizeMismatch) {
		t.Fatalf("NewLayer() error = %v, want ErrSizeMismatch", err)
	}
	if files, _ := os.ReadDir(tmp); len(files) != 0 {
		t.Errorf("failed NewLayer left %d files behind", len(files))
	}
}

func TestNewLayersParallelMatchesSerial(t *testing.T) {
	tmp := t.TempDir()
	var sets [][]Entry
	for i := range 5 {
		sets = append(sets, []Entry{
			dir(fmt.Sprintf("layer%d", i), 0o755),
			file(fmt.Sprintf("layer%d/data", i), string(testData(200<<10+i)), 0o644),
		})
	}
	for _, c := range []Compression{Gzip, Zstd} {
		t.Run(string(c), func(t *testing.T) {
			opts := []Option{WithCompression(c), WithLevel(LevelBest), WithTempDir(tmp)}
			layers, err := NewLayers(context.Background(), sets, opts...)
			if err != nil {
				t.Fatal(err)
			}
			if len(layers) != len(sets) {
				t.Fatalf("got %d layers, want %d", len(layers), len(sets))
			}
			for i, l := range layers {
				checkLayer(t, l)
				serial, err := NewLayer(sets[i], opts...)
				if err != nil {
					t.Fatal(err)
				}
				d1, _ := l.Digest()
				d2, _ := serial.Digest()
				if d1 != d2 {
					t.Errorf("layer %d: parallel digest %s, serial %s", i, d1, d2)
				}
				serial.Close()
				l.Close()
			}
		})
	}
}

func TestNewLayersErrorClosesEverything(t *testing.T) {
	tmp := t.TempDir()
	sets := [][]Entry{sampleEntries(), {file("../bad", "x", 0o644)}, sampleEntries()}
	_, err := NewLayers(context.Background(), sets, WithTempDir(tmp))
	if !errors.Is(err, ErrUnsafePath) {
		t.Fatalf("NewLayers() error = %v, want ErrUnsafePath", err)
	}
	if files, _ := os.ReadDir(tmp); len(files) != 0 {
		t.Errorf("failed NewLayers left %d files behind", len(files))
	}
}

func TestNewLayersCancelled(t *testing.T) {
	tmp := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := NewLayers(ctx, [][]Entry{sampleEntries(), sampleEntries()}, WithTempDir(tmp))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("NewLayers() error = %v, want context.Canceled", err)
	}
	if files, _ := os.ReadDir(filepath.Clean(tmp)); len(files) != 0 {
		t.Errorf("cancelled NewLayers left %d files behind", len(files))
	}
}

// TestZstdBestLayerLongWindow produces a layer whose two copies of the same 12 MiB
// lie farther apart than klauspost's default 8 MiB window: at LevelBest the second
// copy must cost almost nothing, and the real `zstd -d`, without --long, must decode
// the blob to the layer's diffID.
func TestZstdBestLayerLongWindow(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: compresses 24 MiB at the best level")
	}
	zstdCLI := ti.NeedTool(t, "zstd")
	const n = 12 << 20
	random := make([]byte, n)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range random {
		random[i] = byte(r.Uint32())
	}
	entries := []Entry{file("a", string(random), 0o644), file("b", string(random), 0o644)}
	l, err := NewLayer(entries, WithCompression(Zstd), WithLevel(LevelBest), WithTempDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	checkLayer(t, l)
	if size, _ := l.Size(); size > n+n/10 {
		t.Errorf("compressed size %d: the repeated 12 MiB was not matched across the window", size)
	}

	rc, err := l.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	head := make([]byte, zstd.HeaderMaxSize)
	_, err = io.ReadFull(rc, head)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	var h zstd.Header
	if err := h.Decode(head); err != nil {
		t.Fatal(err)
	}
	if h.WindowSize < 16<<20 || h.WindowSize > zstdBestWindow {
		t.Errorf("frame window %d, want 16 MiB to 128 MiB", h.WindowSize)
	}

	rc, err = l.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	cmd := exec.Command(zstdCLI, "-d", "-c", "-q")
	cmd.Stdin = rc
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	got, _, err := v1.SHA256(out)
	if werr := cmd.Wait(); werr != nil || err != nil {
		t.Fatalf("zstd -d: %v %v: %s", werr, err, stderr.Bytes())
	}
	if want, _ := l.DiffID(); got != want {
		t.Errorf("zstd -d output has digest %s, diffID is %s", got, want)
	}
}

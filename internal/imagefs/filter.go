package imagefs

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// FilterUnsafe is l without the tar entries that climb out of the root (the ones
// WithLenient drops), as a new gzip layer: for code that passes layers on as they are
// (rebase) and read one leniently. Every other entry is copied header and content.
func FilterUnsafe(l v1.Layer) (v1.Layer, error) {
	mt, err := l.MediaType()
	if err != nil {
		return nil, err
	}
	out := types.DockerLayer
	if strings.Contains(string(mt), "oci") {
		out = types.OCILayer
	}
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		rc, err := l.Uncompressed()
		if err != nil {
			return nil, err
		}
		pr, pw := io.Pipe()
		go func() {
			defer rc.Close()
			pw.CloseWithError(copySafe(rc, pw))
		}()
		return pr, nil
	}, tarball.WithMediaType(out))
}

// copySafe copies the tar stream r to w, leaving out unsafe entries.
func copySafe(r io.Reader, w io.Writer) error {
	tr := tar.NewReader(r)
	tw := tar.NewWriter(w)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return tw.Close()
		}
		if err != nil {
			return fmt.Errorf("%w: %w", ErrCorruptLayer, err)
		}
		if err := checkEntry(h); err != nil {
			if errors.Is(err, ErrUnsafeEntry) {
				continue
			}
			return err
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
}

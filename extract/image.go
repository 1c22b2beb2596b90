package extract

import (
	"context"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slim-dev/slim/internal/imagefs"
)

// OpenImage opens img as a source to take files from (with WithConfig of its config).
// It is spooled: the closure and the packer read files in path and dependency order,
// and each step back in a layer would decompress it again from the start (measured:
// 4× the indexing pass on the C program bench image). opts add to that (WithLenient).
// Close it when done.
func OpenImage(ctx context.Context, img v1.Image, opts ...imagefs.Option) (*imagefs.FS, error) {
	return imagefs.New(ctx, img, append([]imagefs.Option{imagefs.WithSpool("")}, opts...)...)
}

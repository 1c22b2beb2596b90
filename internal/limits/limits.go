// Package limits holds every bound slim puts on what it reads, in one place, so the
// README's "Limits" paragraph and the code cannot drift apart. Each is far above what
// a real image needs and low enough that a hostile one cannot exhaust memory or time.
package limits

import (
	"errors"
	"fmt"
)

const (
	// Manifest bounds a manifest or an index, as registries do (the distribution
	// spec lets them refuse more than 4 MiB; Docker Hub and GHCR do).
	Manifest = 4 << 20
	// Config bounds an image config, as registries do.
	Config = 4 << 20
	// Layers bounds the layers of one image. No runtime mounts more (overlayfs stacks
	// at most about 500 lower directories); a 4 MiB manifest holds about 30,000.
	Layers = 32768
	// EntriesPerLayer bounds the tar entries of one layer: the merged view keeps a
	// few hundred bytes per entry. Large node_modules trees have a few hundred thousand.
	EntriesPerLayer = 1 << 22
	// PathBytes bounds a path inside an image: Linux's PATH_MAX, which a path must fit
	// to be opened in one call.
	PathBytes = 4096
	// PathDepth bounds the components of such a path: twice as deep as any real tree.
	PathDepth = 1024
	// CompressorMemory bounds one layer compressor's own buffers (zstd's window and
	// tables at the best level), so that slim's peak stays under 256 MiB with the
	// process's 224 MiB soft limit (cmd/slim) for everything else.
	CompressorMemory = 192 << 20
)

// ErrExceeded is wrapped by every refusal of something above a limit.
var ErrExceeded = errors.New("over slim's limit")

// Exceeded says what is too large and names the limit.
func Exceeded(what string, got, limit int64, unit string) error {
	return fmt.Errorf("%s is %d %s, more than the limit of %d: %w", what, got, unit, limit, ErrExceeded)
}

// Package size reads the sizes users write (20MB, 15MiB, 1.5GB, plain bytes), for
// flags and environment variables alike.
package size

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrBadSize is returned for a string that is not a size.
var ErrBadSize = errors.New("not a size")

// Parse reads 20MB, 15MiB, 1.5GB or plain bytes.
func Parse(s string) (int64, error) {
	t := strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   float64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"kB", 1e3}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1}, {"k", 1e3}, {"K", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12}}
	mult := 1.0
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v <= 0 || v*mult > 1<<62 {
		return 0, fmt.Errorf("%q is not a size (e.g. 20MB, 15MiB, 1000000): %w", s, ErrBadSize)
	}
	return int64(v * mult), nil
}

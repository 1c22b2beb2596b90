package size

import (
	"errors"
	"testing"
)

func TestParse(t *testing.T) {
	for s, want := range map[string]int64{"10GiB": 10 << 30, "500MB": 500e6, "1.5 GB": 1.5e9, "1000": 1000, "15MiB": 15 << 20, "2k": 2000} {
		if got, err := Parse(s); err != nil || got != want {
			t.Errorf("Parse(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"", "lots", "-1", "0", "10XB", "1e30"} {
		if _, err := Parse(s); !errors.Is(err, ErrBadSize) {
			t.Errorf("Parse(%q): %v, want ErrBadSize", s, err)
		}
	}
}

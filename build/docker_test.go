package build

import "testing"

func TestVersionAtLeast(t *testing.T) {
	for _, tc := range []struct {
		v    string
		want bool
	}{
		{"1.43", true}, {"1.44", true}, {"1.51", true}, {"2.0", true}, {"v1.43", true},
		{"1.41", false}, {"1.42", false}, {"0.99", false}, {"", false}, {"garbage", false},
	} {
		if got := versionAtLeast(tc.v, minDockerAPI); got != tc.want {
			t.Errorf("versionAtLeast(%q, %s) = %v, want %v", tc.v, minDockerAPI, got, tc.want)
		}
	}
}

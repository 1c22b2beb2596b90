package rebase

import (
	"reflect"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// TestHealthcheckArgv: the command line Docker runs for each form of HEALTHCHECK.
func TestHealthcheckArgv(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  v1.Config
		want []string
	}{
		{"none", v1.Config{}, nil},
		{"NONE", v1.Config{Healthcheck: &v1.HealthConfig{Test: []string{"NONE"}}}, nil},
		{"inherit", v1.Config{Healthcheck: &v1.HealthConfig{}}, nil},
		{"CMD", v1.Config{Healthcheck: &v1.HealthConfig{Test: []string{"CMD", "curl", "-f", "http://localhost/"}}}, []string{"curl", "-f", "http://localhost/"}},
		{"CMD-SHELL", v1.Config{Healthcheck: &v1.HealthConfig{Test: []string{"CMD-SHELL", "curl -f x || exit 1"}}}, []string{"/bin/sh", "-c", "curl -f x || exit 1"}},
		{"CMD-SHELL with SHELL", v1.Config{Shell: []string{"/bin/bash", "-o", "pipefail", "-c"}, Healthcheck: &v1.HealthConfig{Test: []string{"CMD-SHELL", "x | y"}}},
			[]string{"/bin/bash", "-o", "pipefail", "-c", "x | y"}},
		{"unknown kind", v1.Config{Healthcheck: &v1.HealthConfig{Test: []string{"EXEC", "x"}}}, nil},
	} {
		if got := HealthcheckArgv(tc.cfg); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: HealthcheckArgv = %q, want %q", tc.name, got, tc.want)
		}
	}
}

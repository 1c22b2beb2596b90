package regerr

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

func TestWrap(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		registry string // given by the caller
		want     string // registry named; "-" for not a refusal
		login    string
	}{
		{
			name: "buildkit basic auth, as the daemon words it",
			err:  errors.New(`solving stage 0: 127.0.0.1:41234/private/busybox: failed to resolve source metadata for 127.0.0.1:41234/private/busybox:latest: unexpected status from HEAD request to http://127.0.0.1:41234/v2/private/busybox/manifests/latest: 401 Unauthorized`),
			want: "127.0.0.1:41234", login: "docker login 127.0.0.1:41234",
		},
		{
			name: "token server refuses: the image's registry, not the token server",
			err:  errors.New(`failed to resolve source metadata for ghcr.io/acme/base:1: failed to authorize: failed to fetch oauth token: unexpected status from GET request to https://ghcr.io/token?scope=repository%3Aacme%2Fbase%3Apull: 403 Forbidden`),
			want: "ghcr.io", login: "docker login ghcr.io",
		},
		{
			name: "docker hub pull access denied",
			err:  errors.New(`failed to resolve source metadata for docker.io/acme/private:latest: pull access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed`),
			want: "docker.io", login: "`docker login`",
		},
		{
			name: "no reference, a registry URL",
			err:  errors.New(`failed to copy: httpReadSeeker: failed open: unexpected status code https://registry.example:5000/v2/app/blobs/sha256:abc: 401 Unauthorized`),
			want: "registry.example:5000", login: "docker login registry.example:5000",
		},
		{
			name: "no host anywhere",
			err:  errors.New(`insufficient_scope: authorization failed`),
			want: "", login: "docker login REGISTRY",
		},
		{
			name:     "the caller knows the registry",
			err:      errors.New(`UNAUTHORIZED: authentication required; [map[Action:push]]`),
			registry: "reg.example", want: "reg.example", login: "docker login reg.example",
		},
		{
			name: "ggcr 403 on a registry API URL",
			err: fmt.Errorf("pushing x: %w", &transport.Error{StatusCode: http.StatusForbidden,
				Request: &http.Request{URL: &url.URL{Scheme: "https", Host: "push.example", Path: "/v2/app/manifests/v1"}}}),
			want: "push.example", login: "docker login push.example",
		},
		{name: "ggcr 404", err: &transport.Error{StatusCode: http.StatusNotFound}, want: "-"},
		{name: "a failing RUN that mentions 401 Unauthorized", err: errors.New(`process "/bin/sh -c echo 401 Unauthorized && exit 1" did not complete successfully: exit code: 1`), want: "-"},
		{name: "a file's permission", err: errors.New(`open /etc/shadow: permission denied`), want: "-"},
		{name: "not found", err: errors.New(`failed to resolve source metadata for 127.0.0.1:1/x:latest: 127.0.0.1:1/x:latest: not found`), want: "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Wrap(tt.err, tt.registry)
			if tt.want == "-" {
				if got != tt.err {
					t.Fatalf("Wrap changed a non-refusal: %v", got)
				}
				return
			}
			var re *Error
			if !errors.As(got, &re) || !errors.Is(got, ErrUnauthorized) || !errors.Is(got, tt.err) {
				t.Fatalf("Wrap(%v) = %v: want an *Error wrapping ErrUnauthorized and the original", tt.err, got)
			}
			if re.Registry != tt.want {
				t.Errorf("registry = %q, want %q", re.Registry, tt.want)
			}
			if !strings.Contains(got.Error(), tt.login) {
				t.Errorf("message %q does not suggest %q", got, tt.login)
			}
			if again := Wrap(got, "other.example"); again != got {
				t.Errorf("Wrap wrapped twice: %v", again)
			}
		})
	}
	if Wrap(nil, "x") != nil {
		t.Error("Wrap(nil) is not nil")
	}
}

package output

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/slim-dev/slim/internal/imageref"
	"github.com/slim-dev/slim/internal/testimage"
)

// basicKeychain answers every registry with one user:pass; an empty one is
// anonymous, whatever the machine's Docker config holds.
type basicKeychain struct{ user, pass string }

func (k basicKeychain) Resolve(authn.Resource) (authn.Authenticator, error) {
	if k.user == "" {
		return authn.Anonymous, nil
	}
	return &authn.Basic{Username: k.user, Password: k.pass}, nil
}

// TestPushRefused: a registry that refuses the push is named, with the
// `docker login` to run; the same push with credentials goes through, so the
// refusal is the credentials' doing.
func TestPushRefused(t *testing.T) {
	t.Parallel()
	const user, pass = "slim", "pr1vate"
	host := testimage.PrivateRegistry(t, user, pass, nil)
	img := testimage.Image(t, outputLayers())
	outs := []Output{{Type: Registry, Name: []string{host + "/app:v1"}}}

	err := Write(t.Context(), img, outs, WithRefOptions(imageref.WithKeychain(basicKeychain{})))
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("push without credentials: %v, want ErrUnauthorized", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "registry "+host+" ") || !strings.Contains(msg, "docker login "+host) {
		t.Errorf("push without credentials: %q does not name %s and `docker login %s`", msg, host, host)
	}

	if err := Write(t.Context(), img, outs, WithRefOptions(imageref.WithKeychain(basicKeychain{user, pass}))); err != nil {
		t.Fatalf("push with credentials: %v", err)
	}
}

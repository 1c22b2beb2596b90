package build

import (
	"fmt"
	"io"

	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/credentials"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/auth/authprovider"

	"github.com/slim-dev/slim/internal/regerr"
)

// ErrUnauthorized is a registry refusing a pull or push during a build (a
// private FROM without credentials); the message names the registry and
// the `docker login` to run. It is regerr's, so callers need test only one.
var ErrUnauthorized = regerr.ErrUnauthorized

// WithDockerConfig is the Docker config directory whose credentials (and
// credential helpers) the daemon is given for registries, as `docker
// --config DIR` (default: $DOCKER_CONFIG, else ~/.docker).
func WithDockerConfig(dir string) Option { return func(o *options) { o.dockerConfig = dir } }

// authProvider answers the daemon's credential requests from the Docker
// config, as buildctl and buildx attach it to every session: without it a
// private FROM is pulled anonymously. The config is read per build, so a
// `docker login` between builds of a long-lived client counts.
func (c *Client) authProvider(warn io.Writer) session.Attachable {
	dir := c.opts.dockerConfig
	if dir == "" {
		// Read here rather than by docker/cli, which caches it for the process.
		dir = c.opts.getenv(config.EnvOverrideConfigDir)
	}
	cfg, err := config.Load(dir)
	if err != nil {
		// As docker and buildx do: a broken config is a warning, and the
		// build goes on without its credentials.
		fmt.Fprintf(warn, "WARNING: %v\n", err)
	}
	if !cfg.ContainsAuth() {
		cfg.CredentialsStore = credentials.DetectDefaultStore(cfg.CredentialsStore)
	}
	return authprovider.NewDockerAuthProvider(authprovider.DockerAuthProviderConfig{
		AuthConfigProvider: authprovider.LoadAuthConfig(cfg),
	})
}

// refused names the registry and the `docker login` to run when err is a
// registry's refusal; BuildKit's errors arrive as text, which regerr reads.
func refused(err error) error { return regerr.Wrap(err, "") }

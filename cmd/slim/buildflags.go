package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/slim-dev/slim/build"
)

// buildFlags are the buildx-shaped flags of every command that runs a Dockerfile.
type buildFlags struct {
	file          string
	target        string
	buildArgs     []string
	secrets       []string
	ssh           []string
	buildContexts []string
	noCache       bool
	cacheFrom     []string
	cacheTo       []string
	addr          string
	tlsCA         string
	tlsCert       string
	tlsKey        string
	tlsServerName string
}

func (f *buildFlags) register(fl *pflag.FlagSet) {
	fl.StringVarP(&f.file, "file", "f", "", "Dockerfile (default CONTEXT/Dockerfile)")
	fl.StringVar(&f.target, "target", "", "stage whose config the result inherits (default: the last)")
	fl.StringArrayVar(&f.buildArgs, "build-arg", nil, "build-time variable K=V (repeatable)")
	fl.StringArrayVar(&f.secrets, "secret", nil, "secret for RUN --mount=type=secret: id=ID,src=PATH or id=ID,env=VAR (repeatable)")
	fl.StringArrayVar(&f.ssh, "ssh", nil, "SSH agent socket or keys for RUN --mount=type=ssh: default or ID=PATH (repeatable)")
	fl.StringArrayVar(&f.buildContexts, "build-context", nil, "named context NAME=VALUE: oci-layout://DIR[:tag], docker-image://REF or a directory (repeatable)")
	fl.BoolVar(&f.noCache, "no-cache", false, "do not use the build cache")
	fl.StringArrayVar(&f.cacheFrom, "cache-from", nil, "cache source, as buildx: type=local,src=DIR or type=registry,ref=REF (repeatable)")
	fl.StringArrayVar(&f.cacheTo, "cache-to", nil, "cache destination, as buildx: type=local,dest=DIR or type=registry,ref=REF (repeatable)")
	fl.StringVar(&f.addr, "addr", "", "BuildKit address (default: $BUILDKIT_HOST, else the Docker daemon's BuildKit, else a private buildkitd slim starts)")
	fl.StringVar(&f.tlsCA, "tlscacert", "", "CA certificate for a tcp:// BuildKit address")
	fl.StringVar(&f.tlsCert, "tlscert", "", "client certificate for a tcp:// BuildKit address")
	fl.StringVar(&f.tlsKey, "tlskey", "", "client key for a tcp:// BuildKit address")
	fl.StringVar(&f.tlsServerName, "tlsservername", "", "server name to verify for a tcp:// BuildKit address (default: its host)")
}

func (f *buildFlags) Validate() error {
	for _, kv := range f.buildArgs {
		if !strings.Contains(kv, "=") {
			if _, ok := os.LookupEnv(kv); !ok {
				return fmt.Errorf("--build-arg %q: want K=V (or K set in the environment)", kv)
			}
		}
	}
	for _, c := range f.buildContexts {
		if k, v, ok := strings.Cut(c, "="); !ok || k == "" || v == "" {
			return fmt.Errorf("--build-context %q: want NAME=VALUE", c)
		}
	}
	return nil
}

// request turns the flags into a build.Request for the context directory and its
// Dockerfile, read once by the caller.
func (f *buildFlags) request(contextDir string, df *build.Dockerfile, platforms []string, progress string) build.Request {
	req := build.Request{
		ContextDir: contextDir,
		Dockerfile: df,
		BuildArgs:  f.args(),
		Secrets:    f.secrets,
		SSH:        f.ssh,
		Platforms:  platforms,
		NoCache:    f.noCache,
		CacheFrom:  f.cacheFrom,
		CacheTo:    f.cacheTo,
		Progress:   progress,
	}
	if len(f.buildContexts) > 0 {
		req.NamedContexts = map[string]string{}
		for _, c := range f.buildContexts {
			k, v, _ := strings.Cut(c, "=")
			req.NamedContexts[k] = v
		}
	}
	return req
}

// args are the --build-arg values.
func (f *buildFlags) args() map[string]string {
	args := map[string]string{}
	for _, kv := range f.buildArgs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			v = os.Getenv(k) // docker's --build-arg K takes the value from the environment
		}
		args[k] = v
	}
	return args
}

// readDockerfile reads the Dockerfile once, expanded with the build args.
func (f *buildFlags) readDockerfile(contextDir string) (*build.Dockerfile, error) {
	return build.ReadDockerfile(f.dockerfile(contextDir), f.args())
}

func (f *buildFlags) dockerfile(contextDir string) string {
	if f.file != "" {
		return f.file
	}
	return filepath.Join(contextDir, "Dockerfile")
}

func (f *buildFlags) connectOptions() []build.Option {
	var opts []build.Option
	if f.addr != "" {
		opts = append(opts, build.WithAddr(f.addr))
	}
	if f.tlsCA != "" || f.tlsCert != "" || f.tlsKey != "" {
		opts = append(opts, build.WithTLS(f.tlsCA, f.tlsCert, f.tlsKey, f.tlsServerName))
	}
	return opts
}

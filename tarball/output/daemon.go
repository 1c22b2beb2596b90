package output

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/daemon"
	"github.com/moby/moby/client"

	"github.com/slim-dev/slim/internal/progress"
)

func planLoad(s subject, out Output, names []string, o *options) (plan, error) {
	if s.img == nil {
		return plan{}, fmt.Errorf("checking output %s: the Docker daemon loads one platform's image and this is a multi-platform index; choose one with --platform: %w", out, ErrUnsupportedOutput)
	}
	if len(names) == 0 {
		return plan{}, fmt.Errorf("checking output %s: loading into the Docker daemon needs a name; give -t NAME:TAG: %w", out, ErrBadOutput)
	}
	if _, err := dockerTags(names); err != nil {
		return plan{}, fmt.Errorf("checking output %s: %w", out, err)
	}
	return plan{desc: "docker daemon " + strings.Join(names, ", "), remote: func(ctx context.Context, _ progress.Step) (string, error) {
		return imageID(s.img), loadDaemon(ctx, s.img, names, o)
	}}, nil
}

// Load puts img into the Docker daemon under every tag (--load). The daemon is the one
// DOCKER_HOST and the Docker environment name. Zstd layers are refused unless the daemon
// speaks API 1.44 (Docker 25) or later, the first that loads them.
func Load(ctx context.Context, img v1.Image, tags []string, opts ...Option) error {
	o := makeOptions(opts...)
	if img == nil {
		return fmt.Errorf("loading into the docker daemon: no image: %w", ErrBadOutput)
	}
	if len(tags) == 0 {
		return fmt.Errorf("loading into the docker daemon: no name; give -t NAME:TAG: %w", ErrBadOutput)
	}
	return loadDaemon(ctx, img, tags, &o)
}

func loadDaemon(ctx context.Context, img v1.Image, names []string, o *options) error {
	var tags []name.Tag
	for _, n := range names {
		t, err := name.NewTag(n)
		if err != nil {
			return fmt.Errorf("loading into the docker daemon: parsing name %q (want NAME[:TAG]): %v: %w", n, err, ErrBadOutput)
		}
		tags = append(tags, t)
	}
	c := o.daemonClient
	if c == nil {
		cl, err := client.New(client.FromEnv)
		if err != nil {
			return fmt.Errorf("loading into the docker daemon: cannot reach the Docker daemon at %s: use -o type=docker,dest=FILE and `docker load` (%v): %w", os.Getenv("DOCKER_HOST"), err, ErrNoDaemon)
		}
		defer cl.Close()
		c = cl
	}
	host := os.Getenv("DOCKER_HOST")
	if h, ok := c.(interface{ DaemonHost() string }); ok {
		host = h.DaemonHost()
	}
	ping, err := c.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true})
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("loading into the docker daemon: %w", ctx.Err())
		}
		return fmt.Errorf("loading into the docker daemon: cannot reach the Docker daemon at %s: use -o type=docker,dest=FILE and `docker load` (%v): %w", host, err, ErrNoDaemon)
	}
	if err := checkDockerLayers(img, apiAtLeast(ping.APIVersion, 1, 44)); err != nil {
		return fmt.Errorf("loading into the docker daemon at %s (API %s): %w", host, ping.APIVersion, err)
	}
	dopts := []daemon.Option{daemon.WithClient(c), daemon.WithContext(ctx)}
	resp, err := daemon.Write(tags[0], img, dopts...)
	if err != nil {
		return fmt.Errorf("loading %s into the docker daemon: %w", tags[0], err)
	}
	// The daemon answers 200 and reports a failed load inside the JSON stream, which
	// ggcr hands back as text.
	if msg := loadError(resp); msg != "" {
		return fmt.Errorf("loading %s into the docker daemon: %s", tags[0], msg)
	}
	for _, t := range tags[1:] {
		if err := daemon.Tag(tags[0], t, dopts...); err != nil {
			return fmt.Errorf("tagging %s as %s in the docker daemon: %w", tags[0], t, err)
		}
	}
	return nil
}

func loadError(resp string) string {
	dec := json.NewDecoder(strings.NewReader(resp))
	for {
		var msg struct {
			Error       string `json:"error"`
			ErrorDetail *struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&msg); err != nil {
			return ""
		}
		switch {
		case msg.ErrorDetail != nil && msg.ErrorDetail.Message != "":
			return msg.ErrorDetail.Message
		case msg.Error != "":
			return msg.Error
		}
	}
}

// apiAtLeast compares a Docker API version "1.44" with major.minor.
func apiAtLeast(v string, major, minor int) bool {
	a, b, ok := strings.Cut(v, ".")
	if !ok {
		return false
	}
	ma, err1 := strconv.Atoi(a)
	mi, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil {
		return false
	}
	return ma > major || ma == major && mi >= minor
}

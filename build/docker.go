package build

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/moby/buildkit/client"
)

// dialDocker connects to the BuildKit inside a Docker daemon the way buildx's
// docker driver does: the daemon's /grpc endpoint upgraded to h2c carries
// the control API, and /session carries the build session.
func dialDocker(ctx context.Context, host string, o options) (*Client, error) {
	u, err := url.Parse(host)
	if err != nil {
		return nil, fmt.Errorf("parsing DOCKER_HOST %q: %w", host, err)
	}
	var network, address string
	switch u.Scheme {
	case "unix":
		network, address = "unix", u.Path
	case "tcp":
		// TLS to the Docker daemon (DOCKER_TLS_VERIFY) is not handled here;
		// such setups can point BUILDKIT_HOST at docker-container:// instead.
		network, address = "tcp", u.Host
	default:
		return nil, fmt.Errorf("connecting to docker at %s: %w: scheme %q is not supported, set BUILDKIT_HOST", host, ErrNoDaemon, u.Scheme)
	}
	if err := recentEnough(ctx, network, address); err != nil {
		return nil, fmt.Errorf("connecting to docker's buildkit at %s: %w: %w", host, ErrNoDaemon, err)
	}
	hijack := func(ctx context.Context, endpoint string, meta map[string][]string) (net.Conn, error) {
		return dialHijack(ctx, network, address, endpoint, meta)
	}
	bk, err := client.New(ctx, "",
		client.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			return hijack(ctx, "/grpc", nil)
		}),
		client.WithSessionDialer(func(ctx context.Context, proto string, meta map[string][]string) (net.Conn, error) {
			return hijack(ctx, "/session", meta)
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("connecting to docker's buildkit at %s: %w: %w", host, ErrNoDaemon, err)
	}
	if err := ping(ctx, bk, 10*time.Second); err != nil {
		bk.Close()
		return nil, fmt.Errorf("connecting to docker's buildkit at %s: %w: %w", host, ErrNoDaemon, err)
	}
	return &Client{bk: bk, addr: "docker:" + host, opts: o}, nil
}

// minDockerAPI is the Docker API of Docker 24, the first whose BuildKit (v0.11) takes
// oci-layout:// named contexts, which slim's offline bases and users' --build-context
// need. An older one (Debian bookworm's Docker 20.10, API 1.41) ignores them and goes
// to Docker Hub instead, so slim starts its own buildkitd rather than use it.
const minDockerAPI = "1.43"

// recentEnough asks the daemon's /_ping for its API version. BuildKit's own Info is
// no help here: a daemon built without release flags reports v0.0.0.
func recentEnough(ctx context.Context, network, address string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, address)
	}}}
	defer hc.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker/_ping", nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("asking the docker daemon its version: %w", err)
	}
	resp.Body.Close()
	if v := resp.Header.Get("Api-Version"); !versionAtLeast(v, minDockerAPI) {
		return fmt.Errorf("the docker daemon's API %q is older than %s (Docker 24), whose BuildKit slim needs", v, minDockerAPI)
	}
	return nil
}

// versionAtLeast compares "MAJOR.MINOR" versions ("1.43", "v0.11.0-rc1");
// anything unparsable is too old.
func versionAtLeast(v, min string) bool {
	parse := func(s string) (major, minor int, ok bool) {
		parts := strings.SplitN(strings.TrimPrefix(s, "v"), ".", 3)
		if len(parts) < 2 {
			return 0, 0, false
		}
		digits := func(p string) (int, error) {
			if end := strings.IndexFunc(p, func(r rune) bool { return r < '0' || r > '9' }); end >= 0 {
				p = p[:end]
			}
			return strconv.Atoi(p)
		}
		major, err1 := digits(parts[0])
		minor, err2 := digits(parts[1])
		return major, minor, err1 == nil && err2 == nil
	}
	vm, vn, ok := parse(v)
	mm, mn, _ := parse(min)
	return ok && (vm > mm || (vm == mm && vn >= mn))
}

// dialHijack posts to a Docker API endpoint asking to upgrade to h2c and
// returns the raw connection once the daemon switches protocols.
func dialHijack(ctx context.Context, network, address, endpoint string, meta map[string][]string) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://docker"+endpoint, nil)
	if err != nil {
		conn.Close()
		return nil, err
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "h2c")
	for k, vs := range meta {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if err := req.Write(conn); err != nil {
		conn.Close()
		return nil, fmt.Errorf("posting %s to docker: %w", endpoint, err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("reading docker's answer to %s: %w", endpoint, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols || !strings.EqualFold(resp.Header.Get("Upgrade"), "h2c") {
		conn.Close()
		return nil, fmt.Errorf("docker did not upgrade %s to h2c: %s", endpoint, resp.Status)
	}
	return &bufferedConn{Conn: conn, r: br}, nil
}

// bufferedConn keeps bytes the HTTP reader already took off the wire.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

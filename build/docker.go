package build

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
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

package build

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/moby/buildkit/client"
	// The connection helpers register the docker-container://, kube-pod://
	// and ssh:// schemes with client.New.
	_ "github.com/moby/buildkit/client/connhelper/dockercontainer"
	_ "github.com/moby/buildkit/client/connhelper/kubepod"
	_ "github.com/moby/buildkit/client/connhelper/ssh"
)

// ErrNoDaemon is returned when no BuildKit daemon can be reached or started;
// the wrapping message says why and what to do.
var ErrNoDaemon = errors.New("no buildkit daemon")

// Client is a connection to a BuildKit daemon.
type Client struct {
	bk   *client.Client
	addr string
	opts options
}

// Addr is the address the client is connected to.
func (c *Client) Addr() string { return c.addr }

// Close closes the connection; a daemon slim started keeps running so the
// next run reuses its cache.
func (c *Client) Close() error { return c.bk.Close() }

// Option configures Connect.
type Option func(*options)

type options struct {
	addr         string
	tls          *tlsFiles
	daemonBinary string
	stateDir     string
	startTimeout time.Duration
	dockerSocket string
	dockerConfig string
	getenv       func(string) string
}

type tlsFiles struct{ ca, cert, key, serverName string }

func makeOptions(opts ...Option) options {
	o := options{
		daemonBinary: "buildkitd",
		startTimeout: time.Minute,
		dockerSocket: "/var/run/docker.sock",
		getenv:       os.Getenv,
	}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// WithAddr connects to addr (unix://, tcp://, docker-container://,
// kube-pod://, ssh://) instead of looking for a daemon.
func WithAddr(addr string) Option { return func(o *options) { o.addr = addr } }

// WithTLS sets the files for a tcp:// daemon with (mutual) TLS. cert and key
// may be empty when the daemon does not ask for a client certificate.
func WithTLS(ca, cert, key, serverName string) Option {
	return func(o *options) { o.tls = &tlsFiles{ca: ca, cert: cert, key: key, serverName: serverName} }
}

// WithDaemonBinary is the buildkitd that slim starts when there is no daemon
// to connect to (default: buildkitd from PATH).
func WithDaemonBinary(path string) Option { return func(o *options) { o.daemonBinary = path } }

// WithStateDir is where the private daemon keeps its state, socket and log
// (default: the user cache directory's slim/buildkit).
func WithStateDir(dir string) Option { return func(o *options) { o.stateDir = dir } }

// WithStartTimeout bounds how long Connect waits for a daemon it started.
func WithStartTimeout(d time.Duration) Option { return func(o *options) { o.startTimeout = d } }

// withEnv replaces os.Getenv, so tests can resolve addresses without
// touching the process environment.
func withEnv(getenv func(string) string) Option { return func(o *options) { o.getenv = getenv } }

// withDockerSocket replaces /var/run/docker.sock in tests.
func withDockerSocket(path string) Option { return func(o *options) { o.dockerSocket = path } }

// Connect finds a BuildKit daemon the way buildx users expect: WithAddr,
// then $BUILDKIT_HOST, then the Docker daemon's BuildKit, then a private
// buildkitd that slim starts (and leaves running for the next run). When none
// answers, the error is a *NoDaemonError listing each place and why it failed.
func Connect(ctx context.Context, opts ...Option) (*Client, error) {
	o := makeOptions(opts...)
	var tried []Attempt
	fail := func(where string, err error) (*Client, error) {
		return nil, &NoDaemonError{Tried: append(tried, Attempt{Where: where, Err: err})}
	}
	if o.addr != "" {
		if c, err := dial(ctx, o.addr, o); err == nil {
			return c, nil
		} else {
			return fail("the address given (--addr "+o.addr+")", err)
		}
	}
	if addr := o.getenv("BUILDKIT_HOST"); addr != "" {
		if c, err := dial(ctx, addr, o); err == nil {
			return c, nil
		} else {
			return fail("BUILDKIT_HOST="+addr, err)
		}
	}
	tried = append(tried, Attempt{Where: "--addr and BUILDKIT_HOST", Err: errors.New("neither is set")})
	host, err := dockerHost(ctx, o)
	if err == nil {
		c, err := dialDocker(ctx, host, o)
		if err == nil {
			return c, nil
		}
		// An explicit DOCKER_HOST that does not work is the user's intent
		// failing; a stray docker.sock is only a guess, so fall through.
		if o.getenv("DOCKER_HOST") != "" {
			return fail("the Docker daemon at DOCKER_HOST="+host, err)
		}
		tried = append(tried, Attempt{Where: "the Docker daemon at " + host, Err: fmt.Errorf("skipped: %w", err)})
	} else {
		tried = append(tried, Attempt{Where: "the Docker daemon", Err: err})
	}
	c, err := startPrivate(ctx, o)
	if err != nil {
		return fail("a private buildkitd ("+o.daemonBinary+" on PATH)", err)
	}
	return c, nil
}

// Attempt is one place Connect looked for BuildKit, and why it was not used.
type Attempt struct {
	Where string
	Err   error
}

// NoDaemonError is Connect's failure: every place it tried, in order, and what
// the user can do. It is ErrNoDaemon to errors.Is.
type NoDaemonError struct{ Tried []Attempt }

func (e *NoDaemonError) Error() string {
	var b strings.Builder
	b.WriteString("no BuildKit reachable; tried:")
	for i, a := range e.Tried {
		fmt.Fprintf(&b, " (%d) %s: %s;", i+1, a.Where, strings.ReplaceAll(a.Err.Error(), ": "+ErrNoDaemon.Error(), ""))
	}
	b.WriteString(" to get one: `docker buildx create --use --bootstrap` and set BUILDKIT_HOST=docker-container://buildx_buildkit_<name>0; " +
		"or install buildkitd and runc (https://github.com/moby/buildkit/releases) on PATH and run slim as root; " +
		"or pass --addr (or BUILDKIT_HOST) of a running buildkitd")
	return b.String()
}

// Is makes a NoDaemonError match ErrNoDaemon.
func (e *NoDaemonError) Is(target error) bool { return target == ErrNoDaemon }

// Unwrap gives the attempts' errors to errors.Is and errors.As.
func (e *NoDaemonError) Unwrap() []error {
	var errs []error
	for _, a := range e.Tried {
		errs = append(errs, a.Err)
	}
	return errs
}

func dial(ctx context.Context, addr string, o options) (*Client, error) {
	var copts []client.ClientOpt
	if o.tls != nil {
		if !strings.HasPrefix(addr, "tcp://") {
			return nil, fmt.Errorf("connecting to %s: TLS files are only used with tcp:// addresses", addr)
		}
		copts = append(copts, client.WithServerConfig(o.tls.serverName, o.tls.ca))
		if o.tls.cert != "" || o.tls.key != "" {
			copts = append(copts, client.WithCredentials(o.tls.cert, o.tls.key))
		}
	}
	bk, err := client.New(ctx, addr, copts...)
	if err != nil {
		return nil, fmt.Errorf("connecting to buildkit at %s: %w: %w", addr, ErrNoDaemon, err)
	}
	if err := ping(ctx, bk, 30*time.Second); err != nil {
		bk.Close()
		return nil, fmt.Errorf("connecting to buildkit at %s: %w: %w", addr, ErrNoDaemon, err)
	}
	return &Client{bk: bk, addr: addr, opts: o}, nil
}

// ping asks for the workers: it is the cheapest call that proves the daemon
// is up and able to build.
func ping(ctx context.Context, bk *client.Client, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ws, err := bk.ListWorkers(ctx)
	if err != nil {
		return fmt.Errorf("listing workers: %w", err)
	}
	if len(ws) == 0 {
		return errors.New("the daemon has no workers")
	}
	return nil
}

// DefaultStateDir is where the private daemon lives unless WithStateDir says
// otherwise.
func DefaultStateDir() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("finding the user cache directory: %w", err)
	}
	return filepath.Join(dir, "slim", "buildkit"), nil
}

func stateDir(o options) (string, error) {
	if o.stateDir != "" {
		return filepath.Abs(o.stateDir)
	}
	return DefaultStateDir()
}

// startPrivate connects to slim's own buildkitd, starting it if it is not
// running. A file lock keeps two slim runs from starting two daemons on one
// state directory.
func startPrivate(ctx context.Context, o options) (*Client, error) {
	dir, err := stateDir(o)
	if err != nil {
		return nil, fmt.Errorf("starting buildkitd: %w: %w", ErrNoDaemon, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("starting buildkitd: %w: %w", ErrNoDaemon, err)
	}
	addr := "unix://" + filepath.Join(dir, "buildkitd.sock")

	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("starting buildkitd: %w: %w", ErrNoDaemon, err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return nil, fmt.Errorf("locking %s: %w: %w", dir, ErrNoDaemon, err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)

	if c, err := tryDial(ctx, addr, o); err == nil {
		return c, nil
	}
	if err := checkCanStart(o); err != nil {
		return nil, fmt.Errorf("starting buildkitd: %w: %w", ErrNoDaemon, err)
	}
	exited, err := spawn(dir, addr, o)
	if err != nil {
		return nil, fmt.Errorf("starting buildkitd: %w: %w", ErrNoDaemon, err)
	}
	return waitReady(ctx, dir, addr, exited, o)
}

// tryDial connects to an existing private daemon; a stale socket fails fast.
func tryDial(ctx context.Context, addr string, o options) (*Client, error) {
	sock := strings.TrimPrefix(addr, "unix://")
	if _, err := os.Stat(sock); err != nil {
		return nil, err
	}
	bk, err := client.New(ctx, addr)
	if err != nil {
		return nil, err
	}
	if err := ping(ctx, bk, 3*time.Second); err != nil {
		bk.Close()
		return nil, err
	}
	return &Client{bk: bk, addr: addr, opts: o}, nil
}

// checkCanStart turns the usual reasons buildkitd cannot start into messages
// that say what to do, before it fails with a less helpful one.
func checkCanStart(o options) error {
	if _, err := exec.LookPath(o.daemonBinary); err != nil {
		return fmt.Errorf("%s is not on PATH (%w)", o.daemonBinary, err)
	}
	if _, err := exec.LookPath("runc"); err != nil {
		return errors.New("runc not found on PATH: buildkitd's OCI worker needs it (Debian/Ubuntu: apt-get install runc)")
	}
	if os.Geteuid() != 0 {
		return errors.New("buildkitd needs root: run slim as root, or start a rootless daemon yourself " +
			"(rootlesskit buildkitd, which needs rootlesskit and newuidmap) and set BUILDKIT_HOST")
	}
	return nil
}

// spawn starts buildkitd in its own session so it outlives slim, and
// returns a channel closed when the process exits (while slim still runs).
func spawn(dir, addr string, o options) (<-chan error, error) {
	sock := strings.TrimPrefix(addr, "unix://")
	// buildkitd refuses to listen on a socket left by a killed daemon.
	_ = os.Remove(sock)
	logf, err := os.OpenFile(filepath.Join(dir, "buildkitd.log"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(o.daemonBinary,
		"--addr", addr,
		"--root", filepath.Join(dir, "root"),
		"--oci-worker=true",
		"--containerd-worker=false",
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("running %s: %w", o.daemonBinary, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "buildkitd.pid"), []byte(strconv.Itoa(cmd.Process.Pid)), 0o600); err != nil {
		_ = cmd.Process.Kill()
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); close(exited) }()
	return exited, nil
}

func waitReady(ctx context.Context, dir, addr string, exited <-chan error, o options) (*Client, error) {
	deadline := time.Now().Add(o.startTimeout)
	for {
		if c, err := tryDial(ctx, addr, o); err == nil {
			return c, nil
		}
		select {
		case err := <-exited:
			return nil, fmt.Errorf("starting buildkitd: %w: it exited (%v); its log %s ends with:\n%s",
				ErrNoDaemon, err, filepath.Join(dir, "buildkitd.log"), logTail(dir))
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for buildkitd: %w", ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("starting buildkitd: %w: it did not answer on %s within %s; see %s:\n%s",
				ErrNoDaemon, addr, o.startTimeout, filepath.Join(dir, "buildkitd.log"), logTail(dir))
		}
	}
}

func logTail(dir string) string {
	b, _ := os.ReadFile(filepath.Join(dir, "buildkitd.log"))
	b = bytes.TrimSpace(b)
	if i := len(b) - 2000; i > 0 {
		b = b[i:]
	}
	return string(b)
}

// StopDaemon stops the private buildkitd that Connect started in stateDir
// (empty: the default), waiting up to timeout for it to exit.
func StopDaemon(stateDir string, timeout time.Duration) error {
	if stateDir == "" {
		d, err := DefaultStateDir()
		if err != nil {
			return err
		}
		stateDir = d
	}
	b, err := os.ReadFile(filepath.Join(stateDir, "buildkitd.pid"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stopping buildkitd: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return fmt.Errorf("stopping buildkitd: bad pid file: %w", err)
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		return fmt.Errorf("stopping buildkitd: %w", err)
	}
	defer os.Remove(filepath.Join(stateDir, "buildkitd.pid"))
	if err := p.Signal(syscall.SIGTERM); err != nil {
		return nil // already gone
	}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if err := p.Signal(syscall.Signal(0)); err != nil {
			return nil
		}
		// Reap it if it is our child (tests start and stop it in one process).
		var ws syscall.WaitStatus
		if wpid, _ := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil); wpid == pid {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = p.Kill()
	return fmt.Errorf("stopping buildkitd: pid %d did not exit within %s, killed", pid, timeout)
}

// dockerHost is the Docker daemon to use for BuildKit: $DOCKER_HOST, or the
// default socket if something answers there; the error says why there is none.
func dockerHost(ctx context.Context, o options) (string, error) {
	if h := o.getenv("DOCKER_HOST"); h != "" {
		return h, nil
	}
	if o.dockerSocket == "" {
		return "", errors.New("no DOCKER_HOST and no socket to look at")
	}
	if _, err := os.Stat(o.dockerSocket); err != nil {
		return "", fmt.Errorf("no DOCKER_HOST, and no socket at %s", o.dockerSocket)
	}
	d := net.Dialer{Timeout: time.Second}
	conn, err := d.DialContext(ctx, "unix", o.dockerSocket)
	if err != nil {
		return "", fmt.Errorf("nothing answers at %s: %w", o.dockerSocket, err)
	}
	conn.Close()
	return "unix://" + o.dockerSocket, nil
}

package build

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/core/content"
	contentlocal "github.com/containerd/containerd/v2/plugins/content/local"
	"github.com/containerd/platforms"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
	gwpb "github.com/moby/buildkit/frontend/gateway/pb"
	"github.com/moby/buildkit/solver/pb"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// defaultPath is the PATH Docker gives a container whose image sets none.
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// DefaultRunTimeout bounds a Run when WithTimeout is not given.
const DefaultRunTimeout = time.Minute

// keepOutput is how much of each stream an Output keeps to show; the digest and
// size cover all of it, so a chatty command costs no memory.
const keepOutput = 64 << 10

// Process is a command to run in an image: its argv, environment, user and
// working directory.
type Process struct {
	Args []string
	Env  []string
	User string
	Cwd  string
}

// DockerRun is the process `docker run IMAGE ARGS...` starts in an image of config
// cfg: args replace the image's Cmd and follow its Entrypoint; Env, WorkingDir and
// User are the image's, with Docker's PATH when the image sets none.
func DockerRun(cfg v1.Config, args []string) Process {
	p := Process{User: cfg.User, Cwd: cfg.WorkingDir}
	if len(args) == 0 {
		args = cfg.Cmd
	}
	p.Args = append(append([]string{}, cfg.Entrypoint...), args...)
	p.Env = append([]string{}, cfg.Env...)
	hasPath := false
	for _, e := range p.Env {
		hasPath = hasPath || strings.HasPrefix(e, "PATH=")
	}
	if !hasPath {
		p.Env = append(p.Env, defaultPath)
	}
	if p.Cwd == "" {
		p.Cwd = "/"
	}
	return p
}

// Stream is what a process wrote to stdout or stderr: the first bytes, to show,
// and the size and digest of all of it, to compare.
type Stream struct {
	Head   []byte
	Size   int64
	Digest [sha256.Size]byte
}

// Equal reports whether two streams carried the same bytes.
func (s Stream) Equal(o Stream) bool { return s.Size == o.Size && s.Digest == o.Digest }

// Truncated reports whether Head is only the start of the stream.
func (s Stream) Truncated() bool { return int64(len(s.Head)) < s.Size }

// capture is an io.WriteCloser that keeps a Stream.
type capture struct {
	mu   sync.Mutex
	s    Stream
	hash hash.Hash
}

func newCapture() *capture { return &capture{hash: sha256.New()} }

func (c *capture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := keepOutput - len(c.s.Head); room > 0 {
		c.s.Head = append(c.s.Head, p[:min(room, len(p))]...)
	}
	c.s.Size += int64(len(p))
	c.hash.Write(p)
	return len(p), nil
}

func (c *capture) Close() error { return nil }

func (c *capture) stream() Stream {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.s
	copy(s.Digest[:], c.hash.Sum(nil))
	return s
}

// Output is how a process ended.
type Output struct {
	// ExitCode is the process's exit status (128+N when killed by signal N), or -1
	// when it did not start or its status is unknown.
	ExitCode int
	Stdout   Stream
	Stderr   Stream
	// TimedOut is set when the time limit killed the process.
	TimedOut bool
	// Err is the runtime's message when the process did not start (an executable
	// missing, its loader not found) or ended without a status.
	Err string
}

// RunOption configures a run.
type RunOption func(*runOptions)

type runOptions struct {
	timeout time.Duration
	// stdout, when set, receives all of stdout instead of an Output's Stream;
	// mounts are added to the container (both for TraceImage and TraceStage).
	stdout io.WriteCloser
	mounts []gateway.Mount
}

// WithTimeout kills the process after d (default DefaultRunTimeout).
func WithTimeout(d time.Duration) RunOption { return func(o *runOptions) { o.timeout = d } }

func makeRunOptions(opts []RunOption) runOptions {
	o := runOptions{timeout: DefaultRunTimeout}
	for _, opt := range opts {
		opt(&o)
	}
	if o.timeout <= 0 {
		o.timeout = DefaultRunTimeout
	}
	return o
}

// Runner runs processes in images and solved stages through one BuildKit session,
// with no network. Images reach the daemon as an OCI layout through the session.
// Get one from Client.Run, or from RunnerFrom inside a Solve callback whose
// Request set Run.
type Runner struct {
	gw    gateway.Client
	store *runStore
}

// runStore is the session's OCI store: a temporary layout directory that images
// are written into as they are run.
type runStore struct {
	id  string
	dir string
	mu  sync.Mutex
	lp  layout.Path
	ok  bool // lp exists
	// tracers are the tracer binaries packed for this session, by host path;
	// closers free what they hold when the store goes.
	tracers map[string]*tracerImage
	closers []func()
}

func newRunStore() (*runStore, content.Store, error) {
	dir, err := os.MkdirTemp("", "slim-run-")
	if err != nil {
		return nil, nil, fmt.Errorf("making the run store: %w", err)
	}
	cs, err := contentlocal.NewStore(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, fmt.Errorf("opening the run store: %w", err)
	}
	sum := sha256.Sum256([]byte(dir))
	// Parsed as an image name by the daemon: lower case only.
	return &runStore{id: fmt.Sprintf("slimrun%x", sum[:8]), dir: dir}, cs, nil
}

func (s *runStore) close() {
	for _, c := range s.closers {
		c()
	}
	os.RemoveAll(s.dir)
}

// add writes img into the store and returns its manifest digest.
func (s *runStore) add(img v1.Image) (v1.Hash, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ok {
		lp, err := layout.Write(s.dir, empty.Index)
		if err != nil {
			return v1.Hash{}, fmt.Errorf("writing the run store: %w", err)
		}
		s.lp, s.ok = lp, true
	}
	if err := s.lp.WriteImage(img); err != nil {
		return v1.Hash{}, fmt.Errorf("writing the image to run into the run store: %w", err)
	}
	return img.Digest()
}

type runnerKey struct{}

// RunnerFrom is the Runner of the Solve callback that ctx belongs to, or nil when
// the Request did not set Run. It is valid only while the callback runs.
func RunnerFrom(ctx context.Context) *Runner {
	r, _ := ctx.Value(runnerKey{}).(*Runner)
	return r
}

// Run opens a BuildKit session and calls fn with a Runner for it; the runner is
// valid only until fn returns.
func (c *Client) Run(ctx context.Context, fn func(ctx context.Context, r *Runner) error) error {
	store, cs, err := newRunStore()
	if err != nil {
		return err
	}
	defer store.close()
	opt := client.SolveOpt{OCIStores: map[string]content.Store{store.id: cs}}
	var fnErr error
	_, err = c.bk.Build(ctx, opt, "slim", func(ctx context.Context, gw gateway.Client) (*gateway.Result, error) {
		// Kept apart from BuildKit's error: its gRPC round trip flattens
		// sentinels into text.
		fnErr = fn(ctx, &Runner{gw: gw, store: store})
		return gateway.NewResult(), fnErr
	}, nil)
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return fmt.Errorf("running in buildkit at %s: %w", c.addr, refused(err))
	}
	return nil
}

// RunImage runs p in img, a container of its own with img's file system as root.
func (r *Runner) RunImage(ctx context.Context, img v1.Image, p Process, opts ...RunOption) (*Output, error) {
	ref, pl, err := r.imageRef(ctx, img)
	if err != nil {
		return nil, err
	}
	return r.runWith(ctx, ref, pl, p, makeRunOptions(opts))
}

// imageRef loads img into the daemon through the session's store.
func (r *Runner) imageRef(ctx context.Context, img v1.Image) (gateway.Reference, ocispecs.Platform, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, ocispecs.Platform{}, fmt.Errorf("reading the config of the image to run: %w", err)
	}
	pl := ocispecs.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}
	if pl.OS == "" {
		pl = platforms.DefaultSpec()
	}
	dgst, err := r.store.add(img)
	if err != nil {
		return nil, pl, err
	}
	st := llb.OCILayout("slim/run@"+dgst.String(), llb.OCIStore("", r.store.id))
	def, err := st.Marshal(ctx, llb.Platform(pl))
	if err != nil {
		return nil, pl, fmt.Errorf("preparing the image to run: %w", err)
	}
	res, err := r.gw.Solve(ctx, gateway.SolveRequest{Definition: def.ToPB(), Evaluate: true})
	if err != nil {
		return nil, pl, fmt.Errorf("loading the image to run: %w", refused(err))
	}
	ref, err := res.SingleRef()
	if err != nil || ref == nil {
		return nil, pl, fmt.Errorf("loading the image to run: no reference: %w", err)
	}
	return ref, pl, nil
}

// RunStage runs p in a stage solved in this runner's session.
func (r *Runner) RunStage(ctx context.Context, s *StageFS, p Process, opts ...RunOption) (*Output, error) {
	return r.runWith(ctx, s.ref, stagePlatform(s), p, makeRunOptions(opts))
}

func stagePlatform(s *StageFS) ocispecs.Platform {
	pl, err := platforms.Parse(s.Platform)
	if err != nil {
		pl = platforms.DefaultSpec()
	}
	return pl
}

// runWith starts p in a container whose root is a writable snapshot of ref, with no
// network, and waits for it or for the time limit.
func (r *Runner) runWith(ctx context.Context, ref gateway.Reference, pl ocispecs.Platform, p Process, o runOptions) (*Output, error) {
	ctr, err := r.gw.NewContainer(ctx, gateway.NewContainerRequest{
		Mounts:   append([]gateway.Mount{{Dest: "/", Ref: ref, MountType: pb.MountType_BIND}}, o.mounts...),
		NetMode:  pb.NetMode_NONE,
		Platform: pb.PlatformFromSpec(pl),
	})
	if err != nil {
		return nil, fmt.Errorf("making a container to run %q: %w", p.Args, refused(err))
	}
	defer ctr.Release(context.WithoutCancel(ctx))
	stdout, stderr := newCapture(), newCapture()
	var out1 io.WriteCloser = stdout
	if o.stdout != nil {
		out1 = o.stdout
	}
	proc, err := ctr.Start(ctx, gateway.StartRequest{
		Args: p.Args, Env: p.Env, User: p.User, Cwd: p.Cwd,
		Stdout: out1, Stderr: stderr, RemoveMountStubsRecursive: true,
	})
	out := &Output{}
	if err != nil {
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		out.ExitCode, out.Err = -1, err.Error()
		return out, nil
	}
	done := make(chan error, 1)
	go func() { done <- proc.Wait() }()
	timer := time.NewTimer(o.timeout)
	defer timer.Stop()
	select {
	case err = <-done:
	case <-timer.C:
		out.TimedOut = true
		_ = proc.Signal(ctx, syscall.SIGKILL)
		select {
		case err = <-done:
		case <-time.After(30 * time.Second):
			return nil, fmt.Errorf("running %q: the process outlived its time limit and did not die", p.Args)
		}
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
	out.Stdout, out.Stderr = stdout.stream(), stderr.stream()
	var exit *gwpb.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		out.ExitCode = int(exit.ExitCode)
	case ctx.Err() != nil:
		return nil, context.Cause(ctx)
	default:
		out.ExitCode, out.Err = -1, err.Error()
	}
	return out, nil
}

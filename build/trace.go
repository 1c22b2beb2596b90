package build

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/moby/buildkit/client/llb"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
	"github.com/moby/buildkit/solver/pb"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/slim-dev/slim/internal/tracer"
	"github.com/slim-dev/slim/tarball"
)

// ErrTracer means the tracer binary cannot run in the image: it must be a static
// linux binary of the image's architecture.
var ErrTracer = errors.New("the tracer cannot run in this image")

// tracerDir is where the tracer is mounted, read-only, in a traced run.
const tracerDir = "/.slim-trace"

// Traced is a run under the tracer: how the command ended (its stdout and stderr
// both in Output.Stderr, so they never mix with the records) and what it touched.
type Traced struct {
	Output  *Output
	Records []tracer.Record
}

// TraceImage runs p in img under the tracer at the host path bin (see
// internal/tracer), as RunImage runs it.
func (r *Runner) TraceImage(ctx context.Context, img v1.Image, bin string, p Process, opts ...RunOption) (*Traced, error) {
	ref, pl, err := r.imageRef(ctx, img)
	if err != nil {
		return nil, err
	}
	return r.trace(ctx, ref, pl, bin, p, opts)
}

// TraceStage runs p in a stage solved in this runner's session under the tracer at
// the host path bin, as RunStage runs it.
func (r *Runner) TraceStage(ctx context.Context, s *StageFS, bin string, p Process, opts ...RunOption) (*Traced, error) {
	return r.trace(ctx, s.ref, stagePlatform(s), bin, p, opts)
}

func (r *Runner) trace(ctx context.Context, ref gateway.Reference, pl ocispecs.Platform, bin string, p Process, opts []RunOption) (*Traced, error) {
	tref, err := r.tracerRef(ctx, bin, pl)
	if err != nil {
		return nil, err
	}
	records := &recordWriter{}
	o := makeRunOptions(opts)
	o.stdout = records
	o.mounts = []gateway.Mount{{Dest: tracerDir, Ref: tref, Readonly: true, MountType: pb.MountType_BIND}}
	tp := p
	tp.Args = append([]string{tracerDir + "/slim-tracer", tracer.Command, "run", "--"}, p.Args...)
	out, err := r.runWith(ctx, ref, pl, tp, o)
	if err != nil {
		return nil, err
	}
	return &Traced{Output: out, Records: records.list}, nil
}

// tracerRef is the tracer as an image of one file, /slim-tracer, solved once per
// session: it reaches the daemon through the session's OCI store as the images
// run do, so a remote builder gets it too.
func (r *Runner) tracerRef(ctx context.Context, bin string, pl ocispecs.Platform) (gateway.Reference, error) {
	if err := checkTracer(bin, pl.Architecture); err != nil {
		return nil, err
	}
	r.store.mu.Lock()
	tr := r.store.tracers[bin]
	if tr == nil {
		tr = &tracerImage{}
		if r.store.tracers == nil {
			r.store.tracers = map[string]*tracerImage{}
		}
		r.store.tracers[bin] = tr
	}
	r.store.mu.Unlock()
	tr.once.Do(func() { tr.img, tr.err = tracerImageOf(bin, r.store) })
	if tr.err != nil {
		return nil, tr.err
	}
	cf, err := tr.img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("making the tracer image: %w", err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = pl.OS, pl.Architecture
	img, err := mutate.ConfigFile(tr.img, cf)
	if err != nil {
		return nil, fmt.Errorf("making the tracer image: %w", err)
	}
	dgst, err := r.store.add(img)
	if err != nil {
		return nil, err
	}
	def, err := llb.OCILayout("slim/tracer@"+dgst.String(), llb.OCIStore("", r.store.id)).Marshal(ctx, llb.Platform(pl))
	if err != nil {
		return nil, fmt.Errorf("preparing the tracer: %w", err)
	}
	res, err := r.gw.Solve(ctx, gateway.SolveRequest{Definition: def.ToPB(), Evaluate: true})
	if err != nil {
		return nil, fmt.Errorf("loading the tracer: %w", refused(err))
	}
	ref, err := res.SingleRef()
	if err != nil || ref == nil {
		return nil, fmt.Errorf("loading the tracer: no reference: %w", err)
	}
	return ref, nil
}

// tracerImage is the tracer packed as a layer, once per session and binary.
type tracerImage struct {
	once sync.Once
	img  v1.Image
	err  error
}

// tracerImageOf packs bin uncompressed (compressing 30 MB for a local copy would
// cost more than it saves); the layer's temporary file goes with the store.
func tracerImageOf(bin string, store *runStore) (v1.Image, error) {
	fi, err := os.Stat(bin)
	if err != nil {
		return nil, fmt.Errorf("reading the tracer: %w", err)
	}
	layer, err := tarball.NewLayer([]tarball.Entry{{
		Header: &tar.Header{Typeflag: tar.TypeReg, Name: "slim-tracer", Mode: 0o755, Size: fi.Size()},
		Open:   func() (io.ReadCloser, error) { return os.Open(bin) },
	}}, tarball.WithCompression(tarball.Uncompressed))
	if err != nil {
		return nil, fmt.Errorf("packing the tracer: %w", err)
	}
	store.mu.Lock()
	store.closers = append(store.closers, func() { layer.Close() })
	store.mu.Unlock()
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, fmt.Errorf("making the tracer image: %w", err)
	}
	return img, nil
}

// checkTracer makes sure bin can run in an image of architecture arch: a static
// ELF program for it.
func checkTracer(bin, arch string) error {
	f, err := elf.Open(bin)
	if err != nil {
		return fmt.Errorf("reading the tracer %s: %w: %w", bin, err, ErrTracer)
	}
	defer f.Close()
	machine := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[arch]
	if machine == 0 {
		return fmt.Errorf("tracing a linux/%s image: %w (%w)", arch, ErrTracer, tracer.ErrUnsupported)
	}
	if f.Machine != machine {
		return fmt.Errorf("tracing a linux/%s image with %s, a %s program: %w", arch, bin, f.Machine, ErrTracer)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("the tracer %s is linked dynamically and cannot run in the image's root: build slim with CGO_ENABLED=0 (make build does): %w", bin, ErrTracer)
		}
	}
	return nil
}

// recordWriter reads the tracer's records, one JSON line each, as they come; a
// line cut short by a kill is dropped.
type recordWriter struct {
	mu   sync.Mutex
	buf  []byte
	list []tracer.Record
}

func (w *recordWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		var r tracer.Record
		if json.Unmarshal(w.buf[:i], &r) == nil && r.Path != "" {
			w.list = append(w.list, r)
		}
		w.buf = w.buf[i+1:]
	}
}

func (w *recordWriter) Close() error { return nil }

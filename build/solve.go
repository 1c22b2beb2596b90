package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/containerd/containerd/v2/core/content"
	contentlocal "github.com/containerd/containerd/v2/plugins/content/local"
	"github.com/containerd/platforms"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
	buildctl "github.com/moby/buildkit/cmd/buildctl/build"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
	"github.com/moby/buildkit/session/sshforward/sshprovider"
	"github.com/moby/buildkit/util/progress/progressui"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/tonistiigi/fsutil"

	"github.com/slim-dev/slim/internal/imageref"
	"golang.org/x/sync/errgroup"
)

// Request describes a Dockerfile build, with buildx's spelling for every
// value a user types.
type Request struct {
	// ContextDir is the build context (default "."). Its .dockerignore is
	// honoured by BuildKit's dockerfile frontend.
	ContextDir string
	// Dockerfile is the Dockerfile, read once by the caller (ReadDockerfile);
	// nil reads ContextDir/Dockerfile.
	Dockerfile *Dockerfile
	// Stages are the stages to solve, by name or index (default: the last).
	Stages []string
	// BuildArgs are --build-arg K=V.
	BuildArgs map[string]string
	// Secrets are --secret values: "id=tok,src=path" or "id=tok,env=VAR".
	Secrets []string
	// SSH are --ssh values: "default" or "id=/path/to/agent.sock|key".
	SSH []string
	// NamedContexts are --build-context NAME=VALUE: oci-layout://DIR[:tag|@digest],
	// docker-image://ref, a local directory, or any other scheme BuildKit
	// understands (https://, git).
	NamedContexts map[string]string
	// Platforms to build for ("linux/amd64"); default: the daemon's.
	Platforms []string
	// NoCache disables the build cache.
	NoCache bool
	// CacheFrom and CacheTo are --cache-from/--cache-to ("type=local,src=DIR",
	// "type=local,dest=DIR", "type=registry,ref=...").
	CacheFrom, CacheTo []string
	// Progress is auto|tty|plain|quiet|rawjson (default auto), written to
	// ProgressOutput (default os.Stderr).
	Progress       string
	ProgressOutput io.Writer
	// Run lets the callback run processes in its stages and in images: see
	// RunnerFrom.
	Run bool
	// Invocation gives the callback the build's invocation and the digests of the
	// images it read, for provenance: see BuildInvocation. Resolving them is a
	// round trip per image to BuildKit, which the frontend has just made.
	Invocation bool
	// Finish, when set, runs once Solve's callback has returned without error for
	// every platform, while BuildKit closes the session: that takes a round of
	// its own, and writing a build's outputs need not wait for it. Solve waits
	// for Finish and returns its error. As with BuildKit's own exporters, a
	// failure after the callbacks (a --cache-to export) comes after Finish ran.
	// Its ctx shows steps in the build's display, which stays up until Finish
	// returns (see StartStep and Steps).
	Finish func(ctx context.Context) error
}

// prepared is a Request turned into what BuildKit's client takes.
type prepared struct {
	opt      client.SolveOpt
	df       *Dockerfile
	stages   []Stage // all stages of the Dockerfile
	targets  []Stage // the stages asked for
	names    map[int]string
	cleanup  func()
	progress progressui.DisplayMode
	out      io.Writer
}

func (c *Client) prepare(req Request, want []string) (*prepared, error) {
	ctxDir := req.ContextDir
	if ctxDir == "" {
		ctxDir = "."
	}
	df := req.Dockerfile
	if df == nil {
		var err error
		if df, err = ReadDockerfile(filepath.Join(ctxDir, "Dockerfile"), req.BuildArgs); err != nil {
			return nil, err
		}
	}
	stages, dfPath := df.Stages, df.Path
	p := &prepared{df: df, stages: stages, cleanup: func() {}, names: map[int]string{}}
	if len(want) == 0 {
		want = []string{stages[len(stages)-1].Ref()}
	}
	seen := map[int]bool{}
	unnamed := map[int]bool{}
	for _, w := range want {
		s, err := LookupStage(stages, w)
		if err != nil {
			return nil, err
		}
		if seen[s.Index] {
			continue
		}
		seen[s.Index] = true
		p.targets = append(p.targets, s)
		if s.Name == "" && s.Index != len(stages)-1 {
			unnamed[s.Index] = true
		}
	}

	mode, err := progressMode(req.Progress)
	if err != nil {
		return nil, err
	}
	p.progress = mode
	p.out = req.ProgressOutput
	if p.out == nil {
		p.out = os.Stderr
	}

	dfDir, dfName := filepath.Dir(dfPath), filepath.Base(dfPath)
	if len(unnamed) > 0 {
		// BuildKit targets stages by name only: build from a copy of the
		// Dockerfile where the wanted unnamed stages have names.
		renamed, names, err := nameUnnamedStages(df.Source, stages, unnamed)
		if err != nil {
			return nil, err
		}
		tmp, err := os.MkdirTemp("", "slim-dockerfile-")
		if err != nil {
			return nil, fmt.Errorf("naming unnamed stages: %w", err)
		}
		p.cleanup = func() { os.RemoveAll(tmp) }
		if err := os.WriteFile(filepath.Join(tmp, dfName), renamed, 0o600); err != nil {
			p.cleanup()
			return nil, fmt.Errorf("naming unnamed stages: %w", err)
		}
		// A Dockerfile-specific ignore file lives next to the Dockerfile.
		if b, err := os.ReadFile(dfPath + ".dockerignore"); err == nil {
			_ = os.WriteFile(filepath.Join(tmp, dfName+".dockerignore"), b, 0o600)
		}
		dfDir, p.names = tmp, names
	}

	if err := p.fill(req, ctxDir, dfDir, dfName); err != nil {
		p.cleanup()
		return nil, err
	}
	p.opt.Session = append(p.opt.Session, c.authProvider(p.out))
	return p, nil
}

// target is the frontend's name for s.
func (p *prepared) target(s Stage) string {
	if n, ok := p.names[s.Index]; ok {
		return n
	}
	if s.Name == "" {
		return "" // the last stage is the frontend's default target
	}
	return s.Name
}

func (p *prepared) fill(req Request, ctxDir, dfDir, dfName string) error {
	ctxFS, err := fsutil.NewFS(ctxDir)
	if err != nil {
		return fmt.Errorf("opening build context %s: %w", ctxDir, err)
	}
	dfFS, err := fsutil.NewFS(dfDir)
	if err != nil {
		return fmt.Errorf("opening dockerfile directory %s: %w", dfDir, err)
	}
	attrs := map[string]string{"filename": dfName}
	for k, v := range req.BuildArgs {
		attrs["build-arg:"+k] = v
	}
	if req.NoCache {
		attrs["no-cache"] = ""
	}
	if len(req.Platforms) > 0 {
		for _, pl := range req.Platforms {
			if _, err := platforms.Parse(pl); err != nil {
				return fmt.Errorf("parsing platform %q: %w", pl, err)
			}
		}
		attrs["platform"] = strings.Join(req.Platforms, ",")
	}
	p.opt = client.SolveOpt{
		Frontend:      "dockerfile.v0",
		FrontendAttrs: attrs,
		LocalMounts:   map[string]fsutil.FS{"context": ctxFS, "dockerfile": dfFS},
		OCIStores:     map[string]content.Store{},
	}
	if err := p.namedContexts(req.NamedContexts); err != nil {
		return err
	}
	if len(req.Secrets) > 0 {
		a, err := buildctl.ParseSecret(req.Secrets)
		if err != nil {
			return fmt.Errorf("parsing --secret: %w", err)
		}
		p.opt.Session = append(p.opt.Session, a)
	}
	if len(req.SSH) > 0 {
		cfgs, err := buildctl.ParseSSH(req.SSH)
		if err != nil {
			return fmt.Errorf("parsing --ssh: %w", err)
		}
		a, err := sshprovider.NewSSHAgentProvider(cfgs)
		if err != nil {
			return fmt.Errorf("setting up --ssh: %w", err)
		}
		p.opt.Session = append(p.opt.Session, a)
	}
	if p.opt.CacheImports, err = buildctl.ParseImportCache(req.CacheFrom); err != nil {
		return fmt.Errorf("parsing --cache-from: %w", err)
	}
	if p.opt.CacheExports, err = buildctl.ParseExportCache(req.CacheTo); err != nil {
		return fmt.Errorf("parsing --cache-to: %w", err)
	}
	return nil
}

// namedContexts turns --build-context values into frontend attributes, as
// buildx does: OCI layouts travel through the session as content stores,
// local directories as extra local mounts.
func (p *prepared) namedContexts(nc map[string]string) error {
	names := sortedKeys(nc)
	for _, name := range names {
		v := nc[name]
		key := "context:" + name
		switch {
		case strings.HasPrefix(v, "oci-layout://"):
			storeID, dgst, store, err := ociLayoutContext(strings.TrimPrefix(v, "oci-layout://"))
			if err != nil {
				return fmt.Errorf("build context %s: %w", name, err)
			}
			p.opt.OCIStores[storeID] = store
			p.opt.FrontendAttrs[key] = "oci-layout://" + storeID + "@" + dgst
		case strings.Contains(v, "://"):
			p.opt.FrontendAttrs[key] = v
		default:
			fi, err := os.Stat(v)
			if err != nil || !fi.IsDir() {
				return fmt.Errorf("build context %s: %q is neither a directory nor a scheme:// reference", name, v)
			}
			lfs, err := fsutil.NewFS(v)
			if err != nil {
				return fmt.Errorf("build context %s: %w", name, err)
			}
			mount := "named-" + name
			p.opt.LocalMounts[mount] = lfs
			p.opt.FrontendAttrs[key] = "local:" + mount
		}
	}
	return nil
}

// ociLayoutContext opens DIR[:tag|@digest] and picks the manifest (or index)
// the frontend should load, by the rules of every other oci-layout:// reference.
func ociLayoutContext(spec string) (storeID, dgst string, store content.Store, err error) {
	ref, err := imageref.Parse("oci-layout://" + spec)
	if err != nil {
		return "", "", nil, err
	}
	desc, err := imageref.LayoutDescriptor(ref)
	if err != nil {
		return "", "", nil, err
	}
	store, err = contentlocal.NewStore(ref.Path)
	if err != nil {
		return "", "", nil, fmt.Errorf("opening oci layout %s: %w", ref.Path, err)
	}
	abs, _ := filepath.Abs(ref.Path)
	sum := sha256.Sum256([]byte(abs))
	// The store ID is parsed as an image name by the frontend: lower-case hex.
	return "oci" + hex.EncodeToString(sum[:8]), desc.Digest.String(), store, nil
}

func progressMode(s string) (progressui.DisplayMode, error) {
	switch m := progressui.DisplayMode(s); m {
	case "", progressui.AutoMode:
		return progressui.AutoMode, nil
	case progressui.TtyMode, progressui.PlainMode, progressui.QuietMode, progressui.RawJSONMode:
		return m, nil
	}
	return "", fmt.Errorf("progress mode %q: want auto, tty, plain, quiet or rawjson", s)
}

// withProgress runs solve (which must close the status channel, as BuildKit's
// client does) alongside the progress display.
func withProgress(ctx context.Context, p *prepared, solve func(ctx context.Context, ch chan *client.SolveStatus, steps *stepper) error) error {
	// BuildKit closes the channel it is given when its solve ends; slim's own
	// steps may go on after that (a build's outputs are written while the
	// session closes), so BuildKit's statuses are forwarded into the display's
	// channel, which closes once both are done.
	disp := make(chan *client.SolveStatus)
	steps := &stepper{ch: disp}
	bk := make(chan *client.SolveStatus)
	forwarded := make(chan struct{})
	go func() {
		defer close(forwarded)
		for st := range bk {
			steps.send(st)
		}
	}()
	eg, ctx := errgroup.WithContext(ctx)
	eg.Go(func() error {
		err := solve(ctx, bk, steps)
		<-forwarded
		steps.close()
		return err
	})
	eg.Go(func() error {
		d, err := progressui.NewDisplay(p.out, p.progress)
		if err != nil {
			// tty asked for but not a terminal: plain still shows the log.
			d, err = progressui.NewDisplay(p.out, progressui.PlainMode)
		}
		if err != nil {
			for range disp {
			}
			return nil
		}
		// Not the group's context: the display must finish reporting the
		// error that cancelled the build.
		_, err = d.UpdateFrom(context.WithoutCancel(ctx), disp)
		for range disp {
		}
		return err
	})
	return eg.Wait()
}

// Solve builds the requested stages in one BuildKit session (shared steps
// run once, independent stages in parallel) and calls fn with each stage as
// a file system, keyed by the name the request used. fn runs while the
// session is open: the file systems are not valid after it returns. With
// several platforms, fn is called once per platform, in the request's order.
func (c *Client) Solve(ctx context.Context, req Request, fn func(ctx context.Context, stages map[string]*StageFS) error) error {
	if fn == nil {
		// Building only (to warm the cache, or to check the build passes).
		fn = func(context.Context, map[string]*StageFS) error { return nil }
	}
	p, err := c.prepare(req, req.Stages)
	if err != nil {
		return err
	}
	defer p.cleanup()
	var store *runStore
	if req.Run {
		var cs content.Store
		if store, cs, err = newRunStore(); err != nil {
			return err
		}
		defer store.close()
		p.opt.OCIStores[store.id] = cs
	}
	keys := req.Stages
	if len(keys) == 0 {
		keys = []string{p.targets[0].Ref()}
	}

	var steps *stepper      // slim's steps, shown by the display: see StartStep
	var finished chan error // Finish's outcome, once started
	solveCtx := ctx         // Finish outlives the callback's context
	build := func(ctx context.Context, gw gateway.Client) (*gateway.Result, error) {
		base := maps.Clone(gw.BuildOpts().Opts)
		maps.Copy(base, p.opt.FrontendAttrs)
		results := make([]*gateway.Result, len(p.targets))
		eg, ectx := errgroup.WithContext(ctx)
		for i, s := range p.targets {
			eg.Go(func() error {
				opt := maps.Clone(base)
				opt["target"] = p.target(s)
				res, err := gw.Solve(ectx, gateway.SolveRequest{Frontend: "dockerfile.v0", FrontendOpt: opt, Evaluate: true})
				if err != nil {
					return fmt.Errorf("solving stage %s: %w", s.Ref(), refused(err))
				}
				results[i] = res
				return nil
			})
		}
		if err := eg.Wait(); err != nil {
			return nil, err
		}
		perPlatform, order, err := stageFSes(ctx, p.targets, results)
		if err != nil {
			return nil, err
		}
		for _, pl := range order {
			byKey := map[string]*StageFS{}
			for _, k := range keys {
				s, _ := ResolveStage(p.stages, k)
				byKey[k] = perPlatform[pl][s.Index]
			}
			fctx := context.WithValue(ctx, stepperKey{}, steps)
			if store != nil {
				fctx = context.WithValue(fctx, runnerKey{}, &Runner{gw: gw, store: store})
			}
			if req.Invocation {
				fctx = context.WithValue(fctx, invocationKey{}, p.invocation(ctx, gw, req, pl))
			}
			if err := fn(fctx, byKey); err != nil {
				return nil, err
			}
		}
		if req.Finish != nil {
			finished = make(chan error, 1)
			fctx := context.WithValue(solveCtx, stepperKey{}, steps)
			go func() { finished <- req.Finish(fctx) }()
		}
		return cacheResult(ctx, gw, req.CacheTo, results)
	}

	var fnErr error
	err = withProgress(ctx, p, func(ctx context.Context, ch chan *client.SolveStatus, s *stepper) error {
		steps = s
		_, err := c.bk.Build(ctx, p.opt, "slim", func(ctx context.Context, gw gateway.Client) (*gateway.Result, error) {
			res, err := build(ctx, gw)
			if err != nil {
				// Keep the callback's own error intact: BuildKit's gRPC
				// round trip would flatten a sentinel into text.
				fnErr = err
			}
			return res, err
		}, ch)
		// The display stays up while Finish writes.
		if finished != nil {
			if ferr := <-finished; ferr != nil && fnErr == nil {
				fnErr = ferr
			}
		}
		return err
	})
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return fmt.Errorf("building with buildkit at %s: %w", c.addr, refused(err))
	}
	return nil
}

// cacheResult is what the build function returns to the daemon. Without
// --cache-to nothing is exported, so nothing is returned. With it, the
// stages' refs are merged into one, because a result's refs are otherwise
// read as one image per platform, and --cache-to exports the cache of what
// the build returns.
func cacheResult(ctx context.Context, gw gateway.Client, cacheTo []string, results []*gateway.Result) (*gateway.Result, error) {
	if len(cacheTo) == 0 {
		return gateway.NewResult(), nil
	}
	var states []llb.State
	for _, r := range results {
		refs := maps.Clone(r.Refs)
		if r.Ref != nil {
			refs = map[string]gateway.Reference{"": r.Ref}
		}
		for _, id := range slices.Sorted(maps.Keys(refs)) {
			st, err := refs[id].ToState()
			if err != nil {
				return nil, fmt.Errorf("preparing the cache export: %w", err)
			}
			states = append(states, st)
		}
	}
	if len(states) == 1 && len(results[0].Refs) == 0 {
		return results[0], nil
	}
	def, err := llb.Merge(states).Marshal(ctx)
	if err != nil {
		return nil, fmt.Errorf("preparing the cache export: %w", err)
	}
	res, err := gw.Solve(ctx, gateway.SolveRequest{Definition: def.ToPB()})
	if err != nil {
		return nil, fmt.Errorf("preparing the cache export: %w", err)
	}
	return res, nil
}

// stageFSes turns solve results into file systems by platform and stage
// index, and returns the platforms in the order BuildKit reported them.
func stageFSes(ctx context.Context, targets []Stage, results []*gateway.Result) (map[string]map[int]*StageFS, []string, error) {
	out := map[string]map[int]*StageFS{}
	var order []string
	add := func(pl string, s Stage, fs *StageFS) {
		if out[pl] == nil {
			out[pl] = map[int]*StageFS{}
			order = append(order, pl)
		}
		out[pl][s.Index] = fs
	}
	for i, res := range results {
		s := targets[i]
		if pb, ok := res.Metadata[exptypes.ExporterPlatformsKey]; ok && len(res.Refs) > 0 {
			var ps exptypes.Platforms
			if err := json.Unmarshal(pb, &ps); err != nil {
				return nil, nil, fmt.Errorf("reading platforms of stage %s: %w", s.Ref(), err)
			}
			for _, p := range ps.Platforms {
				ref, ok := res.Refs[p.ID]
				if !ok || ref == nil {
					return nil, nil, fmt.Errorf("stage %s: no result for platform %s", s.Ref(), p.ID)
				}
				cfg := res.Metadata[exptypes.ExporterImageConfigKey+"/"+p.ID]
				add(platforms.Format(p.Platform), s, newStageFS(ctx, s, platforms.Format(p.Platform), ref, cfg))
			}
			continue
		}
		ref, err := res.SingleRef()
		if err != nil {
			return nil, nil, fmt.Errorf("stage %s: %w", s.Ref(), err)
		}
		if ref == nil {
			return nil, nil, fmt.Errorf("stage %s: the solve returned an empty result", s.Ref())
		}
		cfg := res.Metadata[exptypes.ExporterImageConfigKey]
		add(configPlatform(cfg), s, newStageFS(ctx, s, configPlatform(cfg), ref, cfg))
	}
	// A stage solved for a single platform (FROM --platform) joins every
	// platform of the others, so each callback sees every stage.
	if len(order) > 1 {
		for _, pl := range order {
			for _, s := range targets {
				if out[pl][s.Index] == nil {
					for _, other := range order {
						if fs := out[other][s.Index]; fs != nil {
							out[pl][s.Index] = fs
							break
						}
					}
				}
			}
		}
	}
	return out, order, nil
}

func configPlatform(cfg []byte) string {
	var img ocispecs.Image
	if len(cfg) == 0 || json.Unmarshal(cfg, &img) != nil || img.OS == "" {
		return platforms.DefaultString()
	}
	return platforms.Format(img.Platform)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Export builds one stage and writes it as an OCI image layout: a tar file
// when dest ends in ".tar", else a directory. dest appears only complete.
func (c *Client) Export(ctx context.Context, req Request, stage, dest string) error {
	p, err := c.prepare(req, []string{stage})
	if err != nil {
		return err
	}
	defer p.cleanup()
	if t := p.target(p.targets[0]); t != "" {
		p.opt.FrontendAttrs["target"] = t
	}
	tmp := dest + ".tmp-slim"
	_ = os.RemoveAll(tmp)
	defer os.RemoveAll(tmp)
	asTar := strings.HasSuffix(dest, ".tar")
	// The stage is named STAGE:latest, so tools that address a layout by tag
	// (umoci, skopeo oci:DIR:latest) find it; a stage name that is no valid image
	// name stays unnamed rather than failing the export.
	attrs := map[string]string{}
	if _, err := name.NewTag(stage+":latest", name.StrictValidation); err == nil {
		attrs["name"] = stage + ":latest"
	}
	if asTar {
		p.opt.Exports = []client.ExportEntry{{
			Type:  client.ExporterOCI,
			Attrs: attrs,
			Output: func(map[string]string) (io.WriteCloser, error) {
				return os.Create(tmp)
			},
		}}
	} else {
		attrs["tar"] = "false"
		p.opt.Exports = []client.ExportEntry{{
			Type:      client.ExporterOCI,
			Attrs:     attrs,
			OutputDir: tmp,
		}}
	}
	err = withProgress(ctx, p, func(ctx context.Context, ch chan *client.SolveStatus, _ *stepper) error {
		_, err := c.bk.Solve(ctx, nil, p.opt, ch)
		return err
	})
	if err != nil {
		return fmt.Errorf("exporting stage %s: %w", stage, refused(err))
	}
	if !asTar {
		if err := os.RemoveAll(dest); err != nil {
			return fmt.Errorf("exporting stage %s: %w", stage, err)
		}
	}
	if err := os.Rename(tmp, dest); err != nil {
		return fmt.Errorf("exporting stage %s: %w", stage, err)
	}
	return nil
}

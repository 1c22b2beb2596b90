package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"slices"
	"strings"

	"github.com/containerd/platforms"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
	"github.com/moby/buildkit/util/purl"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// Invocation is how a Dockerfile build was invoked and which images it read, in the
// shape of BuildKit's own SLSA provenance (mode=min): slim's provenance embeds it, so
// a slimmed image still names the build it came from. Secrets and SSH are never in it.
type Invocation struct {
	// ConfigSource names the Dockerfile: its file name and sha256.
	ConfigSource ConfigSource `json:"configSource"`
	// Frontend is BuildKit's frontend ("dockerfile.v0").
	Frontend string `json:"frontend"`
	// Args are the frontend's options as the user gave them: build-arg:NAME, target,
	// platform, context:NAME (named contexts as given on the command line), no-cache.
	Args map[string]string `json:"args,omitempty"`
	// Locals are the local directories the build read (the context, the Dockerfile's
	// directory, named local contexts).
	Locals []Local `json:"locals"`
	// Materials are the images the solved stages start from or copy from, with the
	// digest BuildKit resolved, for the platform of the result.
	Materials []Material `json:"materials,omitempty"`
}

// ConfigSource names the Dockerfile a build ran.
type ConfigSource struct {
	EntryPoint string            `json:"entryPoint"`
	Digest     map[string]string `json:"digest,omitempty"`
}

// Local is a local directory a build read.
type Local struct {
	Name string `json:"name"`
}

// Material is an image a build read: a package URL as BuildKit's provenance writes
// them (pkg:docker/alpine@3.19?platform=linux%2Famd64), or the named context's
// reference as given, and its digest ("sha256" → hex).
type Material struct {
	URI    string            `json:"uri"`
	Digest map[string]string `json:"digest,omitempty"`
}

type invocationKey struct{}

// BuildInvocation is the invocation of the build whose Solve callback got ctx, for
// the platform of that call; nil unless the request asked for it (Request.Invocation).
func BuildInvocation(ctx context.Context) *Invocation {
	inv, _ := ctx.Value(invocationKey{}).(*Invocation)
	return inv
}

// invocation makes the Invocation of the request for platform pl, resolving the
// images the targets depend on through the session's own resolver (which the
// frontend has just used, so BuildKit answers from its cache).
func (p *prepared) invocation(ctx context.Context, gw gateway.Client, req Request, pl string) *Invocation {
	df := p.df
	sum := sha256.Sum256(df.Source)
	inv := &Invocation{
		ConfigSource: ConfigSource{EntryPoint: filepath.Base(df.Path), Digest: map[string]string{"sha256": hex.EncodeToString(sum[:])}},
		Frontend:     "dockerfile.v0",
		Args:         map[string]string{},
		Locals:       []Local{{Name: "context"}, {Name: "dockerfile"}},
	}
	var named []string
	for k, v := range p.opt.FrontendAttrs {
		switch {
		case k == "filename":
		case strings.HasPrefix(k, "context:"):
			inv.Args[k] = req.NamedContexts[strings.TrimPrefix(k, "context:")]
			if strings.HasPrefix(v, "local:") {
				named = append(named, strings.TrimPrefix(v, "local:"))
			}
		default:
			inv.Args[k] = v
		}
	}
	slices.Sort(named)
	for _, n := range named {
		inv.Locals = append(inv.Locals, Local{Name: n})
	}
	target, err := platforms.Parse(pl)
	if err != nil {
		return inv
	}
	buildPlatform := platforms.DefaultSpec()
	if ws := gw.BuildOpts().Workers; len(ws) > 0 && len(ws[0].Platforms) > 0 {
		buildPlatform = ws[0].Platforms[0]
	}
	seen := map[string]bool{}
	for _, used := range p.imagesUsed() {
		if seen[used.name+"\x00"+used.platform] {
			continue
		}
		seen[used.name+"\x00"+used.platform] = true
		platform := target
		switch used.platform {
		case "":
		case "$BUILDPLATFORM", "${BUILDPLATFORM}":
			platform = buildPlatform
		default:
			if pp, err := platforms.Parse(used.platform); err == nil {
				platform = pp
			}
		}
		if m, ok := p.contextMaterial(req, used.name); ok {
			if m != nil {
				inv.Materials = append(inv.Materials, *m)
			}
			continue
		}
		inv.Materials = append(inv.Materials, resolveMaterial(ctx, gw, used.name, platform))
	}
	return inv
}

// imageUse is an image a stage names: in FROM (with its --platform as written) or in
// COPY --from.
type imageUse struct{ name, platform string }

// imagesUsed lists the images that the targets read, through their FROM chains and
// COPY --from edges, in Dockerfile order.
func (p *prepared) imagesUsed() []imageUse {
	var out []imageUse
	visited := map[int]bool{}
	var walk func(s Stage)
	walk = func(s Stage) {
		if visited[s.Index] {
			return
		}
		visited[s.Index] = true
		if base, ok := ResolveStage(p.stages, s.BaseName); ok && base.Index < s.Index {
			walk(base)
		} else if !strings.EqualFold(s.BaseName, "scratch") {
			out = append(out, imageUse{name: s.BaseName, platform: s.Platform})
		}
		for _, e := range s.CopyFrom {
			if from, ok := ResolveStage(p.stages, e.From); ok {
				walk(from)
			} else if e.From != "" {
				out = append(out, imageUse{name: e.From})
			}
		}
	}
	for _, t := range p.targets {
		walk(t)
	}
	return out
}

// contextMaterial is the material of an image name that a named context replaces:
// ok when one does; nil for a local directory (a Local, not a material).
func (p *prepared) contextMaterial(req Request, name string) (*Material, bool) {
	key, ok := namedContextKey(req.NamedContexts, name)
	if !ok {
		return nil, false
	}
	given, attr := req.NamedContexts[key], p.opt.FrontendAttrs["context:"+key]
	if strings.HasPrefix(attr, "local:") {
		return nil, true
	}
	m := &Material{URI: given}
	if _, d, ok := strings.Cut(attr, "@"); ok {
		if alg, hexd, ok := strings.Cut(d, ":"); ok {
			m.Digest = map[string]string{alg: hexd}
		}
	}
	return m, true
}

// resolveMaterial resolves an image name to the digest BuildKit uses for platform;
// a name that does not resolve is named without a digest.
func resolveMaterial(ctx context.Context, gw gateway.Client, ref string, platform ocispecs.Platform) Material {
	m := Material{URI: ref}
	if u, err := purl.RefToPURL("docker", ref, &platform); err == nil {
		m.URI = u
	}
	_, dgst, _, err := gw.ResolveImageConfig(ctx, ref, sourceresolver.Opt{
		LogName:  "[slim] resolving " + ref + " for provenance",
		ImageOpt: &sourceresolver.ResolveImageOpt{Platform: &platform, ResolveMode: "default"},
	})
	if err == nil && dgst != "" {
		m.Digest = map[string]string{dgst.Algorithm().String(): dgst.Encoded()}
	}
	return m
}

// namedContextKey finds the named context that replaces the image name, as the
// frontend matches them: by the name as written, or both normalized
// ("golang" and "docker.io/library/golang:latest").
func namedContextKey(contexts map[string]string, image string) (string, bool) {
	if _, ok := contexts[image]; ok {
		return image, true
	}
	want, err := name.ParseReference(image)
	if err != nil {
		return "", false
	}
	for k := range contexts {
		if got, err := name.ParseReference(k); err == nil && got.Name() == want.Name() {
			return k, true
		}
	}
	return "", false
}

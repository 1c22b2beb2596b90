package job

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slim-dev/slim/build"
	"github.com/slim-dev/slim/internal/mediatype"
	"github.com/slim-dev/slim/rebase"
	"github.com/slim-dev/slim/tarball/output"
)

// Attest is what a run attaches to its result as buildx does (--sbom, --provenance).
type Attest struct {
	// SBOM attaches an SPDX 2.3 document of each image (rebase.SBOM).
	SBOM bool
	// Provenance attaches SLSA v0.2 provenance of each image, as BuildKit's mode=min.
	Provenance bool
}

// ResolveAttest decides --sbom and --provenance for outs. Each is on by default when
// every output is a registry push, as buildx attaches provenance to what it pushes (a
// registry serves the index to clients that pick their platform and skip attestation
// manifests). An OCI layout can hold them too, but only when asked: a layout's tag then
// names an index, which umoci (0.4) refuses as ambiguous, and third-party readers of
// slim's files must accept them. A Docker archive or the daemon cannot hold them (`docker
// save`'s format has no index; they take one platform's image). sbom and provenance are
// nil when the user left them unset; an explicit true that an output cannot hold is
// refused before any work.
func ResolveAttest(outs []output.Output, sbom, provenance *bool) (Attest, error) {
	holds, docker := len(outs) > 0, ""
	pushes := len(outs) > 0
	for _, o := range outs {
		push := o.Type == output.Registry || (o.Type == output.Image && o.Push)
		if !push {
			pushes = false
		}
		if o.Type != output.OCI && !push {
			holds, docker = false, o.String()
		}
	}
	pick := func(flag string, v *bool) (bool, error) {
		if v == nil {
			return pushes, nil
		}
		if *v && !holds {
			if docker == "" {
				return false, fmt.Errorf("--%s: %w: add -o type=oci,dest=DIR or --push", flag, ErrAttestOutput)
			}
			return false, fmt.Errorf("--%s with %s: %w: write it in a run of its own, or pass --%s=false", flag, docker, ErrAttestOutput, flag)
		}
		return *v, nil
	}
	var a Attest
	var err error
	if a.SBOM, err = pick("sbom", sbom); err != nil {
		return Attest{}, err
	}
	if a.Provenance, err = pick("provenance", provenance); err != nil {
		return Attest{}, err
	}
	return a, nil
}

// ErrAttestOutput is an explicit --sbom or --provenance with an output that cannot hold
// attestations, or with none that can.
var ErrAttestOutput = errors.New("attestations need OCI layout or registry outputs only (a Docker archive or the daemon takes a single image, no attestations)")

// slimVersion is the version slim was built at, from its build info.
func slimVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// provenance is the SLSA v0.2 predicate slim writes: BuildKit's mode=min shape, no time.
type provenance struct {
	Builder    provBuilder    `json:"builder"`
	BuildType  string         `json:"buildType"`
	Invocation provInvocation `json:"invocation"`
	Materials  []provMaterial `json:"materials,omitempty"`
	Metadata   provMetadata   `json:"metadata"`
}

type provBuilder struct {
	ID string `json:"id"`
}

type provInvocation struct {
	ConfigSource map[string]any `json:"configSource"`
	Parameters   provParameters `json:"parameters"`
	Environment  map[string]any `json:"environment"`
}

type provParameters struct {
	From        []string `json:"from"`
	Base        string   `json:"base"`
	SlimVersion string   `json:"slimVersion"`
	// The Dockerfile build's, as BuildKit's own provenance names them.
	Frontend string            `json:"frontend,omitempty"`
	Args     map[string]string `json:"args,omitempty"`
	Locals   []build.Local     `json:"locals,omitempty"`
}

type provMaterial struct {
	URI    string            `json:"uri"`
	Digest map[string]string `json:"digest,omitempty"`
}

type provMetadata struct {
	Completeness provCompleteness `json:"completeness"`
	Reproducible bool             `json:"reproducible"`
}

type provCompleteness struct {
	Parameters  bool `json:"parameters"`
	Environment bool `json:"environment"`
	Materials   bool `json:"materials"`
}

// attest attaches cfg.Attest's attestations: the result becomes an index (a single
// image is put under one) made by rebase.Attach. A result in Docker media types cannot
// hold them (a Docker manifest list has no annotations): warned, left as it is.
func (r *Result) attest(ctx context.Context, cfg Config, warn func(string)) error {
	if !cfg.Attest.SBOM && !cfg.Attest.Provenance {
		return nil
	}
	idx := r.Index
	if idx == nil {
		var err error
		if idx, err = rebase.Index("", rebase.PlatformImage{Image: r.Image, Platform: rebase.ImagePlatform(r.Image)}); err != nil {
			return err
		}
	}
	mt, err := idx.MediaType()
	if err != nil {
		return fmt.Errorf("attesting: %w", err)
	}
	if mediatype.Of(mt) == mediatype.Docker {
		warn("--sbom and --provenance need OCI media types (the result has Docker's, from its base): nothing attached")
		return nil
	}
	epoch := cfg.SourceDateEpoch
	if epoch.IsZero() {
		epoch = time.Unix(0, 0)
	}
	version := slimVersion()
	var from []string
	for _, f := range cfg.From {
		from = append(from, f.String())
	}
	out, err := rebase.Attach(idx, func(img v1.Image, p v1.Platform) ([]rebase.Attestation, error) {
		var atts []rebase.Attestation
		if cfg.Attest.SBOM {
			a, err := rebase.SBOM(ctx, img, 1, rebase.WithSBOMTool("slim-"+version), rebase.WithSBOMCreated(epoch))
			if err != nil {
				return nil, err
			}
			atts = append(atts, a)
		}
		if cfg.Attest.Provenance {
			pr := provenance{
				Builder:   provBuilder{ID: "https://github.com/slim-dev/slim"},
				BuildType: "https://github.com/slim-dev/slim/job@v1",
				Invocation: provInvocation{ConfigSource: map[string]any{},
					Parameters:  provParameters{From: from, Base: r.Report.Base, SlimVersion: version},
					Environment: map[string]any{"platform": p.String()}},
				Metadata: provMetadata{Completeness: provCompleteness{Parameters: true, Environment: true}, Reproducible: true},
			}
			mf, err := img.Manifest()
			if err != nil {
				return nil, fmt.Errorf("attesting: %w", err)
			}
			cf, err := img.ConfigFile()
			if err != nil {
				return nil, fmt.Errorf("attesting: %w", err)
			}
			name, digest := mediatype.BaseAnnotations(mf, cf)
			if name == "" && digest != "" {
				// A built-in or local base carries no base.name (it is no registry
				// reference): named as the run was given it.
				name = r.Report.Base
			}
			if name != "" {
				m := provMaterial{URI: name}
				if h, err := v1.NewHash(digest); err == nil {
					m.Digest = map[string]string{h.Algorithm: h.Hex}
				}
				pr.Materials = append(pr.Materials, m)
			}
			for _, s := range r.Report.Sources {
				if s.Platform != "" && s.Platform != p.String() {
					continue
				}
				m := provMaterial{URI: s.Name}
				if h, err := v1.NewHash(s.Digest); err == nil {
					m.Digest = map[string]string{h.Algorithm: h.Hex}
				}
				pr.Materials = append(pr.Materials, m)
			}
			if inv := r.invocations[p.String()]; inv != nil {
				// The build the stages came from: its Dockerfile, options and the
				// images its stages read, so the provenance reaches past the stages.
				pr.Invocation.ConfigSource = map[string]any{"entryPoint": inv.ConfigSource.EntryPoint, "digest": inv.ConfigSource.Digest}
				pr.Invocation.Parameters.Frontend, pr.Invocation.Parameters.Args, pr.Invocation.Parameters.Locals = inv.Frontend, inv.Args, inv.Locals
				for _, m := range inv.Materials {
					pr.Materials = append(pr.Materials, provMaterial{URI: m.URI, Digest: m.Digest})
				}
			}
			atts = append(atts, rebase.Attestation{PredicateType: rebase.PredicateSLSA02, Predicate: pr})
		}
		return atts, nil
	})
	if err != nil {
		return err
	}
	r.Image, r.Index = nil, out
	return nil
}

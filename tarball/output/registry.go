package output

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/slim-dev/slim/internal/imageref"
	"github.com/slim-dev/slim/internal/regerr"
)

func planPush(s subject, out Output, names []string, o *options) (plan, error) {
	if len(names) == 0 {
		return plan{}, fmt.Errorf("checking output %s: pushing needs a name; give -t REGISTRY/REPO:TAG or name=: %w", out, ErrBadOutput)
	}
	refs, err := registryRefs(names, o.refOpts)
	if err != nil {
		return plan{}, fmt.Errorf("checking output %s: %w", out, err)
	}
	return plan{desc: "registry " + strings.Join(names, ", "), remote: func(ctx context.Context) (string, error) {
		if err := pushRefs(ctx, s, refs, o); err != nil {
			return "", err
		}
		d, err := s.digest()
		if err != nil {
			return "", fmt.Errorf("pushing %s: %w", strings.Join(names, ", "), err)
		}
		return d.String(), nil
	}}, nil
}

// registryRefs parses push targets with imageref's rules, so a name pushed to is read
// back the same way: plain HTTP for loopback registries, and for all with --insecure.
func registryRefs(names []string, refOpts []imageref.Option) ([]name.Reference, error) {
	var refs []name.Reference
	for _, n := range names {
		r, err := imageref.Parse(n, refOpts...)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", err, ErrBadOutput)
		}
		if r.Kind != imageref.Registry {
			return nil, fmt.Errorf("parsing name %q: a push needs a registry name, not %s://; use -o type=oci or type=docker for files: %w", n, r.Kind, ErrBadOutput)
		}
		if _, ok := r.Name.(name.Tag); !ok {
			return nil, fmt.Errorf("parsing name %q: pushing needs a tag, not a digest: %w", n, ErrBadOutput)
		}
		refs = append(refs, r.Name)
	}
	return refs, nil
}

// pushRefs writes the image or index under every reference. ggcr skips blobs the
// registry already has, so the second tag costs a few HEAD requests and a manifest.
func pushRefs(ctx context.Context, s subject, refs []name.Reference, o *options) error {
	ropts := imageref.RemoteOptions(ctx, o.refOpts...)
	for _, ref := range refs {
		var err error
		if s.img != nil {
			err = remote.Write(ref, s.img, ropts...)
		} else {
			err = remote.WriteIndex(ref, s.idx, ropts...)
		}
		if err != nil {
			return fmt.Errorf("pushing %s: %w", ref, regerr.Wrap(err, ref.Context().RegistryStr()))
		}
	}
	return nil
}

package tarball

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/slim-dev/slim/internal/imageref"
)

// registryRefs parses push targets with imageref's rules, so a name pushed to is read
// back the same way: plain HTTP for loopback registries, and for all with --insecure.
func registryRefs(names []string, insecure bool) ([]name.Reference, error) {
	var refs []name.Reference
	for _, n := range names {
		r, err := imageref.Parse(n, imageref.WithInsecure(insecure))
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
func pushRefs(ctx context.Context, s subject, refs []name.Reference, o *outputOptions) error {
	ropts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(o.keychain)}
	switch {
	case o.transport != nil:
		ropts = append(ropts, remote.WithTransport(o.transport))
	case o.insecure:
		// As crane --insecure: a registry the user called insecure may also have a
		// self-signed certificate.
		tr := remote.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // asked for by the user
		ropts = append(ropts, remote.WithTransport(tr))
	}
	for _, ref := range refs {
		var err error
		if s.img != nil {
			err = remote.Write(ref, s.img, ropts...)
		} else {
			err = remote.WriteIndex(ref, s.idx, ropts...)
		}
		if err != nil {
			return fmt.Errorf("pushing %s: %w", ref, err)
		}
	}
	return nil
}

package output

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/slim-dev/slim/internal/imageref"
	"github.com/slim-dev/slim/internal/progress"
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
	return plan{desc: "registry " + strings.Join(names, ", "), remote: func(ctx context.Context, st progress.Step) (string, error) {
		if err := pushRefs(ctx, s, refs, st, o); err != nil {
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

// pushRefs writes the image or index under every reference: first by digest into
// every repository named (all blobs and the manifest), then each tag, so that no tag
// points at an image whose push later fails, and a failure while tagging says which
// tags were written and which were not.
func pushRefs(ctx context.Context, s subject, refs []name.Reference, st progress.Step, o *options) error {
	ropts := imageref.RemoteOptions(ctx, o.refOpts...)
	d, err := s.digest()
	if err != nil {
		return fmt.Errorf("pushing: reading the digest: %w", err)
	}
	var taggable remote.Taggable = s.img
	if s.img == nil {
		taggable = s.idx
	}
	pushed := map[string]bool{}
	for _, ref := range refs {
		repo := ref.Context()
		if pushed[repo.String()] {
			continue
		}
		pushed[repo.String()] = true
		byDigest := repo.Digest(d.String())
		err = pushShown(byDigest, s, st, ropts)
		if err != nil {
			return fmt.Errorf("pushing %s (no tag written): %w", byDigest, regerr.Wrap(err, repo.RegistryStr()))
		}
	}
	for i, ref := range refs {
		tag, ok := ref.(name.Tag)
		if !ok {
			continue // registryRefs refuses digests: nothing to tag
		}
		if err := remote.Tag(tag, taggable, ropts...); err != nil {
			return fmt.Errorf("tagging %s as %s (%s): %w", d, ref, tagsWritten(refs[:i], refs[i:]), regerr.Wrap(err, ref.Context().RegistryStr()))
		}
	}
	return nil
}

// pushShown writes s by digest, its bytes (of blobs the registry did not already have)
// shown as the step's progress under the repository's name.
func pushShown(byDigest name.Digest, s subject, st progress.Step, ropts []remote.Option) error {
	updates := make(chan v1.Update, 16)
	written, shown := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(shown)
		id := "push " + byDigest.Context().String()
		for {
			select {
			case u, ok := <-updates:
				if !ok {
					return
				}
				st.Progress(id, u.Complete, u.Total)
			case <-written:
				// ggcr closes updates when its push ran, but not when it failed
				// before (an option's error): the write's return ends this too.
				return
			}
		}
	}()
	ropts = append(slices.Clip(ropts), remote.WithProgress(updates))
	var err error
	if s.img != nil {
		err = remote.Write(byDigest, s.img, ropts...)
	} else {
		err = remote.WriteIndex(byDigest, s.idx, ropts...)
	}
	close(written)
	<-shown
	return err
}

// tagsWritten says which tags a failed push wrote and which it did not.
func tagsWritten(done, notDone []name.Reference) string {
	list := func(rs []name.Reference) string {
		if len(rs) == 0 {
			return "none"
		}
		var ss []string
		for _, r := range rs {
			ss = append(ss, r.String())
		}
		return strings.Join(ss, ", ")
	}
	return "tags written: " + list(done) + "; not written: " + list(notDone)
}

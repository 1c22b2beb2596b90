package imageref

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/daemon"
	"github.com/moby/moby/client"
)

// daemonLookupTimeout bounds the question "does the Docker daemon hold this name?": a
// daemon that does not answer by then is taken as absent, so a machine without one
// reaches the registry without a noticeable wait.
const daemonLookupTimeout = 2 * time.Second

// Resolve decides where a reference written without a scheme (Bare) is read from, as
// docker, dive and buildx users expect:
//
//   - a path that exists on disk is an OCI layout (index.json and oci-layout) or a
//     docker archive (a tar with manifest.json), and anything else there is an error;
//   - a tagged name the local Docker daemon holds is read from the daemon;
//   - anything else is a registry name. A digest always is: it names registry bytes,
//     which a daemon's re-export would not keep.
//
// Other references, and references already resolved, are returned as they are. Open
// resolves by itself; callers use Resolve to say where an image comes from (Origin, Note).
func Resolve(ctx context.Context, r Ref, opts ...Option) (Ref, error) {
	if !r.Bare || r.resolved {
		return r, nil
	}
	o := makeOptions(opts...)
	out, err := resolve(ctx, r, o)
	if err != nil {
		return Ref{}, fmt.Errorf("reading %s: %w", r.Raw, err)
	}
	out.Raw, out.Bare, out.resolved = r.Raw, true, true
	return out, nil
}

func resolve(ctx context.Context, r Ref, o options) (Ref, error) {
	p := r.Raw
	if r.Kind == Path {
		p = r.Path
	}
	if _, err := os.Stat(p); err == nil {
		return localRef(p, r)
	} else if r.Kind == Path {
		if errors.Is(err, fs.ErrNotExist) {
			return Ref{}, fmt.Errorf("no file or directory %s: %w", p, ErrNotFound)
		}
		return Ref{}, err
	}
	if _, ok := r.Name.(name.Tag); ok && inDaemon(ctx, r.Name, o) {
		return Ref{Kind: DockerDaemon, Name: r.Name}, nil
	}
	return Ref{Kind: Registry, Name: r.Name}, nil
}

// localRef reads an existing path as the kind of image its contents say.
func localRef(p string, r Ref) (Ref, error) {
	isLayout, err := hasLayoutFiles(p)
	if err != nil {
		return Ref{}, err
	}
	if isLayout {
		return Ref{Kind: Layout, Path: p}, nil
	}
	isArchive, err := hasTarMember(p, "manifest.json")
	if err != nil {
		return Ref{}, err
	}
	if isArchive {
		return Ref{Kind: DockerArchive, Path: p}, nil
	}
	hint := ""
	if r.Name != nil {
		hint = fmt.Sprintf("; for the registry image, write %s://%s", schemeImage, r.Raw)
	}
	return Ref{}, fmt.Errorf("%s exists but is neither an OCI image layout (a directory with index.json and oci-layout) nor a docker archive (a tar with manifest.json)%s: %w",
		p, hint, ErrNotFound)
}

func hasLayoutFiles(dir string) (bool, error) {
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return false, err
	}
	for _, f := range []string{"index.json", "oci-layout"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return false, nil
			}
			return false, err
		}
	}
	return true, nil
}

// hasTarMember reports whether file is a tar holding member. Only headers are read; a
// file that is no tar (or a directory) simply does not hold it.
func hasTarMember(file, member string) (bool, error) {
	f, err := os.Open(file)
	if err != nil {
		return false, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return false, err
	}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return false, nil //nolint:nilerr // not a tar: not an archive
		}
		if filepath.Clean(h.Name) == member {
			return true, nil
		}
	}
}

// inDaemon reports whether a Docker daemon answers and holds n. Every failure (no
// daemon, a hung one, no permission on its socket) means no, quietly: the registry
// is the answer then, as it was before the daemon was asked.
func inDaemon(ctx context.Context, n name.Reference, o options) bool {
	ctx, cancel := context.WithTimeout(ctx, daemonLookupTimeout)
	defer cancel()
	c, release, err := dockerClient(o)
	if err != nil {
		return false
	}
	defer release()
	_, err = c.ImageInspect(ctx, n.String())
	return err == nil
}

// dockerClient is the injected client, or one configured from the environment
// (DOCKER_HOST and friends, as the docker CLI reads them) with a func to release it.
func dockerClient(o options) (daemon.Client, func(), error) {
	if o.daemonClient != nil {
		return o.daemonClient, func() {}, nil
	}
	c, err := client.New(client.FromEnv)
	if err != nil {
		return nil, nil, fmt.Errorf("connecting to the Docker daemon: %w", err)
	}
	return c, func() { c.Close() }, nil
}

// Origin says where the image is read from, for progress lines:
// "reading myapp:fat from the Docker daemon".
func (r Ref) Origin() string {
	switch r.Kind {
	case Registry:
		if r.Name != nil {
			return "the registry " + r.Name.Context().RegistryStr()
		}
		return "the registry"
	case DockerDaemon:
		return "the Docker daemon"
	case Layout:
		return "the OCI layout " + r.Path
	case DockerArchive:
		return "the docker archive " + r.Path
	}
	return r.Raw
}

// Reading is the line that says where the image is read from: for a bare reference,
// where Resolve found it ("reading myapp:fat from the Docker daemon"), and for a bare
// path taken as a layout or an archive, a note with the explicit form, which says the
// same without guessing.
func (r Ref) Reading() string {
	switch {
	case !r.Bare || !r.resolved:
		return "reading " + r.Raw
	case r.Kind == Layout || r.Kind == DockerArchive:
		return fmt.Sprintf("note: reading %s as %s", r.Raw, r)
	}
	return fmt.Sprintf("reading %s from %s", r.Raw, r.Origin())
}

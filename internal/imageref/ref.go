package imageref

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Kind says where an image reference points.
type Kind int

const (
	Registry      Kind = iota // name[:tag|@digest] or docker-image://name[:tag|@digest]
	Layout                    // oci-layout://DIR[:tag|@digest]
	DockerArchive             // docker-archive://FILE[:reference]
	DockerDaemon              // docker-daemon://NAME
	// Path is a file or directory written without a scheme that is no image name
	// (./out, /tmp/app.tar): Resolve reads it as an OCI layout or a docker archive.
	Path
)

const (
	schemeImage   = "docker-image"
	schemeLayout  = "oci-layout"
	schemeArchive = "docker-archive"
	schemeDaemon  = "docker-daemon"
)

func (k Kind) String() string {
	switch k {
	case Registry:
		return "registry"
	case Layout:
		return schemeLayout
	case DockerArchive:
		return schemeArchive
	case DockerDaemon:
		return schemeDaemon
	case Path:
		return "path"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

var (
	// ErrUnknownScheme is returned by Parse for a scheme:// it does not know.
	ErrUnknownScheme = errors.New("unknown image reference scheme")
	// ErrNotFound means the layout directory, archive file, tag or digest does not exist.
	ErrNotFound = errors.New("image not found")
	// ErrPlatform means an index has no image for the wanted platform.
	ErrPlatform = errors.New("platform not in index")
)

// Ref is a parsed image reference. Which fields are set depends on Kind.
type Ref struct {
	Kind Kind
	Raw  string // what the user typed

	// Name is the image name for Registry and DockerDaemon.
	Name name.Reference
	// Path is the layout directory or archive file.
	Path string
	// Tag selects an image in a layout (matched against its ref.name annotation) or in an
	// archive (a reference such as myapp:v1, matched against the archive's RepoTags).
	Tag string
	// Digest selects a manifest in a layout by digest.
	Digest string

	// Bare says the reference was written without a scheme (myapp:fat, ./out). Open
	// reads it from a path on disk that holds an image, else from the Docker daemon when
	// that holds it, else from the registry (see Resolve).
	Bare bool
	// resolved is set by Resolve, so Open does not decide twice.
	resolved bool
}

// Parse parses an image reference without touching the network or the file system.
// WithInsecure is the only option it uses: it marks a registry name as plain-HTTP.
func Parse(s string, opts ...Option) (Ref, error) {
	o := makeOptions(opts...)
	if strings.TrimSpace(s) == "" {
		return Ref{}, errors.New("parsing image reference: empty reference")
	}
	r := Ref{Raw: s}
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		r.Bare = true
		if looksLikePath(s) {
			r.Kind, r.Path = Path, s
			return r, nil
		}
		r.Kind = Registry
		n, err := parseName(s, o.insecure)
		if err != nil {
			return Ref{}, err
		}
		r.Name = n
		return r, nil
	}
	var err error
	switch strings.ToLower(scheme) {
	case schemeImage:
		// buildx's word for a registry image: a name that never means the daemon or a path.
		r.Kind = Registry
		if rest == "" {
			return Ref{}, fmt.Errorf("parsing image reference %q: no image name after %s://", s, schemeImage)
		}
		if r.Name, err = parseName(rest, o.insecure); err != nil {
			return Ref{}, err
		}
		return r, nil
	case schemeLayout:
		r.Kind = Layout
		r.Path, r.Tag, r.Digest, err = splitLayout(rest)
	case schemeArchive:
		r.Kind = DockerArchive
		r.Path, r.Tag, err = splitArchive(rest)
	case schemeDaemon:
		r.Kind = DockerDaemon
		if rest == "" {
			err = errors.New("no image name after docker-daemon://")
		} else {
			r.Name, err = name.ParseReference(rest)
		}
	default:
		return Ref{}, fmt.Errorf("parsing image reference %q: %w %q; supported: %s://, %s://, %s://, %s:// or a registry name[:tag|@digest]",
			s, ErrUnknownScheme, scheme, schemeLayout, schemeArchive, schemeDaemon, schemeImage)
	}
	if err != nil {
		return Ref{}, fmt.Errorf("parsing image reference %q: %w", s, err)
	}
	return r, nil
}

// parseName parses a registry name, allowing plain HTTP for loopback registries (a local
// test registry rarely has a certificate) and for any registry when the user asked.
func parseName(s string, insecure bool) (name.Reference, error) {
	n, err := name.ParseReference(s)
	if err != nil {
		// ggcr says only "could not parse reference"; upper case is the usual cause.
		if repo := repository(s); strings.ToLower(repo) != repo {
			return nil, fmt.Errorf("parsing image reference %q: repository names must be lower case: %w", s, err)
		}
		return nil, fmt.Errorf("parsing image reference %q: %w", s, err)
	}
	if insecure || isLoopback(n.Context().RegistryStr()) {
		// Parsed again because the insecure flag lives inside name.Registry.
		n, err = name.ParseReference(s, name.Insecure)
		if err != nil {
			return nil, fmt.Errorf("parsing image reference %q: %w", s, err)
		}
	}
	return n, nil
}

// looksLikePath tells a path (./out, /tmp/app.tar) from an image name: no name starts
// with '/' or '.', though ggcr would read "./out" as registry "." and repository out.
func looksLikePath(s string) bool {
	return strings.HasPrefix(s, "/") || strings.HasPrefix(s, ".")
}

// repository is s without its :tag and @digest.
func repository(s string) string {
	s, _, _ = strings.Cut(s, "@")
	if i := strings.LastIndexByte(s, ':'); i >= 0 && !strings.Contains(s[i+1:], "/") {
		s = s[:i]
	}
	return s
}

func isLoopback(registry string) bool {
	host := registry
	if h, _, err := net.SplitHostPort(registry); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// splitLayout splits DIR[:tag|@digest]. A directory may itself contain ':' or '@', so a
// selector is only recognised after the LAST separator whose right side has no '/':
// "/tmp/a:b:v1" is DIR /tmp/a:b with tag v1, and "/tmp/a:b/" (trailing slash) is the
// directory /tmp/a:b with no tag.
func splitLayout(s string) (dir, tag, digest string, err error) {
	dir = s
	if i := strings.LastIndexByte(s, '@'); i >= 0 && !strings.Contains(s[i+1:], "/") && strings.Contains(s[i+1:], ":") {
		dir, digest = s[:i], s[i+1:]
		if _, err := v1.NewHash(digest); err != nil {
			return "", "", "", fmt.Errorf("invalid digest %q: %w", digest, err)
		}
	} else if i := strings.LastIndexByte(s, ':'); i >= 0 && !strings.Contains(s[i+1:], "/") {
		dir, tag = s[:i], s[i+1:]
		if err := checkTag(tag); err != nil {
			return "", "", "", err
		}
	}
	if dir == "" {
		return "", "", "", fmt.Errorf("no layout directory after %s://", schemeLayout)
	}
	// The slash that protects a directory like "a:b/" is not part of its name.
	if len(dir) > 1 {
		dir = strings.TrimSuffix(dir, "/")
	}
	return dir, tag, digest, nil
}

// checkTag accepts what the OCI ref.name grammar allows in a tag; it exists so that a
// typo such as "dir:" fails at parse time rather than as an unknown tag later.
func checkTag(tag string) error {
	if tag == "" {
		return errors.New("empty tag after ':'")
	}
	for _, c := range tag {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._-+", c)
		if !ok {
			return fmt.Errorf("invalid tag %q: only letters, digits and . _ - + are allowed", tag)
		}
	}
	return nil
}

// splitArchive splits FILE[:reference]. The reference is a full image name (myapp:v1,
// docker.io/library/alpine:3.20) as `docker save` records it, so it contains ':' and '/'
// itself; like skopeo's docker-archive:, the split is at the first ':' whose right side is
// a valid tagged name. A FILE with ':' in its name can therefore only be used together
// with a reference.
func splitArchive(s string) (file, ref string, err error) {
	if strings.HasSuffix(s, ":") {
		return "", "", errors.New("empty image reference after ':'")
	}
	var colons []int
	for i := 1; i < len(s); i++ {
		if s[i] == ':' {
			colons = append(colons, i)
		}
	}
	// A name holds at most two ':' (registry port and tag), so only the last three
	// colons can start one; trying earlier ones would only cost time.
	file = s
	for _, i := range colons[max(0, len(colons)-3):] {
		if _, err := name.NewTag(s[i+1:]); err == nil {
			file, ref = s[:i], s[i+1:]
			break
		}
	}
	if file == "" {
		return "", "", fmt.Errorf("no archive file after %s://", schemeArchive)
	}
	return file, ref, nil
}

// String returns the reference in the form Parse reads back to the same Ref. A
// registry name is written without docker-image://, as users write it.
func (r Ref) String() string {
	switch r.Kind {
	case Path:
		return r.Path
	case Registry:
		if r.Name == nil {
			return ""
		}
		return r.Name.String()
	case DockerDaemon:
		if r.Name == nil {
			return schemeDaemon + "://"
		}
		return schemeDaemon + "://" + r.Name.String()
	case Layout:
		dir := r.Path
		if r.Tag == "" && r.Digest == "" {
			// A directory that would read back as DIR:tag keeps its meaning with a
			// trailing slash.
			if d, t, g, err := splitLayout(dir); err != nil || d != dir || t != "" || g != "" {
				dir += "/"
			}
		}
		switch {
		case r.Digest != "":
			return schemeLayout + "://" + dir + "@" + r.Digest
		case r.Tag != "":
			return schemeLayout + "://" + dir + ":" + r.Tag
		}
		return schemeLayout + "://" + dir
	case DockerArchive:
		if r.Tag != "" {
			return schemeArchive + "://" + r.Path + ":" + r.Tag
		}
		return schemeArchive + "://" + r.Path
	}
	return r.Raw
}

// Qualified is a registry reference written in full, as registries, regctl and the
// image spec's base.name read it back: docker.io/library/alpine:3.20 for alpine:3.20.
// ok is false for anything that is no registry name (layouts, archives, the daemon,
// paths), which no other machine can pull.
func (r Ref) Qualified() (s string, ok bool) {
	if r.Kind != Registry || r.Name == nil {
		return "", false
	}
	repo := r.Name.Context()
	reg := repo.RegistryStr()
	if reg == name.DefaultRegistry {
		reg = "docker.io" // how Docker and the spec's examples write Docker Hub
	}
	s = reg + "/" + repo.RepositoryStr()
	switch n := r.Name.(type) {
	case name.Digest:
		return s + "@" + n.DigestStr(), true
	case name.Tag:
		return s + ":" + n.TagStr(), true
	}
	return s, true
}

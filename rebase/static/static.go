// Package static owns slim's built-in, offline base image: the equivalent of distroless
// static (users root, nobody and nonroot, /etc/nsswitch.conf, /tmp, home directories, a
// CA bundle, time zones and /etc/os-release), in one reproducible layer.
//
// Everything comes from maintained Go sources, so the base needs no network and no
// registry, and two builds with the same go.mod give the same digest:
//
//   - the CA bundle is Mozilla's NSS root store as the Go team publishes it in
//     golang.org/x/crypto/x509roots/fallback/bundle; upgrading that module refreshes it;
//   - the time zones are Go's copy of the IANA database ($GOROOT/lib/time/zoneinfo.zip),
//     copied here by `go generate` (see gen_zoneinfo.go) and expanded into
//     /usr/share/zoneinfo.
//
// Any change to either shows up as a new golden digest in the tests (`-update`).
package static

//go:generate go run gen_zoneinfo.go

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/pem"
	"fmt"
	"io"
	"maps"
	"runtime"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/crypto/x509roots/fallback/bundle"

	"github.com/slim-dev/slim/internal/mediatype"
	"github.com/slim-dev/slim/tarball"
)

// zoneinfoZip is Go's IANA time zone database; see gen_zoneinfo.go for its origin.
//
//go:embed zoneinfo.zip
var zoneinfoZip []byte

//go:embed zoneinfo.version
var zoneinfoVersion string

// RootsModule is the module the CA bundle is built from, at the version in go.mod. A
// test checks it against the build information, so a module upgrade without updating
// it fails instead of mislabelling /etc/os-release.
const RootsModule = "golang.org/x/crypto/x509roots/fallback@v0.0.0-20261030153154-30a33513ff6d"

// Paths and values the base provides, for callers that point programs at them.
const (
	CertFile    = "/etc/ssl/certs/ca-certificates.crt"
	ZoneinfoDir = "/usr/share/zoneinfo"
	DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	// NonrootUID is distroless's unprivileged user (and group).
	NonrootUID = 65532
)

// The same lines as distroless, so images that run as nonroot or nobody there run here.
const (
	etcPasswd = "root:x:0:0:root:/root:/sbin/nologin\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n" +
		"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	etcGroup = "root:x:0:\n" +
		"nobody:x:65534:\n" +
		"tty:x:5:\n" +
		"staff:x:50:\n" +
		"nonroot:x:65532:\n"
	// Only the databases that exist here; "hosts: files dns" is what makes Go's and
	// glibc's resolvers read /etc/hosts before asking DNS.
	etcNsswitch = "passwd:         files\n" +
		"group:          files\n" +
		"shadow:         files\n" +
		"hosts:          files dns\n" +
		"networks:       files\n" +
		"protocols:      files\n" +
		"services:       files\n"
)

// TZDataVersion is the IANA tzdata release of the embedded time zones (for example 2025c).
func TZDataVersion() string { return strings.TrimSpace(zoneinfoVersion) }

// CABundle returns the PEM bundle written to CertFile and how many roots it holds.
//
// Roots that carry a constraint (NSS's "distrust after" date) are left out: a PEM file
// cannot say that certificates issued after a date must be refused, so including them
// would trust more than Mozilla does.
func CABundle() ([]byte, int, error) {
	var buf bytes.Buffer
	n := 0
	for root := range bundle.Roots() {
		if root.Constraint != nil {
			continue
		}
		if err := pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: root.Certificate}); err != nil {
			return nil, 0, fmt.Errorf("encoding root certificate %d: %w", n, err)
		}
		n++
	}
	if n == 0 {
		return nil, 0, fmt.Errorf("building CA bundle: %s has no unconstrained roots", RootsModule)
	}
	return buf.Bytes(), n, nil
}

// OSRelease returns the /etc/os-release of the base, naming the versions of its data.
func OSRelease(roots int) string {
	return "NAME=\"slim static\"\n" +
		"ID=slim-static\n" +
		"PRETTY_NAME=\"slim static (distroless-static equivalent)\"\n" +
		"HOME_URL=\"https://github.com/slim-dev/slim\"\n" +
		fmt.Sprintf("SLIM_CA_ROOTS=\"%s (%d Mozilla NSS roots)\"\n", RootsModule, roots) +
		fmt.Sprintf("SLIM_TZDATA=\"%s (IANA, from Go's lib/time/zoneinfo.zip)\"\n", TZDataVersion())
}

// packageStatus is what the base says of its data for scanners, distroless's way (one
// dpkg status.d file per package): the CA bundle and the time zones, at the versions
// of their sources (the roots module's date, the IANA release).
func packageStatus() map[string]string {
	_, pseudo, _ := strings.Cut(RootsModule, "@")
	date := pseudo
	if f := strings.Split(pseudo, "-"); len(f) == 3 && len(f[1]) >= 8 {
		date = f[1][:8]
	}
	arch := "all"
	return map[string]string{
		"ca-certificates": "Package: ca-certificates\nStatus: install ok installed\nPriority: optional\nSection: misc\n" +
			"Maintainer: slim\nArchitecture: " + arch + "\nVersion: " + date + "\n" +
			"Description: Mozilla's CA roots (" + RootsModule + "), in " + CertFile + "\n" +
			"Homepage: https://pkg.go.dev/golang.org/x/crypto/x509roots/fallback\n",
		"tzdata": "Package: tzdata\nStatus: install ok installed\nPriority: required\nSection: localization\n" +
			"Maintainer: slim\nArchitecture: " + arch + "\nVersion: " + TZDataVersion() + "\n" +
			"Description: IANA time zone database " + TZDataVersion() + " (Go's lib/time/zoneinfo.zip), in " + ZoneinfoDir + "\n" +
			"Homepage: https://www.iana.org/time-zones\n",
	}
}

// Entries returns the base's files as tarball entries (parents are added by
// tarball.WithParents). Content is read from memory, so Open never fails.
func Entries() ([]tarball.Entry, error) {
	certs, n, err := CABundle()
	if err != nil {
		return nil, err
	}
	entries := []tarball.Entry{
		file("etc/passwd", 0o644, etcPasswd),
		file("etc/group", 0o644, etcGroup),
		file("etc/nsswitch.conf", 0o644, etcNsswitch),
		file("etc/os-release", 0o644, OSRelease(n)),
		file(strings.TrimPrefix(CertFile, "/"), 0o644, string(certs)),
		dir("etc/ssl", 0o755, 0),
		dir("etc/ssl/certs", 0o755, 0),
		dir("tmp", 0o1777, 0),
		dir("root", 0o700, 0),
		dir("home", 0o755, 0),
		dir("home/nonroot", 0o700, NonrootUID),
	}
	status := packageStatus()
	for _, name := range slices.Sorted(maps.Keys(status)) {
		entries = append(entries, file("var/lib/dpkg/status.d/"+name, 0o644, status[name]))
	}
	zr, err := zip.NewReader(bytes.NewReader(zoneinfoZip), int64(len(zoneinfoZip)))
	if err != nil {
		return nil, fmt.Errorf("reading embedded zoneinfo.zip: %w", err)
	}
	for _, zf := range zr.File {
		name := strings.TrimPrefix(ZoneinfoDir, "/") + "/" + strings.TrimSuffix(zf.Name, "/")
		if zf.FileInfo().IsDir() {
			entries = append(entries, dir(name, 0o755, 0))
			continue
		}
		entries = append(entries, tarball.Entry{
			Header: &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(zf.UncompressedSize64)},
			Open:   func() (io.ReadCloser, error) { return zf.Open() },
		})
	}
	return entries, nil
}

func file(name string, mode int64, body string) tarball.Entry {
	return tarball.Entry{
		Header: &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: mode, Size: int64(len(body))},
		Open:   func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(body)), nil },
	}
}

func dir(name string, mode int64, owner int) tarball.Entry {
	return tarball.Entry{Header: &tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: mode, Uid: owner, Gid: owner}}
}

// Layer builds the base's single layer: gzip at the best level (the base is pulled by
// every image that uses it), OCI media type, every timestamp at the Unix epoch. The
// layer is kept in memory (a few hundred KiB), so it needs no Close.
func Layer() (v1.Layer, error) {
	entries, err := Entries()
	if err != nil {
		return nil, err
	}
	l, err := tarball.NewLayer(entries,
		tarball.WithCompression(tarball.Gzip),
		tarball.WithLevel(tarball.LevelBest),
		tarball.WithMediaTypes(mediatype.OCI),
		tarball.WithParents(),
	)
	if err != nil {
		return nil, fmt.Errorf("writing static base layer: %w", err)
	}
	defer l.Close()
	rc, err := l.Compressed()
	if err != nil {
		return nil, fmt.Errorf("reading static base layer: %w", err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("reading static base layer: %w", err)
	}
	ml := &memLayer{b: b}
	ml.digest, _ = l.Digest()
	ml.diffID, _ = l.DiffID()
	ml.mediaType, _ = l.MediaType()
	return ml, nil
}

// memLayer is a gzip layer held in memory, with the digests tarball computed while
// writing it.
type memLayer struct {
	b              []byte
	digest, diffID v1.Hash
	mediaType      types.MediaType
}

func (l *memLayer) Digest() (v1.Hash, error)            { return l.digest, nil }
func (l *memLayer) DiffID() (v1.Hash, error)            { return l.diffID, nil }
func (l *memLayer) Size() (int64, error)                { return int64(len(l.b)), nil }
func (l *memLayer) MediaType() (types.MediaType, error) { return l.mediaType, nil }
func (l *memLayer) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l.b)), nil
}

func (l *memLayer) Uncompressed() (io.ReadCloser, error) {
	zr, err := gzip.NewReader(bytes.NewReader(l.b))
	if err != nil {
		return nil, fmt.Errorf("reading static base layer: %w", err)
	}
	return zr, nil
}

// Image returns the static base for platform p. Its files do not depend on the
// platform, so only the config's os/architecture/variant differ between platforms and
// every platform shares the same layer blob.
func Image(p v1.Platform) (v1.Image, error) {
	layer, err := Layer()
	if err != nil {
		return nil, err
	}
	epoch := v1.Time{Time: time.Unix(0, 0).UTC()}
	base := mediatype.EmptyImage(mediatype.OCI)
	img, err := mutate.Append(base, mutate.Addendum{
		Layer: layer,
		History: v1.History{
			Created:   epoch,
			CreatedBy: fmt.Sprintf("slim: built-in static base (CA roots %s, tzdata %s)", RootsModule, TZDataVersion()),
			Comment:   "distroless-static equivalent",
		},
	})
	if err != nil {
		return nil, fmt.Errorf("building static base: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("building static base config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.Created = epoch
	cf.OS, cf.Architecture, cf.Variant, cf.OSVersion = p.OS, p.Architecture, p.Variant, p.OSVersion
	if cf.OS == "" {
		cf.OS = "linux"
	}
	if cf.Architecture == "" {
		cf.Architecture = runtime.GOARCH
	}
	cf.Config = v1.Config{
		Env: []string{"PATH=" + DefaultPath, "SSL_CERT_FILE=" + CertFile},
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("building static base config: %w", err)
	}
	return img, nil
}

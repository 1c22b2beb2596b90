package testimage

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// debianMirror is where debootstrap and apt-get fetch bookworm.
const debianMirror = "http://deb.debian.org/debian"

// fixtureVersion is part of every fixture's key: bump it when the way fixtures are
// made changes, so that old cache entries are not reused.
const fixtureVersion = "1"

// Debian is the recipe of a Debian bookworm image: debootstrap's minbase, then
// Packages installed with apt-get --no-install-recommends, then Script run with
// /bin/sh inside it. Its key (a hash of all three) names its cache entry.
type Debian struct {
	Packages []string
	Script   string
}

// LanguageRuntimes is bookworm with python3, nodejs and a JRE: the runtime tests'
// fixture, and the real root file system `make bench` compresses.
func LanguageRuntimes() Debian {
	return Debian{Packages: []string{"python3", "python3-yaml", "python3-six", "nodejs", "openjdk-17-jre-headless"}}
}

func (d Debian) key() string {
	pkgs := append([]string(nil), d.Packages...)
	sort.Strings(pkgs)
	h := sha256.Sum256([]byte(fixtureVersion + "\x00" + debianMirror + "\x00" + strings.Join(pkgs, " ") + "\x00" + d.Script))
	return hex.EncodeToString(h[:8])
}

// FixtureDir is where fixtures too slow to make in every run are kept between runs:
// .cache/fixtures under the module root, which make clean removes.
func FixtureDir(t testing.TB) string {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, ".cache", "fixtures")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// cachedDir returns dir/name once build has filled it, calling build (with a fresh
// directory to fill) only when no earlier run or test did: an exclusive flock on a
// lock file serializes builders across processes and goroutines alike, and a
// finished entry is renamed into place, so an interrupted build leaves nothing that
// looks done.
func cachedDir(dir, name string, build func(tmp string) error) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	final := filepath.Join(dir, name)
	lock, err := os.OpenFile(final+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("locking %s: %w", final, err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if _, err := os.Stat(final); err == nil {
		return final, nil
	}
	tmp := final + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return "", err
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return "", err
	}
	if err := build(tmp); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("making fixture %s: %w", name, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return "", err
	}
	return final, nil
}

// needDebootstrap stops the test (see Missing) unless a Debian root file system can
// be made here: linux, root, debootstrap, chroot and unshare.
func needDebootstrap(t testing.TB) {
	t.Helper()
	if runtime.GOOS != "linux" {
		Missing(t, "debootstrap needs linux")
	}
	NeedRoot(t, "debootstrap")
	for _, tool := range []string{"debootstrap", "chroot", "unshare"} {
		NeedTool(t, tool)
	}
}

// DebianLayout returns an OCI layout (tagged "latest") of the Debian image d, one
// uncompressed layer with no config beyond its PATH, made once per recipe and kept
// under FixtureDir. Making it needs root, debootstrap and the Debian mirror; without
// them the test stops (see Missing). A cold fixture takes minutes: callers are slow
// tests.
func DebianLayout(t testing.TB, d Debian) string {
	t.Helper()
	needDebootstrap(t)
	dir, err := MakeDebianLayout(FixtureDir(t), d)
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// MakeDebianLayout is DebianLayout for callers outside tests (cmd/slimdev bench): the
// same recipe and cache under fixtures, a directory such as FixtureDir's.
func MakeDebianLayout(fixtures string, d Debian) (string, error) {
	base, err := cachedDir(fixtures, "debian-bookworm-minbase-"+fixtureVersion, func(tmp string) error {
		return run("debootstrap", "--variant=minbase", "bookworm", filepath.Join(tmp, "rootfs"), debianMirror)
	})
	if err != nil {
		return "", err
	}
	base = filepath.Join(base, "rootfs")
	dir, err := cachedDir(fixtures, "debian-"+d.key(), func(tmp string) error {
		root := filepath.Join(tmp, "rootfs")
		if err := run("cp", "-a", base, root); err != nil {
			return err
		}
		// A mount namespace of its own: the proc mount that package scripts need (java's
		// keytool) goes away with the process, even when the test is killed.
		script := "set -e\nmount -t proc proc \"$1/proc\"\n" +
			"chroot \"$1\" /usr/bin/env -i DEBIAN_FRONTEND=noninteractive PATH=/usr/sbin:/usr/bin:/sbin:/bin " +
			"apt-get install -y -q --no-install-recommends " + strings.Join(d.Packages, " ") + "\n"
		if d.Script != "" {
			script += "chroot \"$1\" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin /bin/sh -ec \"$2\"\n"
		}
		script += "chroot \"$1\" apt-get clean\nrm -rf \"$1\"/var/lib/apt/lists/* \"$1\"/var/cache/debconf/*-old \"$1\"/var/log/apt \"$1\"/tmp/*\n"
		if err := run("unshare", "--mount", "--fork", "/bin/sh", "-c", script, "sh", root, d.Script); err != nil {
			return err
		}
		if err := writeRootfsLayout(root, filepath.Join(tmp, "layout")); err != nil {
			return err
		}
		// The layout is what tests read; the tree would only double the disk used.
		return os.RemoveAll(root)
	})
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "layout"), nil
}

func run(argv ...string) error {
	cmd := exec.Command(argv[0], argv[1:]...)
	if b, err := cmd.CombinedOutput(); err != nil {
		out := string(b)
		if len(out) > 4000 {
			out = "…" + out[len(out)-4000:]
		}
		return fmt.Errorf("%s: %w\n%s", strings.Join(argv[:min(len(argv), 3)], " "), err, out)
	}
	return nil
}

// writeRootfsLayout packs a root file system as a one-layer image in an OCI layout:
// directories, regular files (hardlinks as copies) and symlinks, with modes and owners;
// devices and sockets are what runtimes provide, not image content.
func writeRootfsLayout(root, dir string) error {
	tarFile := dir + ".tar"
	if err := writeRootfsTar(root, tarFile); err != nil {
		return err
	}
	defer os.Remove(tarFile)
	l, err := newFileLayer(tarFile)
	if err != nil {
		return err
	}
	// In place before the layout is written, so that layout.Write finds the blob
	// there and does not copy half a gigabyte.
	blob := filepath.Join(dir, "blobs", l.digest.Algorithm, l.digest.Hex)
	if err := os.MkdirAll(filepath.Dir(blob), 0o755); err != nil {
		return err
	}
	if err := os.Rename(tarFile, blob); err != nil {
		return err
	}
	l.path = blob
	img, err := mutate.AppendLayers(mutate.MediaType(mutate.ConfigMediaType(empty.Image, types.OCIConfigJSON), types.OCIManifestSchema1), l)
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = runtime.GOARCH, "linux"
	cf.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return err
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	return p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "latest"}))
}

// fileLayer is an uncompressed layer kept in a file: ggcr's tarball layers always
// compress.
type fileLayer struct {
	path   string
	digest v1.Hash
	size   int64
}

func newFileLayer(file string) (*fileLayer, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h, size, err := v1.SHA256(f)
	if err != nil {
		return nil, err
	}
	return &fileLayer{path: file, digest: h, size: size}, nil
}

func (l *fileLayer) Digest() (v1.Hash, error)             { return l.digest, nil }
func (l *fileLayer) DiffID() (v1.Hash, error)             { return l.digest, nil }
func (l *fileLayer) Compressed() (io.ReadCloser, error)   { return os.Open(l.path) }
func (l *fileLayer) Uncompressed() (io.ReadCloser, error) { return os.Open(l.path) }
func (l *fileLayer) Size() (int64, error)                 { return l.size, nil }
func (l *fileLayer) MediaType() (types.MediaType, error) {
	return types.OCIUncompressedLayer, nil
}

func writeRootfsTar(root, file string) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := RootfsTar(root, f); err != nil {
		return err
	}
	return f.Close()
}

// RootfsTar writes the tree at root to w as a layer tar, as the Debian fixtures are
// packed: directories, regular files (hardlinks as copies) and symlinks, with modes
// and owners; devices and sockets are left out.
func RootfsTar(root string, w io.Writer) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == "." {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		case !fi.Mode().IsRegular() && !fi.IsDir():
			return nil
		}
		h, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		h.Name, h.Uname, h.Gname = filepath.ToSlash(rel), "", ""
		if fi.IsDir() {
			h.Name += "/"
		}
		h.AccessTime, h.ChangeTime, h.Format = h.ModTime, h.ModTime, tar.FormatPAX
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return nil
		}
		src, err := os.Open(p)
		if err != nil {
			return err
		}
		defer src.Close()
		_, err = io.Copy(tw, src)
		return err
	})
	if err != nil {
		return fmt.Errorf("packing %s: %w", root, err)
	}
	return tw.Close()
}

// ExtendLayout writes, in a temporary directory, an OCI layout (tagged "latest") of
// the image in the layout base with layers added on top and its config changed by cfg.
// The base's blobs are hardlinked, not copied: a fixture of half a gigabyte costs
// nothing per test.
func ExtendLayout(t testing.TB, base string, layers []v1.Layer, cfg func(*v1.Config)) (v1.Image, string) {
	t.Helper()
	dir := t.TempDir()
	img, err := MakeExtendedLayout(base, dir, layers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return img, dir
}

// MakeExtendedLayout is ExtendLayout for callers outside tests, writing the layout in
// dir (which must not hold one yet).
func MakeExtendedLayout(base, dir string, layers []v1.Layer, cfg func(*v1.Config)) (v1.Image, error) {
	idx, err := layout.ImageIndexFromPath(base)
	if err != nil {
		return nil, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	if len(im.Manifests) != 1 {
		return nil, fmt.Errorf("layout %s: %d images, want one", base, len(im.Manifests))
	}
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		return nil, err
	}
	if img, err = mutate.AppendLayers(img, layers...); err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	if cfg != nil {
		cfg(&cf.Config)
	}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return nil, err
	}
	blobs := filepath.Join(dir, "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		return nil, err
	}
	old, err := os.ReadDir(filepath.Join(base, "blobs", "sha256"))
	if err != nil {
		return nil, err
	}
	for _, b := range old {
		// layout.Write skips blobs that are already there.
		if err := os.Link(filepath.Join(base, "blobs", "sha256", b.Name()), filepath.Join(blobs, b.Name())); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return nil, err
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "latest"})); err != nil {
		return nil, err
	}
	return img, nil
}

// NPMInstall returns a node_modules directory with pkgs ("name@version") installed by
// the host's npm from the npm registry, made once per package list and kept under
// FixtureDir. Without npm the test stops (see Missing).
func NPMInstall(t testing.TB, pkgs ...string) string {
	t.Helper()
	NeedTool(t, "npm")
	dir, err := MakeNPMInstall(FixtureDir(t), pkgs...)
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// MakeNPMInstall is NPMInstall for callers outside tests, with the cache in fixtures.
func MakeNPMInstall(fixtures string, pkgs ...string) (string, error) {
	npm, err := exec.LookPath("npm")
	if err != nil {
		return "", err
	}
	h := sha256.Sum256([]byte(fixtureVersion + "\x00" + strings.Join(pkgs, " ")))
	dir, err := cachedDir(fixtures, "npm-"+hex.EncodeToString(h[:8]), func(tmp string) error {
		if err := os.WriteFile(filepath.Join(tmp, "package.json"), []byte("{\"private\": true}\n"), 0o644); err != nil {
			return err
		}
		args := append([]string{"install", "--prefix", tmp, "--no-audit", "--no-fund", "--no-package-lock", "--ignore-scripts"}, pkgs...)
		return run(append([]string{npm}, args...)...)
	})
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "node_modules"), nil
}

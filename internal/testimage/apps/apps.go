// Package apps holds the runtime workloads of slim's "images that still run" promise:
// real apps (Python with a C extension, Node with npm packages, Java, Go with cgo,
// curl with a C++ program, a shell script) laid over Debian fixtures. The runtime
// tests and make bench's runtime table build them from here, so both measure the
// same thing. It is test support: nothing in slim imports it.
package apps

import (
	"archive/tar"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/slim-dev/slim/internal/testimage"
	"github.com/slim-dev/slim/tarball"
)

// App is one workload: files laid over a Debian fixture and the command that runs them.
type App struct {
	Name   string
	Debian testimage.Debian
	// Files are the app's files as HostEntries takes them: "dest=src".
	Files []string
	// Cmd runs the app: the image's Entrypoint when Entrypoint is set, else its Cmd.
	Cmd        []string
	Entrypoint bool
	// Want are strings the fat image's output holds when the app works.
	Want []string
	// Distroless are the Debian packages that a distroless-style image of the app
	// would hold beyond distroless's base (none: no such image is natural, as for an
	// app driven by a shell script).
	Distroless []string
}

// MissingError is returned by Make when the host lacks a tool the app is built with.
type MissingError struct{ Tool, Why string }

func (e *MissingError) Error() string { return fmt.Sprintf("%s is not installed (%s)", e.Tool, e.Why) }

// Names lists the workloads Make knows, in the order make bench reports them.
func Names() []string { return []string{"python", "node", "java", "go-cgo", "curl-cxx", "shell"} }

// Make builds the app name with the host's compilers in work (a directory it owns),
// keeping what is slow to make (npm installs) under fixtures.
func Make(name, fixtures, work string) (App, error) {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		return App{}, &MissingError{Tool: "linux/amd64", Why: "the fixtures list amd64 paths"}
	}
	a := App{Name: name, Debian: testimage.LanguageRuntimes()}
	write := func(rel, body string, mode os.FileMode) (string, error) {
		p := filepath.Join(work, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", err
		}
		return p, os.WriteFile(p, []byte(body), mode)
	}
	switch name {
	case "python":
		p, err := write("main.py", pythonApp, 0o644)
		if err != nil {
			return App{}, err
		}
		a.Files, a.Cmd = []string{"app/main.py=" + p}, []string{"python3", "/app/main.py"}
		a.Want = []string{"round trip: True libyaml: True"}
		a.Distroless = []string{"python3-minimal", "libpython3-stdlib", "python3-yaml", "python3-six"}
	case "node":
		p, err := write("app.js", nodeApp, 0o644)
		if err != nil {
			return App{}, err
		}
		if _, err := exec.LookPath("npm"); err != nil {
			return App{}, &MissingError{Tool: "npm", Why: "installing the app's packages"}
		}
		modules, err := testimage.MakeNPMInstall(fixtures, nodePackages()...)
		if err != nil {
			return App{}, err
		}
		a.Files, a.Cmd = []string{"app/app.js=" + p, "app/node_modules=" + modules}, []string{"node", "/app/app.js"}
		a.Want = []string{"express function"}
		a.Distroless = []string{"nodejs"}
	case "java":
		javac, err := exec.LookPath("javac")
		if err != nil {
			return App{}, &MissingError{Tool: "javac", Why: "compiling the Java app"}
		}
		src, err := write("Main.java", javaApp, 0o644)
		if err != nil {
			return App{}, err
		}
		if b, err := exec.Command(javac, "--release", "17", "-d", work, src).CombinedOutput(); err != nil {
			return App{}, fmt.Errorf("javac: %w\n%s", err, b)
		}
		a.Files, a.Cmd = []string{"app/Main.class=" + filepath.Join(work, "Main.class")}, []string{"java", "-cp", "/app", "Main"}
		a.Want = []string{"trusted true"}
		a.Distroless = []string{"openjdk-17-jre-headless"}
	case "go-cgo":
		if _, err := exec.LookPath("gcc"); err != nil {
			return App{}, &MissingError{Tool: "gcc", Why: "building a Go program with cgo"}
		}
		prog, err := goBuild(filepath.Join(work, "cgo"), cgoApp, "1", "-tags", "netcgo")
		if err != nil {
			return App{}, err
		}
		a.Files, a.Cmd = []string{"app/prog=" + prog}, []string{"/app/prog"}
		a.Want = []string{"root 0 /root localhost [::1 127.0.0.1] <nil>"}
		a.Distroless = []string{}
	case "curl-cxx":
		return curlApp(a, work, write)
	case "shell":
		p, err := write("entry.sh", shellApp, 0o755)
		if err != nil {
			return App{}, err
		}
		motd, err := write("motd.txt", "twelve bytes", 0o644)
		if err != nil {
			return App{}, err
		}
		name, err := write("name", "motd.txt\n", 0o644)
		if err != nil {
			return App{}, err
		}
		a.Files, a.Cmd, a.Entrypoint = []string{"app/entry.sh=" + p, "app/data/motd.txt=" + motd, "app/data/name=" + name}, []string{"/app/entry.sh"}, true
		a.Want = []string{"YEAR 1970", "12 bytes", "sha256 ok"}
	default:
		return App{}, fmt.Errorf("no app %q (have %s)", name, strings.Join(Names(), ", "))
	}
	return a, nil
}

// Config sets the image config that runs the app.
func (a App) Config(c *v1.Config) {
	if a.Entrypoint {
		c.Entrypoint = a.Cmd
		return
	}
	c.Cmd = a.Cmd
}

// Image writes the fat image, the app over its Debian fixture (made and kept under
// fixtures), as an OCI layout in dir tagged "latest", and returns it read back.
func (a App) Image(fixtures, dir string) (v1.Image, error) {
	base, err := testimage.MakeDebianLayout(fixtures, a.Debian)
	if err != nil {
		return nil, err
	}
	entries, err := HostEntries(a.Files...)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "slim-app-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	l, err := tarball.NewLayer(entries, tarball.WithCompression(tarball.Uncompressed), tarball.WithParents(), tarball.WithTempDir(tmp))
	if err != nil {
		return nil, err
	}
	defer l.Close()
	if _, err := testimage.MakeExtendedLayout(base, dir, []v1.Layer{l}, a.Config); err != nil {
		return nil, err
	}
	p, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, err
	}
	im, err := p.IndexManifest()
	if err != nil {
		return nil, err
	}
	return p.Image(im.Manifests[0].Digest)
}

// HostEntries streams host files into layer entries: each path (file, symlink or
// directory tree) under its own name, or under the name given after "=" (dest=src).
// Content is opened only when the layer is written, so a large tree never sits in memory.
func HostEntries(paths ...string) ([]tarball.Entry, error) {
	var out []tarball.Entry
	seen := map[string]bool{}
	add := func(name, src string, fi fs.FileInfo) error {
		name = strings.TrimPrefix(filepath.Clean(name), "/")
		if name == "." || seen[name] {
			return nil
		}
		seen[name] = true
		link := ""
		if fi.Mode()&fs.ModeSymlink != 0 {
			var err error
			if link, err = os.Readlink(src); err != nil {
				return err
			}
		}
		if !fi.Mode().IsRegular() && !fi.IsDir() && fi.Mode()&fs.ModeSymlink == 0 {
			return nil // sockets, devices: not part of any image we make
		}
		h, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		h.Name, h.Uname, h.Gname = name, "", ""
		e := tarball.Entry{Header: h}
		if fi.Mode().IsRegular() {
			e.Open = func() (io.ReadCloser, error) { return os.Open(src) }
		}
		out = append(out, e)
		return nil
	}
	for _, p := range paths {
		dest, src, ok := strings.Cut(p, "=")
		if !ok {
			src = dest
		}
		fi, err := os.Lstat(src)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			if err := add(dest, src, fi); err != nil {
				return nil, err
			}
			continue
		}
		err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(src, p)
			return add(filepath.Join(dest, rel), p, fi)
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// goBuild builds the Go program src in dir with the local toolchain (CGO_ENABLED=cgo,
// extra flags for go build) and returns the binary's path.
func goBuild(dir, src, cgo string, extra ...string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	for name, body := range map[string]string{"main.go": src, "go.mod": "module probe\n\ngo 1.26\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			return "", err
		}
	}
	cmd := exec.Command("go", append(append([]string{"build"}, extra...), "-trimpath", "-o", "prog", ".")...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED="+cgo, "GOOS=linux", "GOWORK=off", "GOFLAGS=-mod=mod -buildvcs=false")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %w\n%s", err, b)
	}
	return filepath.Join(dir, "prog"), nil
}

// curlApp is the curl + C++ workload on Debian's curl: /app/serve starts a TLS server
// (a certificate of a CA that the image's bundle holds, replacing Debian's) and runs
// /app/run.sh, which fetches a page with curl over https and runs the C++ probe.
func curlApp(a App, work string, write func(rel, body string, mode os.FileMode) (string, error)) (App, error) {
	gxx, err := exec.LookPath("g++")
	if err != nil {
		return App{}, &MissingError{Tool: "g++", Why: "compiling the C++ probe"}
	}
	if _, err := os.Stat("/usr/include/openssl/evp.h"); err != nil {
		return App{}, &MissingError{Tool: "libssl-dev", Why: "OpenSSL headers for the C++ probe"}
	}
	src, err := write("probe.cc", cxxProbe, 0o644)
	if err != nil {
		return App{}, err
	}
	probe := filepath.Join(work, "probe")
	if b, err := exec.Command(gxx, "-O2", "-o", probe, src, "-lcrypto").CombinedOutput(); err != nil {
		return App{}, fmt.Errorf("g++: %w\n%s", err, b)
	}
	serve, err := goBuild(filepath.Join(work, "serve"), tlsServer, "0", "-ldflags=-s -w")
	if err != nil {
		return App{}, err
	}
	caPEM, certPEM, keyPEM, err := PKI()
	if err != nil {
		return App{}, err
	}
	files := []string{"app/serve=" + serve, "app/probe=" + probe}
	for _, f := range []struct {
		dest, body string
		mode       os.FileMode
	}{
		{"app/run.sh", "#!/bin/sh\nset -e\ncurl -sS --retry 5 --retry-connrefused https://localhost:8443/hello.txt\n/app/probe\n", 0o755},
		{"app/www/hello.txt", "hello over https\n", 0o644},
		{"app/tls/server.crt", string(certPEM), 0o644},
		{"app/tls/server.key", string(keyPEM), 0o600},
		{"etc/ssl/certs/ca-certificates.crt", string(caPEM), 0o644},
		{"etc/ssl/openssl.cnf", "openssl_conf = openssl_init\n[openssl_init]\nproviders = provider_sect\n[provider_sect]\ndefault = default_sect\n" +
			"legacy = legacy_sect\n[default_sect]\nactivate = 1\n[legacy_sect]\nactivate = 1\n", 0o644},
	} {
		p, err := write(filepath.Join("curl", f.dest), f.body, f.mode)
		if err != nil {
			return App{}, err
		}
		files = append(files, f.dest+"="+p)
	}
	a.Debian = testimage.Debian{Packages: []string{"curl", "openssl", "netbase"}}
	a.Files, a.Cmd, a.Entrypoint = files, []string{"/app/serve", "/app/run.sh"}, true
	a.Want = []string{"hello over https\nmd4 ", "md4 c0ec8a0b1d7c61443c0fd2782750e92b", "https/tcp 443", "localhost 127.0.0.1 ::1", "locale ok"}
	return a, nil
}

// PKI makes a CA and a server certificate it signed for localhost, 127.0.0.1 and
// ::1, as PEM: the CA's certificate, the server's certificate and key.
func PKI() (caPEM, certPEM, keyPEM []byte, err error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	now := time.Now()
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "slim test CA"}, NotBefore: now.Add(-time.Hour),
		NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, nil, nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"}, NotBefore: now.Add(-time.Hour),
		NotAfter: now.Add(24 * time.Hour), DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, nil, err
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), nil
}

// IsMissing reports whether err says a host tool is missing (see MissingError).
func IsMissing(err error) bool {
	var m *MissingError
	return errors.As(err, &m)
}

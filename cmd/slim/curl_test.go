package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slim-dev/slim/internal/testimage"
)

// tlsServer serves /app/www over HTTPS on port 8443 with the key pair in /app/tls,
// then runs its arguments and exits as they did: the TLS server the curl workload
// talks to, inside the container (runc gives it loopback only).
const tlsServer = `package main

import (
	"net"
	"net/http"
	"os"
	"os/exec"
)

func main() {
	ln, err := net.Listen("tcp", ":8443")
	if err != nil {
		panic(err)
	}
	go http.ServeTLS(ln, http.FileServer(http.Dir("/app/www")), "/app/tls/server.crt", "/app/tls/server.key")
	cmd := exec.Command(os.Args[1], os.Args[2:]...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		if e, ok := err.(*exec.ExitError); ok {
			os.Exit(e.ExitCode())
		}
		panic(err)
	}
}
`

// cxxProbe uses libstdc++ (iostream, string streams), libcrypto's MD4 (only the legacy
// provider has it, activated by openssl.cnf), and what glibc reads by name: the https
// port in /etc/services, both families of localhost, the C.UTF-8 locale.
const cxxProbe = `#include <iostream>
#include <iomanip>
#include <sstream>
#include <set>
#include <clocale>
#include <cstring>
#include <netdb.h>
#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
int main() {
	OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, nullptr);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	EVP_MD *md4 = EVP_MD_fetch(nullptr, "MD4", nullptr);
	std::ostringstream hex;
	if (md4 && EVP_Digest("slim", 4, md, &n, md4, nullptr)) {
		for (unsigned int i = 0; i < n; i++) hex << std::hex << std::setw(2) << std::setfill('0') << int(md[i]);
	} else {
		hex << "unavailable";
	}
	std::cout << "md4 " << hex.str() << std::endl;
	struct servent *s = getservbyname("https", "tcp");
	std::cout << "https/tcp " << (s ? ntohs(s->s_port) : -1) << std::endl;
	struct addrinfo hints, *res;
	std::memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	std::set<std::string> addrs;
	if (getaddrinfo("localhost", nullptr, &hints, &res) == 0) {
		for (struct addrinfo *p = res; p; p = p->ai_next) {
			char buf[64];
			void *a = p->ai_family == AF_INET ? (void *)&((struct sockaddr_in *)p->ai_addr)->sin_addr
			                                  : (void *)&((struct sockaddr_in6 *)p->ai_addr)->sin6_addr;
			addrs.insert(inet_ntop(p->ai_family, a, buf, sizeof buf));
		}
	}
	std::cout << "localhost";
	for (const auto &a : addrs) std::cout << " " << a;
	std::cout << std::endl << "locale " << (std::setlocale(LC_ALL, "C.UTF-8") ? "ok" : "failed") << std::endl;
	return 0;
}
`

// testCA makes a CA and a server certificate it signed for localhost, 127.0.0.1 and
// ::1, as PEM: the CA's certificate, the server's certificate and key.
func testCA(t *testing.T) (caPEM, certPEM, keyPEM []byte) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "slim test CA"}, NotBefore: now.Add(-time.Hour),
		NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"}, NotBefore: now.Add(-time.Hour),
		NotAfter: now.Add(24 * time.Hour), DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
}

// curlApp is the curl + C++ workload on Debian's curl: /app/serve starts a TLS server
// (a certificate of a CA that the image's bundle holds) and runs /app/run.sh, which
// fetches a page with curl over https and runs the C++ probe. It returns the image,
// its reference and the command.
func curlApp(t *testing.T) (v1.Image, string, []string) {
	t.Helper()
	if runtime.GOARCH != "amd64" {
		testimage.Missing(t, "the fixtures list amd64 paths")
	}
	gxx := testimage.NeedTool(t, "g++")
	if _, err := os.Stat("/usr/include/openssl/evp.h"); err != nil {
		testimage.Missing(t, "OpenSSL headers (libssl-dev) are not installed")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "probe.cc")
	if err := os.WriteFile(src, []byte(cxxProbe), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(gxx, "-O2", "-o", filepath.Join(dir, "probe"), src, "-lcrypto").CombinedOutput(); err != nil {
		t.Fatalf("g++: %v\n%s", err, b)
	}
	caPEM, certPEM, keyPEM := testCA(t)
	script := "#!/bin/sh\nset -e\ncurl -sS --retry 5 --retry-connrefused https://localhost:8443/hello.txt\n/app/probe\n"
	cnf := "openssl_conf = openssl_init\n[openssl_init]\nproviders = provider_sect\n[provider_sect]\ndefault = default_sect\nlegacy = legacy_sect\n[default_sect]\nactivate = 1\n[legacy_sect]\nactivate = 1\n"
	app := hostEntries(t, "app/serve="+testimage.GoBuild(t, tlsServer, runtime.GOARCH), "app/probe="+filepath.Join(dir, "probe"),
		"app/run.sh="+hostFile(t, "run.sh", script), "app/www/hello.txt="+hostFile(t, "hello.txt", "hello over https\n"),
		"app/tls/server.crt="+hostFile(t, "server.crt", string(certPEM)), "app/tls/server.key="+hostFile(t, "server.key", string(keyPEM)),
		"etc/ssl/certs/ca-certificates.crt="+hostFile(t, "ca.crt", string(caPEM)), "etc/ssl/openssl.cnf="+hostFile(t, "openssl.cnf", cnf))
	for i := range app {
		if app[i].Header.Name == "app/run.sh" {
			app[i].Header.Mode = 0o755
		}
	}
	cmd := []string{"/app/serve", "/app/run.sh"}
	img, ref := debianApp(t, testimage.Debian{Packages: []string{"curl", "openssl", "netbase"}}, app, func(c *v1.Config) { c.Entrypoint = cmd })
	return img, ref, cmd
}

// TestSlimLangsCurlCxx (issue 12): curl over https to a server whose CA the image
// trusts, and a C++ program using libstdc++ and MD4 through OpenSSL's legacy provider,
// named by --from IMG:/app alone, run on the static base as on the fat image; with
// --trace on scratch, byte for byte. Slow (a Debian fixture).
func TestSlimLangsCurlCxx(t *testing.T) {
	img, ref, cmd := curlApp(t)
	fat := runFat(t, img, "hello over https\nmd4 ")
	for _, w := range []string{"md4 c0ec8a0b1d7c61443c0fd2782750e92b", "https/tcp 443", "localhost 127.0.0.1 ::1", "locale ok"} {
		if !strings.Contains(fat.Stdout, w) {
			t.Fatalf("fat image: want %q in its output: %s", w, fat)
		}
	}
	_, has := slimRuns(t, fat, "--from", ref+":/app", "--base", "static")
	for _, p := range []string{"usr/bin/curl", "usr/lib/x86_64-linux-gnu/ossl-modules/legacy.so", "usr/lib/x86_64-linux-gnu/libstdc++.so.6"} {
		if !has(p) {
			t.Errorf("/%s not taken", p)
		}
	}
	traceAndVerify(t, fat, ref, cmd)
}

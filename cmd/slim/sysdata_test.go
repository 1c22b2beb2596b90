package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slim-dev/slim/internal/testimage"
	"github.com/slim-dev/slim/internal/testimage/apps"
	"github.com/slim-dev/slim/tarball"
)

// goTLSClient serves HTTPS on loopback with the certificate it embeds and fetches from
// itself with net/http's default client, which verifies the server against the
// system's roots: the image's CA bundle, found by the paths crypto/x509 compiles in.
const goTLSClient = `package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
)

const certPEM = ` + "`%s`" + `
const keyPEM = ` + "`%s`" + `

func main() {
	cert, err := tls.X509KeyPair([]byte(certPEM), []byte(keyPEM))
	if err != nil {
		panic(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		panic(err)
	}
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "hello over TLS") }))
	resp, err := http.Get("https://" + ln.Addr().String() + "/")
	if err != nil {
		fmt.Println("handshake failed")
		return
	}
	b, _ := io.ReadAll(resp.Body)
	fmt.Printf("handshake ok: %%s\n", b)
}
`

// TestSlimGoTLSClientOntoScratch: a static Go program that verifies TLS peers against
// the system's roots keeps the image's CA bundle on scratch (a private CA here, which
// no built-in bundle has), so the slim image completes the handshake the fat one does.
func TestSlimGoTLSClientOntoScratch(t *testing.T) {
	t.Parallel() // its own images and containers: it overlaps the others' waits
	needRoot(t)
	caPEM, certPEM, keyPEM, err := apps.PKI()
	if err != nil {
		t.Fatal(err)
	}
	prog := testimage.GoBuild(t, fmt.Sprintf(goTLSClient, certPEM, keyPEM), runtime.GOARCH)
	bundle := filepath.Join(t.TempDir(), "ca-certificates.crt")
	if err := os.WriteFile(bundle, caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	_, ref := hostImage(t, [][]tarball.Entry{
		hostEntries(t, "bin/busybox=/bin/busybox", "etc/ssl/certs/ca-certificates.crt="+bundle, "app/client="+prog),
	}, func(c *v1.Config) { c.Entrypoint = []string{"/app/client"} })
	want := testimage.Chroot(t, unpack(t, strings.TrimPrefix(ref, "oci-layout://"), "latest"), "", nil, "/app/client")
	if want != "handshake ok: hello over TLS\n" {
		t.Fatalf("fat image printed %q", want)
	}
	out := filepath.Join(t.TempDir(), "out")
	report := filepath.Join(t.TempDir(), "report.json")
	slimOK(t, "--from", ref+":/app/client", "--base", "scratch", "-t", "tls:slim", "-o", "type=oci,dest="+out, "--sbom=false", "--provenance=false", "--report", report)
	if got := testimage.Chroot(t, unpack(t, out, "slim"), "", nil, "/app/client"); got != want {
		t.Errorf("slim image printed %q, fat image %q", got, want)
	}
	if b, err := os.ReadFile(report); err != nil || !strings.Contains(string(b), "which names /etc/ssl/certs/ca-certificates.crt") {
		t.Errorf("the report does not say why the CA bundle was taken (%v):\n%s", err, b)
	}
}

// goClock prints the epoch in local time, as a program's log lines would.
const goClock = `package main

import (
	"fmt"
	"time"
)

func main() { fmt.Println(time.Unix(0, 0).Local().Format("2006-01-02 15:04:05 MST")) }
`

// TestSlimTimeZoneOntoScratch: a program whose config sets TZ, or whose image's local
// time is not UTC, tells the same time on scratch as in the fat image: the zone files
// come with it (before, the slim image printed UTC).
func TestSlimTimeZoneOntoScratch(t *testing.T) {
	t.Parallel() // its own images and containers: it overlaps the others' waits
	needRoot(t)
	prog := testimage.GoBuild(t, goClock, runtime.GOARCH)
	for _, tc := range []struct {
		name    string
		entries []tarball.Entry
		env     []string
		want    string
	}{
		{"TZ", hostEntries(t, "app/clock="+prog, "usr/share/zoneinfo/Europe/Berlin=/usr/share/zoneinfo/Europe/Berlin"),
			[]string{"TZ=Europe/Berlin"}, "1970-01-01 01:00:00 CET\n"},
		{"localtime", append(hostEntries(t, "app/clock="+prog, "usr/share/zoneinfo/Asia/Tokyo=/usr/share/zoneinfo/Asia/Tokyo"),
			symlinkEntry("etc/localtime", "/usr/share/zoneinfo/Asia/Tokyo")), nil, "1970-01-01 09:00:00 JST\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ref := hostImage(t, [][]tarball.Entry{tc.entries}, func(c *v1.Config) {
				c.Entrypoint = []string{"/app/clock"}
				c.Env = tc.env
			})
			want := testimage.Chroot(t, unpack(t, strings.TrimPrefix(ref, "oci-layout://"), "latest"), "", tc.env, "/app/clock")
			if want != tc.want {
				t.Fatalf("fat image printed %q, want %q", want, tc.want)
			}
			out := filepath.Join(t.TempDir(), "out")
			slimOK(t, "--from", ref+":/app/clock", "--base", "scratch", "-t", "clock:slim", "-o", "type=oci,dest="+out, "--sbom=false", "--provenance=false")
			if got := testimage.Chroot(t, unpack(t, out, "slim"), "", tc.env, "/app/clock"); got != want {
				t.Errorf("slim image printed %q, fat image %q", got, want)
			}
		})
	}
}

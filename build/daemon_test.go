package build

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConnectErrors(t *testing.T) {
	noEnv := withEnv(func(string) string { return "" })
	for _, tt := range []struct {
		name string
		opts []Option
		want string
	}{
		{"no buildkitd", []Option{noEnv, withDockerSocket(""), WithDaemonBinary("/nonexistent/buildkitd")}, "/nonexistent/buildkitd is not on PATH"},
		{"BUILDKIT_HOST wins", []Option{withDockerSocket(""), withEnv(func(k string) string {
			if k == "BUILDKIT_HOST" {
				return "unix:///nonexistent/buildkitd.sock"
			}
			return ""
		})}, "/nonexistent/buildkitd.sock"},
		{"addr wins over BUILDKIT_HOST", []Option{WithAddr("unix:///nonexistent/addr.sock"), withEnv(func(string) string {
			return "unix:///nonexistent/env.sock"
		})}, "/nonexistent/addr.sock"},
		{"tls needs tcp", []Option{WithAddr("unix:///x.sock"), WithTLS("ca", "", "", "")}, "tcp://"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			opts := append([]Option{WithStateDir(t.TempDir())}, tt.opts...)
			c, err := Connect(ctx, opts...)
			if err == nil {
				c.Close()
				t.Fatal("connected")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
			if tt.name != "tls needs tcp" && !errors.Is(err, ErrNoDaemon) {
				t.Errorf("error %v is not ErrNoDaemon", err)
			}
		})
	}
}

func TestPrivateDaemonReused(t *testing.T) {
	needDaemon(t)
	// A second Connect on the same state directory finds the running daemon
	// instead of starting another.
	pid, err := os.ReadFile(filepath.Join(daemon.stateDir, "buildkitd.pid"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := Connect(t.Context(), WithDaemonBinary("/nonexistent/buildkitd"), WithStateDir(daemon.stateDir),
		withEnv(func(string) string { return "" }), withDockerSocket(""))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if again, _ := os.ReadFile(filepath.Join(daemon.stateDir, "buildkitd.pid")); string(again) != string(pid) {
		t.Errorf("pid changed from %s to %s", pid, again)
	}
	if !strings.HasPrefix(c.Addr(), "unix://"+daemon.stateDir) {
		t.Errorf("addr = %s", c.Addr())
	}
}

// TestDockerDialer stands in for a Docker daemon: it upgrades POST /grpc to
// h2c and splices the connection to the test buildkitd, as dockerd does with
// its embedded BuildKit. (Docker's /session has no stand-in here, so only
// the control API is exercised.)
func TestDockerDialer(t *testing.T) {
	needDaemon(t)
	for _, tc := range []struct {
		api     string
		useIt   bool
		comment string
	}{
		{"1.47", true, "a recent Docker's BuildKit is used"},
		{"1.41", false, "Docker 20.10's BuildKit ignores oci-layout contexts: slim goes on to its own daemon"},
	} {
		t.Run(tc.api, func(t *testing.T) {
			sock := filepath.Join(t.TempDir(), "docker.sock")
			l, err := net.Listen("unix", sock)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			bkSock := strings.TrimPrefix(daemon.client.Addr(), "unix://")
			go func() {
				for {
					conn, err := l.Accept()
					if err != nil {
						return
					}
					go fakeDocker(conn, bkSock, tc.api)
				}
			}()
			c, err := Connect(t.Context(), withEnv(func(string) string { return "" }), withDockerSocket(sock),
				WithDaemonBinary("/nonexistent/buildkitd"), WithStateDir(t.TempDir()))
			if !tc.useIt {
				if err == nil || !strings.Contains(err.Error(), "buildkitd") {
					t.Errorf("%s: Connect = %v, want the private daemon's start to be tried (and fail on /nonexistent)", tc.comment, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if c.Addr() != "docker:unix://"+sock {
				t.Errorf("%s: addr = %s", tc.comment, c.Addr())
			}
		})
	}
}

func fakeDocker(conn net.Conn, bkSock, api string) {
	defer conn.Close()
	br := bufio.NewReader(conn)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	if req.Method == http.MethodGet && req.URL.Path == "/_ping" {
		io.WriteString(conn, "HTTP/1.1 200 OK\r\nApi-Version: "+api+"\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK")
		return
	}
	if req.Method != http.MethodPost || req.URL.Path != "/grpc" || req.Header.Get("Upgrade") != "h2c" {
		io.WriteString(conn, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
		return
	}
	bk, err := net.Dial("unix", bkSock)
	if err != nil {
		return
	}
	defer bk.Close()
	io.WriteString(conn, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n")
	done := make(chan struct{}, 2)
	go func() { io.Copy(bk, br); done <- struct{}{} }()
	go func() { io.Copy(conn, bk); done <- struct{}{} }()
	<-done
}

// TestTLS starts a second buildkitd listening on TCP with mutual TLS, and
// builds through it.
func TestTLS(t *testing.T) {
	needDaemon(t)
	dir := t.TempDir()
	files := writeCerts(t, dir)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "tcp://" + l.Addr().String()
	l.Close()

	root := filepath.Join(dir, "root")
	logf, err := os.Create(filepath.Join(dir, "buildkitd.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(daemon.bin, "--addr", addr, "--root", root,
		"--tlscacert", files["ca"], "--tlscert", files["server"], "--tlskey", files["server-key"],
		"--oci-worker=true", "--containerd-worker=false")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "buildkitd.log"))
			t.Logf("buildkitd log:\n%s", b)
		}
	}()

	var c *Client
	deadline := time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		c, err = Connect(ctx, WithAddr(addr), WithTLS(files["ca"], files["client"], files["client-key"], "localhost"))
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("connecting over mutual TLS: %v", err)
		}
		time.Sleep(300 * time.Millisecond)
	}
	defer c.Close()

	// Without a client certificate the daemon refuses.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if c2, err := Connect(ctx, WithAddr(addr), WithTLS(files["ca"], "", "", "localhost")); err == nil {
		c2.Close()
		t.Error("connected without a client certificate")
	}

	req := testContext(t)
	if err := os.WriteFile(filepath.Join(req.ContextDir, "Dockerfile"), []byte("FROM busybox\nRUN echo tls > /t\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err = c.Solve(t.Context(), req, func(ctx context.Context, stages map[string]*StageFS) error {
		for _, s := range stages {
			if got := readString(t, s, "t"); got != "tls\n" {
				t.Errorf("/t = %q", got)
			}
		}
		if len(stages) != 1 {
			t.Errorf("%d stages", len(stages))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// writeCerts makes a CA, a server certificate for localhost/127.0.0.1 and a
// client certificate, and returns the PEM file paths by role.
func writeCerts(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	write := func(role, typ string, der []byte) {
		p := filepath.Join(dir, role+".pem")
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		files[role] = p
	}
	writeKey := func(role string, k *ecdsa.PrivateKey) {
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		write(role, "EC PRIVATE KEY", der)
	}
	now := time.Now()
	caKey := newKey()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "slim test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	write("ca", "CERTIFICATE", caDER)
	for i, role := range []string{"server", "client"} {
		k := newKey()
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(int64(i + 2)), Subject: pkix.Name{CommonName: role},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature,
		}
		if role == "server" {
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
			tmpl.DNSNames = []string{"localhost"}
			tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
		} else {
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		write(role, "CERTIFICATE", der)
		writeKey(role+"-key", k)
	}
	return files
}

// TestConnectSaysWhatWasTried: with nothing reachable, the error lists every place
// looked at (the Docker daemon with why it was skipped) and the user's next steps,
// not a developer's (`make tools`).
func TestConnectSaysWhatWasTried(t *testing.T) {
	// A Docker daemon too old for slim: API 1.41, as Docker 20.10 answers.
	sock := filepath.Join(t.TempDir(), "docker.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Api-Version", "1.41")
	})}
	go srv.Serve(l)
	defer srv.Close()
	_, err = Connect(t.Context(), WithStateDir(t.TempDir()), WithDaemonBinary("/nonexistent/buildkitd"),
		withEnv(func(string) string { return "" }), withDockerSocket(sock))
	var nd *NoDaemonError
	if !errors.As(err, &nd) || !errors.Is(err, ErrNoDaemon) {
		t.Fatalf("error %v is not a *NoDaemonError", err)
	}
	if len(nd.Tried) != 3 {
		t.Errorf("tried %d places, want 3 (--addr/BUILDKIT_HOST, docker, buildkitd): %v", len(nd.Tried), err)
	}
	for _, want := range []string{"BUILDKIT_HOST", "the Docker daemon at unix://" + sock, "skipped", `"1.41" is older`,
		"/nonexistent/buildkitd is not on PATH", "docker buildx create", "install buildkitd", "--addr"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q: %v", want, err)
		}
	}
	for _, bad := range []string{"make tools", "go tool buildkitd"} {
		if strings.Contains(err.Error(), bad) {
			t.Errorf("error suggests %q, which only slim's developers can do: %v", bad, err)
		}
	}
}

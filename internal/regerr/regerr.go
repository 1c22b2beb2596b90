// Package regerr owns recognising a registry's refusal (401, 403, denied
// pulls) and phrasing what to do about it: `docker login REGISTRY`. Builds,
// pushes and image reads all call it, so a refusal reads the same wherever it
// happens. BuildKit returns its errors as text through gRPC, so the text is
// read as well as ggcr's typed errors.
package regerr

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// ErrUnauthorized is wrapped by every refusal Wrap recognises.
var ErrUnauthorized = errors.New("registry refused access")

// ErrPlainHTTP is wrapped when a registry answered HTTPS in plain HTTP.
var ErrPlainHTTP = errors.New("registry speaks plain HTTP")

// plainHTTP is Go's net/http wording for an HTTPS request answered in plain HTTP.
const plainHTTP = "server gave HTTP response to HTTPS client"

// Error is a registry's refusal. Registry is host[:port], empty when neither
// the caller nor the error text named it.
type Error struct {
	Registry string
	Err      error
}

func (e *Error) Error() string {
	if e.Registry == "" {
		return fmt.Sprintf("%v (log in with `docker login REGISTRY`; slim uses the Docker config's credentials): %v", ErrUnauthorized, e.Err)
	}
	return fmt.Sprintf("registry %s refused access (log in with `%s`; slim uses the Docker config's credentials): %v", e.Registry, loginCommand(e.Registry), e.Err)
}

func (e *Error) Unwrap() []error { return []error{ErrUnauthorized, e.Err} }

// Wrap returns err as an *Error when it is a registry's refusal, else err
// unchanged. registry is the host the caller talked to; "" takes it from
// the error (the image reference BuildKit names, or the /v2/ URL).
func Wrap(err error, registry string) error {
	if err == nil {
		return nil
	}
	if _, ok := errors.AsType[*Error](err); ok {
		return err
	}
	host, ok := refused(err)
	if !ok {
		return plainHTTPHint(err, registry)
	}
	if registry == "" {
		registry = host
	}
	return &Error{Registry: normalize(registry), Err: err}
}

// plainHTTPHint says to pass --insecure when a registry answered HTTPS in plain HTTP.
// Plain HTTP is tried by itself only on loopback addresses, where nobody can listen
// in; elsewhere the user must say they trust the network.
func plainHTTPHint(err error, registry string) error {
	if !strings.Contains(err.Error(), plainHTTP) || errors.Is(err, ErrPlainHTTP) {
		return err
	}
	if registry == "" {
		registry = hostIn(err.Error())
	}
	host := registry
	if h, _, serr := net.SplitHostPort(registry); serr == nil {
		host = h
	}
	if ip := net.ParseIP(host); host == "localhost" || ip != nil && ip.IsLoopback() {
		return err // plain HTTP was tried already
	}
	return fmt.Errorf("%w: %s answers in plain HTTP, not HTTPS; if you trust the network to it, pass --insecure: %w", ErrPlainHTTP, normalize(registry), err)
}

// Status codes and texts of a refusal, as the distribution spec, containerd's
// resolver (inside BuildKit) and Docker word them.
var refusals = regexp.MustCompile(`(?i)\b401 unauthorized\b|\b403 forbidden\b|\bunauthorized: |\bdenied: requested access|` +
	`authorization failed|pull access denied|insufficient_scope|no basic auth credentials|failed to authorize`)

// A failing RUN's error quotes its command line, which may say anything.
const runFailed = "did not complete successfully"

var (
	refAfter = regexp.MustCompile(`(?:metadata for|pull access denied for) (\S+)`)
	v2URL    = regexp.MustCompile(`https?://([^/\s"']+)/v2/`)
)

// refused says whether err is a refusal and which registry it names.
func refused(err error) (string, bool) {
	if te, ok := errors.AsType[*transport.Error](err); ok {
		if te.StatusCode != http.StatusUnauthorized && te.StatusCode != http.StatusForbidden {
			return "", false
		}
		if te.Request != nil && te.Request.URL != nil && strings.HasPrefix(te.Request.URL.Path, "/v2/") {
			return te.Request.URL.Host, true
		}
		return hostIn(err.Error()), true
	}
	msg := err.Error()
	if strings.Contains(msg, runFailed) || !refusals.MatchString(msg) {
		return "", false
	}
	return hostIn(msg), true
}

// hostIn finds the registry in an error's text: the image reference first
// (what the user wrote, and what `docker login` keys on), else the host of
// a registry API URL (not a token server's).
func hostIn(msg string) string {
	if m := refAfter.FindStringSubmatch(msg); m != nil {
		s := strings.TrimRight(m[1], ":,;")
		s = strings.TrimPrefix(s, "docker-image://")
		if ref, err := name.ParseReference(s, name.WeakValidation); err == nil {
			return ref.Context().RegistryStr()
		}
	}
	if m := v2URL.FindStringSubmatch(msg); m != nil {
		return m[1]
	}
	return ""
}

// normalize spells Docker Hub's many host names as users know it.
func normalize(host string) string {
	switch host {
	case name.DefaultRegistry, "registry-1.docker.io", "docker.io":
		return "docker.io"
	}
	return host
}

// loginCommand is Docker Hub's bare `docker login`, else `docker login HOST`.
func loginCommand(host string) string {
	if host == "docker.io" {
		return "docker login"
	}
	return "docker login " + host
}

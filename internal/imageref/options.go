package imageref

import (
	"fmt"
	"net/http"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/daemon"
)

// Option changes how a reference is parsed or opened. The same options are accepted by
// Parse, Open and Image, so a command can build one list and pass it everywhere.
type Option func(*options)

type options struct {
	platform v1.Platform
	// platformSet says the platform was asked for, so a single image of another
	// platform is refused rather than taken as the only one there is.
	platformSet bool
	insecure    bool
	keychain    authn.Keychain
	transport   http.RoundTripper
	userAgent   string

	// daemonClient replaces the Docker client built from the environment, so tests can
	// stand in for a daemon (the ko pattern of fakes through unexported options).
	daemonClient daemon.Client
}

func makeOptions(opts ...Option) options {
	o := options{
		platform: defaultPlatform(),
		keychain: authn.DefaultKeychain,
	}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// WithPlatform chooses the image that Image takes out of an index, and refuses a
// single image whose config names another platform. Empty fields match anything, so
// linux/arm64 accepts linux/arm64/v8.
func WithPlatform(p v1.Platform) Option {
	return func(o *options) { o.platform, o.platformSet = p, true }
}

// WithInsecure allows plain HTTP for every registry, not only for the loopback ones
// (localhost, 127.0.0.0/8, ::1) where it is always allowed, and accepts certificates it
// cannot verify, as crane --insecure does. A transport given with WithTransport keeps
// its own TLS settings.
func WithInsecure(insecure bool) Option {
	return func(o *options) { o.insecure = insecure }
}

// WithKeychain sets where registry credentials come from (default: the Docker config,
// as docker and crane read it).
func WithKeychain(k authn.Keychain) Option {
	return func(o *options) { o.keychain = k }
}

// WithTransport sets the HTTP transport used to reach registries.
func WithTransport(t http.RoundTripper) Option {
	return func(o *options) { o.transport = t }
}

// WithUserAgent adds ua to the User-Agent header sent to registries.
func WithUserAgent(ua string) Option {
	return func(o *options) { o.userAgent = ua }
}

func withDaemonClient(c daemon.Client) Option {
	return func(o *options) { o.daemonClient = c }
}

// ParsePlatform parses os[/arch[/variant]][:osversion] as --platform takes it.
func ParsePlatform(s string) (v1.Platform, error) {
	if strings.TrimSpace(s) == "" {
		return v1.Platform{}, fmt.Errorf("parsing platform: empty")
	}
	p, err := v1.ParsePlatform(s)
	if err != nil {
		return v1.Platform{}, fmt.Errorf("parsing platform %q: %w", s, err)
	}
	if p.OS == "" || p.Architecture == "" {
		return v1.Platform{}, fmt.Errorf("parsing platform %q: want os/arch[/variant], e.g. linux/amd64", s)
	}
	return *p, nil
}

// defaultPlatform is the platform an image would run on here. Images for darwin do not
// exist, so on a Mac (as in Docker Desktop) the Linux image of the same architecture is
// the one wanted; Windows has Windows images of its own.
func defaultPlatform() v1.Platform {
	p := v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
	if runtime.GOOS == "windows" {
		p.OS = "windows"
	}
	if runtime.GOARCH == "arm" {
		p.Variant = armVariant()
	}
	return p
}

// armVariant reads GOARM from the build settings: 32-bit ARM images differ by variant
// (v6, v7) and runtime does not export which one this binary was built for.
func armVariant() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "v7"
	}
	for _, s := range bi.Settings {
		if s.Key == "GOARM" && s.Value != "" {
			v, _, _ := strings.Cut(s.Value, ",") // "7,softfloat"
			return "v" + v
		}
	}
	return "v7"
}

package elfdeps

import (
	"strings"
	"testing"
	"testing/fstest"
)

// TestClosureNamedCA: a program that names a CA bundle path itself (Go packs its
// strings without NULs, so the path sits between other bytes) brings the bundles the
// image has, wherever in the binary the path is (across the reader's 1 MiB chunks
// too); one that names none brings none.
func TestClosureNamedCA(t *testing.T) {
	t.Parallel()
	static := mkELF(t, elfSpec{})
	goStrings := "x509: invalid signature/etc/ssl/certs/ca-certificates.crt/etc/pki/tls/certs/ca-bundle.crtSSL_CERT_FILE"
	m := fstest.MapFS{
		"etc/ssl/certs/ca-certificates.crt": text("-----BEGIN CERTIFICATE-----\n"),
		"etc/ssl/cert.pem":                  text("-----BEGIN CERTIFICATE-----\n"),
		"app/go-client":                     file(append(static[:len(static):len(static)], goStrings...)),
		"app/straddling":                    file(append(append(static[:len(static):len(static)], strings.Repeat("x", 1<<20-len(static)-10)...), goStrings[20:]...)),
		"app/plain":                         file(append(static[:len(static):len(static)], "x509: invalid signature/etc/ssl/certsSSL_CERT_FILE"...)),
	}
	for prog, want := range map[string]bool{"app/go-client": true, "app/straddling": true, "app/plain": false} {
		got := closureReasons(t, m, prog)
		for _, b := range []string{"etc/ssl/certs/ca-certificates.crt", "etc/ssl/cert.pem"} {
			if _, ok := got[b]; ok != want {
				t.Errorf("%s: %s taken = %v, want %v (%v)", prog, b, ok, want, got)
			}
		}
	}
}

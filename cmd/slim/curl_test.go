package main

import (
	"strings"
	"testing"
)

// TestSlimLangsCurlCxx (issue 12): curl over https to a server whose CA the image
// trusts, and a C++ program using libstdc++ and MD4 through OpenSSL's legacy provider,
// named by --from IMG:/app alone, run on the static base as on the fat image; with
// --trace on scratch, byte for byte. Slow (a Debian fixture).
func TestSlimLangsCurlCxx(t *testing.T) {
	t.Parallel() // its own images, slim runs and containers: it overlaps the others' waits
	app, fat, ref := langsApp(t, "curl-cxx")
	_, has := slimRuns(t, fat, "--from", ref+":/app", "--base", "static")
	for _, p := range []string{"usr/bin/curl", "usr/lib/x86_64-linux-gnu/ossl-modules/legacy.so", "usr/lib/x86_64-linux-gnu/libstdc++.so.6"} {
		if !has(p) {
			t.Errorf("/%s not taken", p)
		}
	}
	traceAndVerify(t, fat, ref, app.Cmd)
	// Everything but the page the server serves: the server starts, curl gets a 404.
	verifyCatches(t, app, "hello over https", "404 page not found",
		"--from", ref+":/app/serve", "--from", ref+":/app/run.sh", "--from", ref+":/app/probe", "--from", ref+":/app/tls", "--base", "static")
}

// TestSlimLangsShell: a #!/bin/sh entrypoint on Debian calling date, grep, sed, wc,
// sha256sum, cut, ls, sort and head by plain name, named by --from IMG:/app alone, runs
// on the static base (dash and the coreutils it calls, found through PATH) and, traced,
// on scratch byte for byte; --verify catches the script without its data file. Slow (a Debian fixture).
func TestSlimLangsShell(t *testing.T) {
	t.Parallel() // its own images, slim runs and containers: it overlaps the others' waits
	app, fat, ref := langsApp(t, "shell")
	report, has := slimRuns(t, fat, "--from", ref+":/app", "--base", "static")
	if !strings.Contains(report, `command "sha256sum" run by /app/entry.sh`) {
		t.Errorf("report lacks why sha256sum was taken:\n%s", report)
	}
	for p, want := range map[string]bool{"usr/bin/dash": true, "usr/bin/sha256sum": true, "usr/bin/python3": false, "usr/bin/tar": false} {
		if has(p) != want {
			t.Errorf("/%s taken: %v, want %v", p, has(p), want)
		}
	}
	traceAndVerify(t, fat, ref, app.Cmd)
	// The script without its data file: the commands run, the redirection fails.
	verifyCatches(t, app, "12 bytes", "/app/data/motd.txt", "--from", ref+":/app/entry.sh", "--base", "static")
}

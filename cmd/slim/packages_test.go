package main

import (
	"context"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/slim-dev/slim/extract"
	"github.com/slim-dev/slim/extract/pkgdb"
	"github.com/slim-dev/slim/internal/baseimage"
	"github.com/slim-dev/slim/internal/testimage"
	"github.com/slim-dev/slim/rebase"
	"github.com/slim-dev/slim/tarball"
)

// zlibProgram uses zlib and libm: its closure is libc6's files and zlib1g's.
const zlibProgram = `#include <stdio.h>
#include <math.h>
extern const char *zlibVersion(void);
extern unsigned long crc32(unsigned long crc, const unsigned char *buf, unsigned int len);
int main(int argc, char **argv) {
	volatile double x = argc + 1.0;
	printf("zlib %s crc %lx sqrt %.4f\n", zlibVersion(), crc32(0, (const unsigned char *)"slim", 4), sqrt(x));
	return 0;
}
`

// syftBin is syft as `make test` installs it (.cache/bench/bin, never through go.mod).
func syftBin(t *testing.T) string {
	t.Helper()
	root, err := testimage.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(root, ".cache", "bench", "bin", "syft")
	if _, err := os.Stat(p); err != nil {
		if p, err = exec.LookPath("syft"); err != nil {
			testimage.Missing(t, "syft is not installed (make syft puts it in .cache/bench/bin)")
		}
	}
	return p
}

// syftPackages runs syft on an OCI layout and returns its packages of the types asked
// for, as "type name@version".
func syftPackages(t *testing.T, layoutDir string, types ...string) []string {
	t.Helper()
	cmd := exec.Command(syftBin(t), "oci-dir:"+layoutDir, "-o", "json", "-q")
	cmd.Env = append(os.Environ(), "SYFT_CHECK_FOR_APP_UPDATE=false", "HOME="+t.TempDir())
	b, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("syft: %v\n%s", err, stderr)
	}
	var doc struct {
		Artifacts []struct {
			Name, Version, Type string
		} `json:"artifacts"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("reading syft's JSON: %v", err)
	}
	var out []string
	for _, a := range doc.Artifacts {
		if slices.Contains(types, a.Type) {
			out = append(out, a.Type+" "+a.Name+"@"+a.Version)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// slimPackages is the report's packages in syft's words.
func slimPackages(pkgs []*pkgdb.Package) []string {
	var out []string
	for _, p := range pkgs {
		kind := string(p.Kind)
		if p.Kind == pkgdb.GoModule {
			kind = "go-module"
		}
		out = append(out, kind+" "+p.FullName()+"@"+p.Version)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// TestPackageMetadataDebian: a C program using zlib and libm, and a Go program, taken
// from a Debian image onto scratch. The result runs as the original did; slim says its
// files are libc6's and zlib1g's (at the versions of the source's dpkg database) and the
// Go program's modules; syft reads the same packages off the result; with
// --package-metadata=none syft sees no Debian package. Slow (a Debian fixture).
func TestPackageMetadataDebian(t *testing.T) {
	t.Parallel() // its own images, slim runs and containers: it overlaps the others' waits
	prog := testimage.GCCBuild(t, zlibProgram, "-l:libz.so.1", "-lm")
	tool := testimage.Tracer(t) // a Go program of this module, with dependencies
	img, ref := langsImage(t, hostEntries(t, "app/prog="+prog, "app/gotool="+tool), func(c *v1.Config) {
		c.Cmd = []string{"/app/prog"}
	})
	fat := runFat(t, img, "zlib 1.2.13 crc")

	// The versions the source's database gives.
	src, err := extract.OpenImage(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	installed, err := pkgdb.Installed(src)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]*pkgdb.Package{}
	for _, p := range installed {
		if p.Kind == pkgdb.Deb && slices.Contains([]string{"libc6", "zlib1g", "libc-bin", "base-files"}, p.Name) {
			want[p.Name] = p
		}
	}
	if len(want) != 4 {
		t.Fatalf("the fixture's dpkg database lacks libc6, zlib1g, libc-bin or base-files: %v", want)
	}
	bi, err := buildinfo.ReadFile(tool)
	if err != nil {
		t.Fatal(err)
	}
	wantGo := []string{"go-module " + bi.Main.Path + "@" + bi.Main.Version, "go-module stdlib@" + bi.GoVersion}
	for _, d := range bi.Deps {
		wantGo = append(wantGo, "go-module "+d.Path+"@"+d.Version)
	}
	slices.Sort(wantGo)

	slimOut := func(extra ...string) (string, *reportJSON, int64) {
		t.Helper()
		out := filepath.Join(t.TempDir(), "out")
		report := filepath.Join(t.TempDir(), "report.json")
		args := append([]string{"--from", ref + ":/app/prog", "--from", ref + ":/app/gotool", "--base", "scratch",
			"--compression", "uncompressed", "-t", "pkgs:slim", "-o", "type=oci,dest=" + out, "--report", report}, extra...)
		code, _, stderr := slimCLI(t, args...)
		if code != 0 {
			t.Fatalf("slim %s: exit %d\n%s", strings.Join(args, " "), code, stderr)
		}
		b, err := os.ReadFile(report)
		if err != nil {
			t.Fatal(err)
		}
		var r reportJSON
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
		res := layoutImage(t, out)
		testimage.Validate(t, res)
		if got := runImage(t, res); got.Code != fat.Code || got.Stdout != fat.Stdout || got.Stderr != fat.Stderr {
			t.Errorf("the slim image ran differently from the fat one:\nslim: %s\nfat: %s", got, fat)
		}
		m, err := res.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		return out, &r, m.Layers[len(m.Layers)-1].Size
	}

	out, rep, withSize := slimOut()
	// The program's libraries are libc6's and zlib1g's; glibc's runtime data files,
	// which the closure takes for any glibc program (/etc/host.conf, /etc/gai.conf, the
	// C.utf8 locale), are base-files' and libc-bin's. No other package may appear.
	var libs, data []string
	for _, p := range rep.Packages {
		if p.Kind != pkgdb.Deb {
			continue
		}
		if slices.ContainsFunc(p.Files, func(f string) bool { return strings.Contains(path.Base(f), ".so") }) {
			libs = append(libs, p.Name)
		} else {
			data = append(data, p.Name)
		}
		w := want[p.Name]
		if w == nil {
			continue
		}
		if p.Version != w.Version || p.Source != w.Source || p.SourceVersion != w.SourceVersion {
			t.Errorf("%s: %s (source %s %s), the source's database says %s (source %s %s)", p.Name, p.Version, p.Source, p.SourceVersion, w.Version, w.Source, w.SourceVersion)
		}
	}
	if slices.Sort(libs); !slices.Equal(libs, []string{"libc6", "zlib1g"}) {
		t.Errorf("packages of the program's libraries %v, want exactly libc6 and zlib1g", libs)
	}
	if slices.Sort(data); !slices.Equal(data, []string{"base-files", "libc-bin"}) {
		t.Errorf("packages of the rest (glibc's data files) %v, want exactly base-files and libc-bin", data)
	}
	ours := slimPackages(rep.Packages)
	var ourGo []string
	for _, p := range ours {
		if strings.HasPrefix(p, "go-module ") {
			ourGo = append(ourGo, p)
		}
	}
	if !slices.Equal(ourGo, wantGo) {
		t.Errorf("Go modules slim lists:\n%v\nthe binary's build info:\n%v", ourGo, wantGo)
	}
	theirs := syftPackages(t, out, "deb", "go-module")
	// syft names a main module built outside version control "UNKNOWN" where Go's
	// build info says "(devel)": the one word in which they differ.
	for i, p := range theirs {
		theirs[i] = strings.Replace(p, "@UNKNOWN", "@(devel)", 1)
	}
	slices.Sort(theirs)
	if !slices.Equal(ours, theirs) {
		t.Errorf("slim and syft disagree on the result's packages:\nslim: %v\nsyft: %v", ours, theirs)
	}

	// slim inspect --sbom reads the same list off the result.
	code, stdout, stderr := slimCLI(t, "inspect", "--sbom", "--json", "oci-layout://"+out)
	if code != 0 {
		t.Fatalf("slim inspect --sbom: exit %d\n%s", code, stderr)
	}
	var listed struct{ Packages []*pkgdb.Package }
	if err := json.Unmarshal([]byte(stdout), &listed); err != nil {
		t.Fatal(err)
	}
	if got := slimPackages(listed.Packages); !slices.Equal(got, ours) {
		t.Errorf("slim inspect --sbom lists\n%v\nthe job said\n%v", got, ours)
	}

	out, rep, noneSize := slimOut("--package-metadata=none")
	t.Logf("package metadata costs %d bytes of uncompressed layer (%d with, %d without)", withSize-noneSize, withSize, noneSize)
	if len(rep.Packages) != 0 {
		t.Errorf("--package-metadata=none: the report lists %d packages", len(rep.Packages))
	}
	if got := syftPackages(t, out, "deb"); len(got) != 0 {
		t.Errorf("--package-metadata=none: syft still finds Debian packages %v", got)
	}
}

// reportJSON is the part of --report this test reads.
type reportJSON struct {
	Packages []*pkgdb.Package `json:"packages"`
}

// alpineDB is an Alpine installed database written by hand: busybox owns /bin/busybox,
// the others own files the test does not take.
const alpineDB = `C:Q1aaaaaaaaaaaaaaaaaaaaaaaaaaa=
P:busybox
V:1.36.1-r15
A:x86_64
S:500000
I:900000
T:Size optimized toolbox of many common UNIX utilities
U:https://busybox.net/
L:GPL-2.0-only
o:busybox
F:bin
R:busybox
a:0:0:755
Z:Q1bbbbbbbbbbbbbbbbbbbbbbbbbbb=
R:sh
a:0:0:777
Z:Q1ccccccccccccccccccccccccccc=

C:Q1ddddddddddddddddddddddddddd=
P:alpine-release
V:3.19.1-r0
A:x86_64
L:MIT
o:alpine-base
F:etc
R:alpine-release
Z:Q1eeeeeeeeeeeeeeeeeeeeeeeeeee=
`

// alpineImage is busybox with the hand-written apk database, as an oci-layout reference.
func alpineImage(t *testing.T) (v1.Image, string) {
	t.Helper()
	bb := testimage.NeedTool(t, "busybox")
	entries := hostEntries(t, "bin/busybox="+bb, "lib/apk/db/installed="+hostFile(t, "installed", alpineDB),
		"etc/alpine-release="+hostFile(t, "alpine-release", "3.19.1\n"),
		"etc/os-release="+hostFile(t, "os-release", "ID=alpine\nVERSION_ID=3.19.1\n"))
	entries = append(entries, symlinkEntry("bin/sh", "busybox"))
	return hostImage(t, [][]tarball.Entry{entries}, func(c *v1.Config) {
		c.Entrypoint = []string{"/bin/busybox", "echo", "slim on alpine"}
	})
}

// TestPackageMetadataAlpine: busybox taken from an Alpine-style image (an apk
// database written by hand) runs as it did, and keeps a database trimmed to busybox's
// record and its kept file, which syft reads as the same package.
func TestPackageMetadataAlpine(t *testing.T) {
	testimage.NeedRoot(t, "running images with runc")
	img, ref := alpineImage(t)
	fat := runImage(t, img)
	out := filepath.Join(t.TempDir(), "out")
	report := filepath.Join(t.TempDir(), "report.json")
	code, _, stderr := slimCLI(t, "--from", ref+":/bin/busybox", "--base", "scratch", "--compression", "uncompressed",
		"-t", "apk:slim", "-o", "type=oci,dest="+out, "--report", report)
	if code != 0 {
		t.Fatalf("slim: exit %d\n%s", code, stderr)
	}
	res := layoutImage(t, out)
	testimage.Validate(t, res)
	got, root := runImageIn(t, res)
	if got.Code != 0 || got.Stdout != fat.Stdout || got.Stdout != "slim on alpine\n" {
		t.Errorf("the slim image ran differently:\nslim: %s\nfat: %s", got, fat)
	}
	db, err := os.ReadFile(filepath.Join(root, "lib/apk/db/installed"))
	if err != nil {
		t.Fatalf("the result keeps no apk database: %v", err)
	}
	head, _, _ := strings.Cut(alpineDB, "F:bin\n")
	if want := head + "F:bin\nR:busybox\na:0:0:755\nZ:Q1bbbbbbbbbbbbbbbbbbbbbbbbbbb=\n"; string(db) != want {
		t.Errorf("trimmed apk database:\n%s\nwant:\n%s", db, want)
	}
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	var r reportJSON
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	ours := slimPackages(r.Packages)
	if !slices.Equal(ours, []string{"apk busybox@1.36.1-r15"}) {
		t.Errorf("slim lists %v, want only busybox", ours)
	}
	if theirs := syftPackages(t, out, "apk"); !slices.Equal(ours, theirs) {
		t.Errorf("slim and syft disagree:\nslim: %v\nsyft: %v", ours, theirs)
	}
}

// TestAttestations: --sbom --provenance put one attestation manifest beside the image,
// as BuildKit does: it passes validate.Index, names the image by digest, holds an SPDX
// document listing the kept package and a SLSA provenance naming the source and the
// --from spec; a second run gives the same bytes.
func TestAttestations(t *testing.T) {
	_, ref := alpineImage(t)
	run := func() (v1.ImageIndex, string) {
		out := filepath.Join(t.TempDir(), "out")
		code, _, stderr := slimCLI(t, "--from", ref+":/bin/busybox", "--base", "static", "--sbom", "--provenance",
			"-t", "att:slim", "-o", "type=oci,dest="+out)
		if code != 0 {
			t.Fatalf("slim: exit %d\n%s", code, stderr)
		}
		lp, err := layout.ImageIndexFromPath(out)
		if err != nil {
			t.Fatal(err)
		}
		im, err := lp.IndexManifest()
		if err != nil || len(im.Manifests) != 1 {
			t.Fatalf("layout: %v, %d entries", err, len(im.Manifests))
		}
		idx, err := lp.ImageIndex(im.Manifests[0].Digest)
		if err != nil {
			t.Fatalf("the result is no index: %v", err)
		}
		if err := validate.Index(idx); err != nil {
			t.Fatalf("validate.Index: %v", err)
		}
		d, _ := idx.Digest()
		return idx, d.String()
	}
	idx, digest := run()
	predicates := attestationPredicates(t, idx)
	var doc struct {
		SPDXVersion  string                   `json:"spdxVersion"`
		CreationInfo struct{ Created string } `json:"creationInfo"`
		Packages     []struct {
			Name, VersionInfo string
			ExternalRefs      []struct{ ReferenceLocator string } `json:"externalRefs"`
		} `json:"packages"`
		Files []struct {
			FileName  string                           `json:"fileName"`
			Checksums []struct{ ChecksumValue string } `json:"checksums"`
		} `json:"files"`
		Relationships []struct{ RelationshipType string } `json:"relationships"`
	}
	if err := json.Unmarshal(predicates["https://spdx.dev/Document"], &doc); err != nil {
		t.Fatalf("SPDX predicate: %v", err)
	}
	var names, files []string
	for _, p := range doc.Packages {
		names = append(names, p.Name+"@"+p.VersionInfo)
	}
	for _, f := range doc.Files {
		files = append(files, f.FileName)
	}
	if doc.SPDXVersion != "SPDX-2.3" || doc.CreationInfo.Created != "1970-01-01T00:00:00Z" {
		t.Errorf("SPDX %s created %s", doc.SPDXVersion, doc.CreationInfo.Created)
	}
	for _, want := range []string{"busybox@1.36.1-r15", "ca-certificates@", "tzdata@"} {
		if !slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, want) }) {
			t.Errorf("SBOM packages %v lack %s", names, want)
		}
	}
	if !slices.Contains(files, "/bin/busybox") || !slices.Contains(files, "/lib/apk/db/installed") {
		t.Errorf("SBOM files %v lack the kept busybox and its database", files)
	}
	if !slices.ContainsFunc(doc.Relationships, func(r struct{ RelationshipType string }) bool { return r.RelationshipType == "DESCENDANT_OF" }) {
		t.Errorf("SBOM has no relationship to the base")
	}
	prov := string(predicates["https://slsa.dev/provenance/v0.2"])
	for _, want := range []string{ref + ":/bin/busybox", `"slimVersion"`, `"uri":"static"`} {
		if !strings.Contains(prov, want) {
			t.Errorf("provenance lacks %s:\n%s", want, prov)
		}
	}
	if _, again := run(); again != digest {
		t.Errorf("two runs gave indexes %s and %s: attestations are not reproducible", digest, again)
	}
}

// TestAttestationsByDefault: an OCI layout output gets SBOM and provenance without
// being asked (buildx attaches provenance by default; issue 15 asks the SBOM too), and
// the attested result still reads as an image: slim's own commands take its platform
// image and leave the attestation manifests, and skopeo copies it. --sbom=false
// --provenance=false leave a single image; an explicit --sbom with a Docker output is
// refused before any work.
func TestAttestationsByDefault(t *testing.T) {
	_, ref := alpineImage(t)
	out := filepath.Join(t.TempDir(), "out")
	slimOK(t, "--from", ref+":/bin/busybox", "--base", "static", "--sbom", "--provenance", "-t", "att:slim", "-o", "type=oci,dest="+out)
	lp, err := layout.ImageIndexFromPath(out)
	if err != nil {
		t.Fatal(err)
	}
	top, err := lp.IndexManifest()
	if err != nil || len(top.Manifests) != 1 || !top.Manifests[0].MediaType.IsIndex() {
		t.Fatalf("layout: %v, %+v; want one index (the image and its attestations)", err, top)
	}
	idx, err := lp.ImageIndex(top.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil || len(im.Manifests) != 2 || im.Manifests[1].Annotations[rebase.ReferenceTypeAnnotation] != rebase.AttestationManifestType {
		t.Fatalf("index: %v, %+v; want the image and its attestation manifest", err, im)
	}
	att, err := idx.Image(im.Manifests[1].Digest)
	if err != nil {
		t.Fatal(err)
	}
	am, err := att.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	var preds []string
	for _, l := range am.Layers {
		preds = append(preds, l.Annotations[rebase.PredicateTypeAnnotation])
	}
	if strings.Join(preds, " ") != rebase.PredicateSPDX+" "+rebase.PredicateSLSA02 {
		t.Errorf("default attestations %v, want the SBOM and provenance", preds)
	}
	image := im.Manifests[0].Digest.String()
	src := "oci-layout://" + out + ":slim"

	if got := slimOK(t, "inspect", "--json", src); !strings.Contains(got, image) {
		t.Errorf("slim inspect of the attested result does not name its image %s:\n%s", image, got)
	}
	files := filepath.Join(t.TempDir(), "files")
	slimOK(t, "extract", src, "/bin/busybox", "-o", files)
	if _, err := os.Stat(filepath.Join(files, "bin/busybox")); err != nil {
		t.Errorf("slim extract of the attested result: %v", err)
	}
	// recompress and rebase read the platform image and write a new single image: the
	// source's attestations name the old digest, so none is carried over.
	for _, args := range [][]string{
		{"recompress", src, "--compression", "zstd"},
		{"rebase", src, "--base", "scratch"},
	} {
		dest := filepath.Join(t.TempDir(), "out")
		slimOK(t, append(args, "-o", "type=oci,dest="+dest)...)
		dl, err := layout.ImageIndexFromPath(dest)
		if err != nil {
			t.Fatal(err)
		}
		dm, err := dl.IndexManifest()
		if err != nil || len(dm.Manifests) != 1 || !dm.Manifests[0].MediaType.IsImage() {
			t.Errorf("slim %s: %v, %+v; want one image, no stale attestations", args[0], err, dm)
		}
	}
	skopeo := testimage.NeedTool(t, "skopeo")
	copied := filepath.Join(t.TempDir(), "copied")
	if b, err := exec.Command(skopeo, "copy", "--all", "oci:"+out+":slim", "oci:"+copied+":slim").CombinedOutput(); err != nil {
		t.Errorf("skopeo copy of the attested result: %v\n%s", err, b)
	}

	// An OCI layout gets them only when asked: by default its tag names the image alone,
	// which umoci unpacks.
	off := filepath.Join(t.TempDir(), "off")
	slimOK(t, "--from", ref+":/bin/busybox", "--base", "static", "-t", "att:slim", "-o", "type=oci,dest="+off)
	if d := layoutDigest(t, off); d.String() != image {
		t.Errorf("the default OCI output wrote %s, want the attested result's image %s alone", d, image)
	}
	if ol, err := layout.ImageIndexFromPath(off); err != nil {
		t.Fatal(err)
	} else if om, err := ol.IndexManifest(); err != nil || !om.Manifests[0].MediaType.IsImage() {
		t.Errorf("the default OCI output: %v, %+v; want a single image", err, om)
	}
	if _, err := os.Stat(filepath.Join(unpack(t, off, "slim"), "bin/busybox")); err != nil {
		t.Errorf("umoci unpack of the default OCI output: %v", err)
	}

	// A push gets both by default, as buildx attaches provenance to what it pushes.
	pushed := testimage.Registry(t) + "/att/slim:v1"
	slimOK(t, "--from", ref+":/bin/busybox", "--base", "static", "-t", pushed, "--push")
	pref, err := name.ParseReference(pushed, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	pidx, err := remote.Index(pref)
	if err != nil {
		t.Fatalf("the pushed result is no index: %v", err)
	}
	if pm, err := pidx.IndexManifest(); err != nil || len(pm.Manifests) != 2 || pm.Manifests[0].Digest.String() != image ||
		pm.Manifests[1].Annotations[rebase.ReferenceTypeAnnotation] != rebase.AttestationManifestType {
		t.Errorf("pushed index %v, %+v: want the image %s and its attestation manifest", err, pm, image)
	}

	archive := filepath.Join(t.TempDir(), "docker.tar")
	code, _, stderr := slimCLI(t, "--from", ref+":/bin/busybox", "--base", "static", "--sbom", "-t", "att:slim", "-o", "type=docker,dest="+archive)
	if code == 0 || !strings.Contains(stderr, "--sbom=false") {
		t.Errorf("--sbom with a docker archive: exit %d, want a refusal naming --sbom=false:\n%s", code, stderr)
	}
	if _, err := os.Stat(archive); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("refused run left %s: %v", archive, err)
	}
	slimOK(t, "--from", ref+":/bin/busybox", "--base", "static", "-t", "att:slim", "-o", "type=docker,dest="+archive)
}

// attestationPredicates reads the attestations of the image in idx (the image first,
// then its attestation manifest, as BuildKit writes them): each statement's subject
// must be the image; it returns the predicates by type.
func attestationPredicates(t *testing.T, idx v1.ImageIndex) map[string]json.RawMessage {
	t.Helper()
	im, err := idx.IndexManifest()
	if err != nil || len(im.Manifests) != 2 {
		t.Fatalf("index: %v, %d manifests, want the image and its attestations", err, len(im.Manifests))
	}
	image, att := im.Manifests[0], im.Manifests[1]
	if att.Annotations["vnd.docker.reference.type"] != "attestation-manifest" || att.Annotations["vnd.docker.reference.digest"] != image.Digest.String() ||
		att.Platform == nil || att.Platform.OS != "unknown" || att.Platform.Architecture != "unknown" {
		t.Fatalf("attestation descriptor %+v does not point at the image %s as BuildKit's do", att, image.Digest)
	}
	attImg, err := idx.Image(att.Digest)
	if err != nil {
		t.Fatal(err)
	}
	predicates := map[string]json.RawMessage{}
	mf, err := attImg.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range mf.Layers {
		if l.MediaType != "application/vnd.in-toto+json" {
			t.Errorf("attestation layer %d: media type %s", i, l.MediaType)
		}
		layer, err := attImg.LayerByDigest(l.Digest)
		if err != nil {
			t.Fatal(err)
		}
		rc, err := layer.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		var st struct {
			Type          string `json:"_type"`
			PredicateType string `json:"predicateType"`
			Subject       []struct {
				Digest map[string]string `json:"digest"`
			} `json:"subject"`
			Predicate json.RawMessage `json:"predicate"`
		}
		if err := json.NewDecoder(rc).Decode(&st); err != nil {
			t.Fatal(err)
		}
		rc.Close()
		if st.PredicateType != l.Annotations["in-toto.io/predicate-type"] || len(st.Subject) != 1 || "sha256:"+st.Subject[0].Digest["sha256"] != image.Digest.String() {
			t.Errorf("statement %d: predicate %s (annotated %s), subject %v, want the image %s", i, st.PredicateType, l.Annotations["in-toto.io/predicate-type"], st.Subject, image.Digest)
		}
		predicates[st.PredicateType] = st.Predicate
	}
	return predicates
}

// TestBuildProvenance (issue 15): slim's provenance of a Dockerfile run names the build
// it came from, as BuildKit's own (mode=min) does: the Dockerfile (file name and
// sha256), the frontend and its options (build args, named contexts as given), and the
// images the solved stages read with the digests BuildKit resolved — a registry base
// through the FROM chain of the target, a named context's layout — and two runs give
// the same bytes.
func TestBuildProvenance(t *testing.T) {
	needBuildkit(t)
	const user, pass = "slim", "pr0v"
	busybox, err := baseimage.Busybox(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// Not the busybox context's digest, so that each material is told apart.
	base := mutate.Annotations(busybox, map[string]string{"org.opencontainers.image.title": "runtime"}).(v1.Image)
	baseDigest, err := base.Digest()
	if err != nil {
		t.Fatal(err)
	}
	host := testimage.PrivateRegistry(t, user, pass, map[string]any{"lib/runtime:1.0": base})
	t.Setenv("DOCKER_CONFIG", testimage.DockerConfig(t, host, user, pass))
	dockerfile := "ARG TAG=1.0\nFROM " + host + "/lib/runtime:${TAG} AS runtime\n" +
		"FROM busybox AS builder\nARG GREETING\nRUN echo \"$GREETING\" > /greeting\n" +
		"FROM runtime\nCOPY --from=builder /greeting /greeting\n"
	dir := project(t, map[string]string{"Dockerfile": dockerfile})
	run := func() (json.RawMessage, string) {
		out := filepath.Join(t.TempDir(), "out")
		slimOK(t, buildArgs("--from", "builder:/greeting", "--build-arg", "GREETING=hi", "--base", "scratch", "--force",
			"--provenance", "--sbom=false", "-t", "prov:slim", "-o", "type=oci,dest="+out, dir)...)
		lp, err := layout.ImageIndexFromPath(out)
		if err != nil {
			t.Fatal(err)
		}
		im, err := lp.IndexManifest()
		if err != nil || len(im.Manifests) != 1 {
			t.Fatalf("layout: %v, %+v", err, im)
		}
		idx, err := lp.ImageIndex(im.Manifests[0].Digest)
		if err != nil {
			t.Fatalf("the result is no index: %v", err)
		}
		return attestationPredicates(t, idx)[rebase.PredicateSLSA02], im.Manifests[0].Digest.String()
	}
	raw, digest := run()
	var pr struct {
		Invocation struct {
			ConfigSource struct {
				EntryPoint string            `json:"entryPoint"`
				Digest     map[string]string `json:"digest"`
			} `json:"configSource"`
			Parameters struct {
				From     []string          `json:"from"`
				Frontend string            `json:"frontend"`
				Args     map[string]string `json:"args"`
				Locals   []struct{ Name string }
			} `json:"parameters"`
		} `json:"invocation"`
		Materials []struct {
			URI    string            `json:"uri"`
			Digest map[string]string `json:"digest"`
		} `json:"materials"`
	}
	if err := json.Unmarshal(raw, &pr); err != nil {
		t.Fatalf("provenance: %v\n%s", err, raw)
	}
	sum := sha256.Sum256([]byte(dockerfile))
	inv := pr.Invocation
	if inv.ConfigSource.EntryPoint != "Dockerfile" || inv.ConfigSource.Digest["sha256"] != hex.EncodeToString(sum[:]) {
		t.Errorf("configSource %+v, want the Dockerfile and its sha256 %x", inv.ConfigSource, sum)
	}
	if inv.Parameters.Frontend != "dockerfile.v0" || inv.Parameters.Args["build-arg:GREETING"] != "hi" ||
		inv.Parameters.Args["context:busybox"] != "oci-layout://"+bk.busybox || len(inv.Parameters.Locals) < 2 {
		t.Errorf("parameters %+v: want the frontend, the build arg, the named context as given and the locals", inv.Parameters)
	}
	if !slices.Contains(inv.Parameters.From, "builder:/greeting") {
		t.Errorf("parameters.from %v lack the --from", inv.Parameters.From)
	}
	wantBase := "pkg:docker/" + host + "/lib/runtime@1.0?platform=" + url.QueryEscape(runtime.GOOS+"/"+runtime.GOARCH)
	busyboxDigest := layoutDigest(t, bk.busybox)
	found := map[string]bool{}
	for _, m := range pr.Materials {
		switch {
		case m.URI == wantBase && m.Digest["sha256"] == baseDigest.Hex:
			found["base"] = true
		case m.URI == "oci-layout://"+bk.busybox && m.Digest["sha256"] == busyboxDigest.Hex:
			found["context"] = true
		}
	}
	if !found["base"] || !found["context"] {
		t.Errorf("materials %+v: want %s with %s (the target's FROM chain) and the busybox layout with %s", pr.Materials, wantBase, baseDigest, busyboxDigest)
	}
	if again, d := run(); string(again) != string(raw) || d != digest {
		t.Errorf("two runs gave different provenance:\n%s\n%s", raw, again)
	}
}

package build

import (
	"fmt"
	"testing"
)

// TestImagesUsed: provenance names the images the solved targets read: through FROM
// chains and COPY --from edges, stages only when they are reached, scratch never, an
// image in COPY --from as an image.
func TestImagesUsed(t *testing.T) {
	df := "ARG V=3.19\n" +
		"FROM alpine:${V} AS base\n" +
		"FROM base AS mid\nCOPY --from=docker.io/library/busybox:1.36 /bin/busybox /bin/\n" +
		"FROM golang:1.22 AS unused\n" +
		"FROM scratch AS out\nCOPY --from=mid /bin/busybox /\n" +
		"FROM --platform=$BUILDPLATFORM debian:12 AS tools\n"
	stages, err := ParseDockerfile([]byte(df), nil)
	if err != nil {
		t.Fatal(err)
	}
	p := &prepared{stages: stages, targets: []Stage{stages[3], stages[4]}}
	got := fmt.Sprint(p.imagesUsed())
	want := "[{alpine:3.19 } {docker.io/library/busybox:1.36 } {debian:12 $BUILDPLATFORM}]"
	if got != want {
		t.Errorf("imagesUsed = %s, want %s", got, want)
	}
}

// TestNamedContextKey: a named context replaces an image whether the Dockerfile and
// the command line spell it alike or not, as the frontend matches them.
func TestNamedContextKey(t *testing.T) {
	contexts := map[string]string{"golang": "oci-layout://g", "docker.io/library/alpine:3.19": "docker-image://a", "builder": "/dir"}
	for image, want := range map[string]string{
		"golang": "golang", "docker.io/library/golang:latest": "golang", "alpine:3.19": "docker.io/library/alpine:3.19",
		"index.docker.io/library/alpine:3.19": "docker.io/library/alpine:3.19", "alpine:3.20": "", "debian": "",
	} {
		got, ok := namedContextKey(contexts, image)
		if got != want || ok != (want != "") {
			t.Errorf("namedContextKey(%s) = %q, %t; want %q", image, got, ok, want)
		}
	}
}

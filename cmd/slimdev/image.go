package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/slim-dev/slim/internal/baseimage"
)

// image builds slim's own image with slim (`make image`): cmd/slim/Dockerfile onto the
// static base, with a golang image made offline and the modules vendored, written as
// an OCI layout tar and a docker archive (loaded when a Docker daemon answers).
func image(ctx context.Context, args []string) error {
	work := mustAbs(filepath.Join(".cache", "image"))
	slim := mustAbs(filepath.Join("bin", "slim"))
	golang := mustAbs(filepath.Join(".cache", "demo", "golang"))
	if _, err := os.Stat(filepath.Join(golang, "index.json")); err != nil {
		fmt.Println("==> making the golang base image offline from the local Go toolchain")
		if _, err := baseimage.Golang(golang); err != nil {
			return err
		}
	}
	vendor := filepath.Join(work, "vendor")
	os.RemoveAll(vendor)
	fmt.Println("==> go mod vendor -o " + vendor)
	if err := runTo(ctx, os.Stdout, "go", "mod", "vendor", "-o", vendor); err != nil {
		return err
	}
	argv := append([]string{"-f", "cmd/slim/Dockerfile", "--base", "static", "--build-context", "golang=oci-layout://" + golang,
		"--build-context", "vendor=" + vendor, "-t", "slim:latest",
		"-o", "type=oci,dest=" + filepath.Join(work, "slim-oci.tar"),
		"-o", "type=docker,dest=" + filepath.Join(work, "slim-docker.tar"),
		"--report", filepath.Join(work, "report.json")}, args...)
	argv = append(argv, ".")
	fmt.Printf("==> slim %s\n", strings.Join(argv, " "))
	if err := runTo(ctx, os.Stdout, slim, argv...); err != nil {
		return err
	}
	if docker, err := exec.LookPath("docker"); err == nil && exec.CommandContext(ctx, docker, "version").Run() == nil {
		fmt.Println("==> docker load")
		return runTo(ctx, os.Stdout, docker, "load", "-i", filepath.Join(work, "slim-docker.tar"))
	}
	fmt.Println("==> no Docker daemon: the image is in " + work + " (OCI layout tar and docker archive)")
	return nil
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slim-dev/slim/internal/baseimage"
)

// demo runs the main job on the built-in demo: a multi-stage Dockerfile that compiles a
// Go HTTP server (testdata/demo), built through BuildKit with a golang image made
// offline; it prints the size table (builder stage vs result) and runs the result.
func demo(ctx context.Context, args []string) error {
	work := mustAbs(filepath.Join(".cache", "demo"))
	slim := mustAbs(filepath.Join("bin", "slim"))
	golang := filepath.Join(work, "golang")
	if _, err := os.Stat(filepath.Join(golang, "index.json")); err != nil {
		fmt.Println("==> making the golang base image offline from the local Go toolchain")
		if _, err := baseimage.Golang(golang); err != nil {
			return err
		}
	}
	buildContext := "golang=oci-layout://" + golang
	out := filepath.Join(work, "result")
	report := filepath.Join(work, "report.json")
	os.RemoveAll(out)

	argv := []string{"--from", "builder:/app/server", "--base", "scratch", "--build-context", buildContext,
		"--progress", "plain", "-t", "demo:slim", "-o", "type=oci,dest=" + out, "--report", report, "testdata/demo"}
	fmt.Printf("==> slim %s\n", strings.Join(argv, " "))
	if err := runTo(ctx, os.Stdout, slim, argv...); err != nil {
		return err
	}

	// The builder stage's size, for the table: slim never exports it during the job, so
	// export it here once to measure what the slim image replaces.
	stages := filepath.Join(work, "stages")
	fmt.Println("==> exporting the builder stage, only to measure it")
	if err := runTo(ctx, io.Discard, slim, "build", "--stage", "builder", "--build-context", buildContext, "--progress", "quiet", "-o", stages, "testdata/demo"); err != nil {
		return err
	}
	var builder struct {
		Totals struct{ Size, UncompressedSize int64 }
	}
	var buf bytes.Buffer
	if err := runTo(ctx, &buf, slim, "inspect", "--json", "oci-layout://"+filepath.Join(stages, "builder")); err != nil {
		return err
	}
	if err := json.Unmarshal(buf.Bytes(), &builder); err != nil {
		return err
	}
	var rep struct {
		Images []struct{ Size, Uncompressed int64 }
	}
	b, err := os.ReadFile(report)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, &rep); err != nil || len(rep.Images) != 1 {
		return fmt.Errorf("reading the report %s: %v", report, err)
	}
	fmt.Println("\n==> sizes")
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "image\tcompressed\tuncompressed\t")
	fmt.Fprintf(tw, "builder stage\t%s\t%s\t\n", mb(builder.Totals.Size), mb(builder.Totals.UncompressedSize))
	fmt.Fprintf(tw, "slim result (scratch)\t%s\t%s\t\n", mb(rep.Images[0].Size), mb(rep.Images[0].Uncompressed))
	fmt.Fprintf(tw, "ratio\t%.1f×\t%.1f×\t\n", float64(builder.Totals.Size)/float64(rep.Images[0].Size),
		float64(builder.Totals.UncompressedSize)/float64(rep.Images[0].Uncompressed))
	tw.Flush()

	return runDemoResult(ctx, slim, out, work)
}

// runDemoResult unpacks the result with slim extract and runs its server with chroot,
// then asks it one question over loopback.
func runDemoResult(ctx context.Context, slim, out, work string) error {
	if os.Geteuid() != 0 {
		fmt.Println("\n==> not root: skipping the run of the result (chroot needs root)")
		return nil
	}
	rootfs := filepath.Join(work, "rootfs")
	os.RemoveAll(rootfs)
	if err := runTo(ctx, io.Discard, slim, "extract", "oci-layout://"+out+":slim", "/", "-o", rootfs); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := ln.Addr().String()
	ln.Close()
	var cfg v1.Config
	cfg.Entrypoint = []string{"/app/server", "-addr", addr}
	fmt.Printf("\n==> chroot %s %s\n", rootfs, strings.Join(cfg.Entrypoint, " "))
	srv := exec.CommandContext(ctx, "chroot", append([]string{rootfs}, cfg.Entrypoint...)...)
	srv.Stdout, srv.Stderr = os.Stdout, os.Stderr
	if err := srv.Start(); err != nil {
		return err
	}
	defer func() { srv.Process.Kill(); srv.Wait() }()
	url := "http://" + addr + "/hello"
	for deadline := time.Now().Add(10 * time.Second); ; {
		resp, err := http.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			fmt.Printf("==> GET %s\n%s %s", url, resp.Status, body)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the slim image's server did not answer: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func runTo(ctx context.Context, stdout io.Writer, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w", filepath.Base(name), strings.Join(args, " "), err)
	}
	return nil
}

func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }

// demoConfig is the runtime config of the images the benchmarks generate.
func demoConfig() v1.Config {
	return v1.Config{
		Entrypoint: []string{"/app/hello.sh"},
		Env:        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		WorkingDir: "/app",
	}
}

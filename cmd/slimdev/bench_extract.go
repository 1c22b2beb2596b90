package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// A small but real HTTP server: routing, JSON, templates and TLS client code all end up
// in the binary, so its size and compressibility are those of a typical Go service.
const goServerSource = `package main

import (
	"encoding/json"
	"html/template"
	"log"
	"net/http"
	"os"
	"time"
)

var page = template.Must(template.New("p").Parse("<h1>{{.}}</h1>"))

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-version" {
		os.Stdout.WriteString("server 1.0\n")
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"ok": true, "time": time.Now()})
	})
	mux.HandleFunc("GET /hello/{name}", func(w http.ResponseWriter, r *http.Request) {
		page.Execute(w, r.PathValue("name"))
	})
	mux.HandleFunc("GET /proxy", func(w http.ResponseWriter, r *http.Request) {
		resp, err := http.Get(r.URL.Query().Get("u"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
	})
	log.Fatal(http.ListenAndServe(":8080", mux))
}
`

// A C program that uses zlib and libm, so its closure is libc, libm, libz and the loader.
const cProgramSource = `#include <math.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

int main(void) {
	const char *msg = "slim keeps what the program needs and nothing else";
	unsigned char packed[256], plain[256];
	uLongf plen = sizeof packed, ulen = sizeof plain;
	if (compress2(packed, &plen, (const unsigned char *)msg, strlen(msg), 9) != Z_OK) return 1;
	if (uncompress(plain, &ulen, packed, plen) != Z_OK) return 2;
	printf("zlib %s crc32=%08lx sqrt2=%.6f round-trip=%s\n", zlibVersion(),
		crc32(0L, (const unsigned char *)msg, strlen(msg)), sqrt(2.0),
		ulen == strlen(msg) && memcmp(plain, msg, ulen) == 0 ? "ok" : "bad");
	return 0;
}
`

// benchExtractGo slims a static Go server out of a fat image onto scratch and compares the
// result with the smallest thing one could ship by hand: gzip -9 of the binary alone.
func benchExtractGo(ctx context.Context, b *bencher) (string, error) {
	dir := filepath.Join(b.work, b.sized("extract-go"))
	budget := b.pick(150<<20, 20<<20)
	err := cached(dir, func() error {
		bin := filepath.Join(dir, "server")
		if err := buildGoServer(ctx, dir, bin); err != nil {
			return err
		}
		server, err := fileEntry(bin, "app/server", 0o755)
		if err != nil {
			return err
		}
		app := []genEntry{dirEntry("app/"), server}
		return fatImage(dir, [][]string{{"/usr/share"}, {"/usr/lib/x86_64-linux-gnu"}}, budget, nil, app, "/app/server")
	})
	if err != nil {
		return "", fmt.Errorf("making the fat Go image: %w", err)
	}
	ref := "oci-layout://" + filepath.Join(dir, "image") + ":latest"
	res, err := b.slimFrom(ctx, dir, ref+":/app/server")
	if err != nil {
		return "", err
	}
	floor, err := gzip9Size(ctx, filepath.Join(dir, "server"), filepath.Join(dir, "server.gz"))
	if err != nil {
		return "", err
	}
	fat, err := layoutLayerSize(filepath.Join(dir, "image"))
	if err != nil {
		return "", err
	}
	r := sizeRatio(res.size, floor)
	var md strings.Builder
	md.WriteString("## Slimming a Go server out of a fat image (`slim --from fat:/app/server --base scratch`)\n\n")
	fmt.Fprintf(&md, "A static Go HTTP server (`CGO_ENABLED=0 go build -ldflags='-s -w'`) in an image that also holds "+
		"up to %s of this machine's /usr/share and /usr/lib/x86_64-linux-gnu in gzip layers. The floor is `gzip -9` of the binary alone. "+
		"Goal: slim's layers ≤ 1.02 × the floor.\n\n", sizeMiB(2*budget))
	md.WriteString("| fat image | slim result (layers) | `gzip -9` binary | slim / gzip -9 | slim / fat | slim wall / `gzip -dc` of the fat layers | goal |\n|---|---|---|---|---|---|---|\n")
	fmt.Fprintf(&md, "| %s | %s | %s | %.3f | %.4f | %s | %s |\n", sizeMiB(fat), sizeMiB(res.size), sizeMiB(floor), r,
		sizeRatio(res.size, fat), res.wallVsRead, verdict(r <= 1.02))
	return md.String(), nil
}

// benchExtractC slims a dynamically linked C program (glibc, libm, zlib) out of an image
// of the host's libraries and binaries, runs the result, and compares it with gzip -9 of
// a tar of exactly the files the program needs.
func benchExtractC(ctx context.Context, b *bencher) (string, error) {
	dir := filepath.Join(b.work, b.sized("extract-c"))
	prog := filepath.Join(dir, "prog")
	budget := b.pick(250<<20, 30<<20)
	err := cached(dir, func() error {
		if err := buildCProgram(ctx, dir, prog); err != nil {
			return err
		}
		closure, err := lddClosure(ctx, prog)
		if err != nil {
			return err
		}
		need := func(p string) bool { return closure[p] }
		pe, err := fileEntry(prog, "app/prog", 0o755)
		if err != nil {
			return err
		}
		app := []genEntry{dirEntry("app/"), pe}
		roots := [][]string{{"/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/lib", "/lib64", "/bin"}, {"/usr/bin"}}
		return fatImage(dir, roots, budget, need, app, "/app/prog")
	})
	if err != nil {
		return "", fmt.Errorf("making the fat C image: %w", err)
	}
	ref := "oci-layout://" + filepath.Join(dir, "image") + ":latest"
	res, err := b.slimFrom(ctx, dir, ref+":/app/prog")
	if err != nil {
		return "", err
	}
	floor, files, err := neededTarGzip(ctx, dir, prog)
	if err != nil {
		return "", err
	}
	fat, err := layoutLayerSize(filepath.Join(dir, "image"))
	if err != nil {
		return "", err
	}
	ran, runErr := runSlimmed(ctx, filepath.Join(dir, "out"), filepath.Join(dir, "bundle"), "/app/prog")
	r := sizeRatio(res.size, floor)
	var md strings.Builder
	md.WriteString("## Slimming a C program out of a fat image (glibc, libm, zlib)\n\n")
	fmt.Fprintf(&md, "A gcc-built program, dynamically linked against glibc, libm and zlib, in an image of this machine's "+
		"/usr/lib/x86_64-linux-gnu and /usr/bin (up to %s of them, plus every library the program needs) with the /lib, /lib64 and /bin symlinks. "+
		"The floor is `gzip -9` of a tar of exactly the files it needs: the program, its `ldd` closure and the symlinks on the way "+
		"(%d entries). Goal: slim's layers ≤ 1.05 × the floor.\n\n", sizeMiB(2*budget), files)
	md.WriteString("| fat image | slim result (layers) | `gzip -9` needed files | slim / gzip -9 | slim / fat | slim wall / `gzip -dc` of the fat layers | goal |\n|---|---|---|---|---|---|---|\n")
	fmt.Fprintf(&md, "| %s | %s | %s | %.3f | %.4f | %s | %s |\n", sizeMiB(fat), sizeMiB(res.size), sizeMiB(floor), r,
		sizeRatio(res.size, fat), res.wallVsRead, verdict(r <= 1.05))
	if runErr != nil {
		fmt.Fprintf(&md, "\nThe result **did not run**: %v\n", runErr)
	} else {
		fmt.Fprintf(&md, "\nThe result runs: `umoci unpack` then `chroot rootfs /app/prog` prints `%s`.\n", ran)
	}
	return md.String(), nil
}

// slimResult is one slim run on a fat image: the result's layer bytes and its wall time as
// a ratio to decompressing every fat layer once, what any tool that reads the whole image
// pays; slim only indexes layers and reads the content it takes, so it can come in under 1.
type slimResult struct {
	size       int64
	wallVsRead string
}

func (b *bencher) slimFrom(ctx context.Context, dir, from string) (slimResult, error) {
	out := filepath.Join(dir, "out")
	report := filepath.Join(dir, "report.json")
	m, err := b.median(func() (measurement, error) {
		if err := os.RemoveAll(out); err != nil {
			return measurement{}, err
		}
		return runCmd(ctx, b.slim, "--from", from, "--base", "scratch", "-t", "bench:latest", "-o", "type=oci,dest="+out, "--report", report)
	})
	if err != nil {
		return slimResult{}, err
	}
	size, err := layoutLayerSize(out)
	if err != nil {
		return slimResult{}, err
	}
	layers, err := filepath.Glob(filepath.Join(dir, "layer*.tar.gz"))
	if err != nil {
		return slimResult{}, err
	}
	read, err := b.median(func() (measurement, error) {
		return shellTo(ctx, "/dev/null", `exec gzip -dc "$@"`, layers...)
	})
	if err != nil {
		return slimResult{}, err
	}
	return slimResult{size: size, wallVsRead: ratio(m.wall, read.wall)}, nil
}

// fatImage writes an OCI layout of host trees (one gzip layer per group of roots, each
// root limited to budget bytes of files unless must wants them) with the app layer on top.
func fatImage(dir string, groups [][]string, budget int64, must func(string) bool, app []genEntry, entrypoint string) error {
	var files, created []string
	for i, roots := range groups {
		var entries []genEntry
		seen := map[string]bool{}
		for _, root := range roots {
			es, _, err := hostTree(root, budget, must)
			if err != nil {
				return err
			}
			for _, e := range es {
				if !seen[e.hdr.Name] {
					seen[e.hdr.Name] = true
					entries = append(entries, e)
				}
			}
		}
		p := filepath.Join(dir, fmt.Sprintf("layer%d.tar.gz", i))
		if err := writeGzipLayer(p, entries); err != nil {
			return err
		}
		files, created = append(files, p), append(created, "COPY "+strings.Join(roots, " ")+" /")
	}
	p := filepath.Join(dir, fmt.Sprintf("layer%d.tar.gz", len(groups)))
	if err := writeGzipLayer(p, app); err != nil {
		return err
	}
	files, created = append(files, p), append(created, "COPY app /app")
	cfg := v1.Config{Entrypoint: []string{entrypoint}, Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}}
	return writeOCILayout(filepath.Join(dir, "image"), files, created, cfg)
}

// fileEntry is a host file put into a layer under another name.
func fileEntry(src, name string, mode int64) (genEntry, error) {
	fi, err := os.Stat(src)
	if err != nil {
		return genEntry{}, err
	}
	e := bytesEntry(name, mode, nil)
	e.hdr.Size, e.body = fi.Size(), copyFile(src, fi.Size())
	return e, nil
}

func buildGoServer(ctx context.Context, dir, bin string) error {
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte("module benchserver\n\ngo 1.22\n"), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(src, "main.go"), []byte(goServerSource), 0o644); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building the Go server: %w: %s", err, out)
	}
	return nil
}

func buildCProgram(ctx context.Context, dir, prog string) error {
	src := filepath.Join(dir, "prog.c")
	if err := os.WriteFile(src, []byte(cProgramSource), 0o644); err != nil {
		return err
	}
	out, err := exec.CommandContext(ctx, "gcc", "-O2", "-o", prog, src, "-lz", "-lm").CombinedOutput()
	if err != nil {
		return fmt.Errorf("building the C program (needs gcc and zlib1g-dev): %w: %s", err, out)
	}
	return nil
}

// gzip9Size compresses one file with gzip -9 and returns the compressed size.
func gzip9Size(ctx context.Context, in, out string) (int64, error) {
	if _, err := shellTo(ctx, out, `exec gzip -9 -n -c "$1"`, in); err != nil {
		return 0, err
	}
	return fileSize(out)
}

// runSlimmed unpacks a slim result with umoci (a third-party reader) and runs its
// entrypoint in a chroot, returning what it printed.
func runSlimmed(ctx context.Context, layoutDir, bundle, entry string) (string, error) {
	root, err := unpackLayout(ctx, layoutDir, bundle)
	if err != nil {
		return "", err
	}
	out, err := exec.CommandContext(ctx, "chroot", root, entry).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("chroot %s: %w: %s", entry, err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

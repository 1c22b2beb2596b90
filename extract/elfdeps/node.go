package elfdeps

import (
	"bufio"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/slim-dev/slim/internal/rootfs"
)

// loadNode takes, for Node.js (a program named node or nodejs, or one linking libnode),
// the JavaScript files its binary names by absolute path: a distribution's build keeps
// some builtins outside the binary (Debian's "externalized builtins" in
// /usr/share/nodejs), and node aborts at start when one is missing. Also the ICU data
// directory that NODE_ICU_DATA names.
func (p *process) loadNode() error {
	bin := p.loadedNamed("libnode.so")
	if bin == nil {
		if b := path.Base(p.root.real); b != "node" && b != "nodejs" {
			return nil
		}
		bin = p.root
	}
	if st := p.r.langs(); st.nodeBin == "" {
		st.nodeBin = p.root.real
	}
	if p.r.langs().done["node:"+bin.real] {
		return nil
	}
	p.r.langs().done["node:"+bin.real] = true
	p.r.langs().node = true
	names, err := p.r.embeddedPaths(bin.real, isScriptPath)
	if err != nil {
		return err
	}
	for _, n := range names {
		if _, err := p.addFound(n, fmt.Sprintf("node builtin %s named in /%s", n, bin.real)); err != nil {
			return err
		}
	}
	if dir, ok := rootfs.Getenv(p.r.opts.env, "NODE_ICU_DATA"); ok && path.IsAbs(dir) {
		if _, err := p.addFound(dir, "ICU data of NODE_ICU_DATA for node"); err != nil {
			return err
		}
	}
	return nil
}

// maxEmbeddedPath bounds a NUL-terminated string read as a path.
const maxEmbeddedPath = 1024

// embeddedPaths lists the NUL-terminated strings of the file at real that keep says
// are paths (node's JavaScript files, perl's @INC), in the order they appear, each
// once. The file is streamed: libnode is tens of megabytes.
func (r *Resolver) embeddedPaths(real string, keep func(string) bool) ([]string, error) {
	f, err := r.fsys.Open(real)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", real, err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	var out []string
	seen := map[string]bool{}
	long := false
	for {
		chunk, err := br.ReadSlice(0)
		switch {
		case err == bufio.ErrBufferFull:
			long = true
			continue
		case err == io.EOF:
			return out, nil
		case err != nil:
			return nil, fmt.Errorf("reading %s: %w", real, err)
		}
		if long || len(chunk) > maxEmbeddedPath {
			long = false
			continue
		}
		s := string(chunk[:len(chunk)-1])
		if keep(s) && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
}

// isScriptPath says whether s is an absolute path of a JavaScript file (.js, .mjs, .cjs).
func isScriptPath(s string) bool {
	if !strings.HasPrefix(s, "/") || !(strings.HasSuffix(s, ".js") || strings.HasSuffix(s, ".mjs") || strings.HasSuffix(s, ".cjs")) {
		return false
	}
	for _, c := range s {
		if c <= ' ' || c >= 0x7f || c == '"' || c == '\'' || c == ':' || c == '*' || c == '$' {
			return false
		}
	}
	return !strings.Contains(s, "//") && !strings.Contains(s, "/../")
}

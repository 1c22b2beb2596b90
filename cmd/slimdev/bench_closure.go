package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// lddClosure returns every host path a dynamically linked program needs at run time: the
// libraries and loader ldd names, and each symlink met on the way to them (/lib, soname
// links), as absolute paths.
func lddClosure(ctx context.Context, prog string) (map[string]bool, error) {
	out, err := exec.CommandContext(ctx, "ldd", prog).Output()
	if err != nil {
		return nil, fmt.Errorf("ldd %s: %w", prog, err)
	}
	need := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		p := lddPath(sc.Text())
		if p == "" {
			continue
		}
		chain, err := symlinkChain(p)
		if err != nil {
			return nil, err
		}
		for _, c := range chain {
			need[c] = true
		}
	}
	return need, sc.Err()
}

// lddPath picks the file out of one line of ldd output ("libz.so.1 => /lib/.../libz.so.1
// (0x…)" or "/lib64/ld-linux-x86-64.so.2 (0x…)"); the vDSO has none.
func lddPath(line string) string {
	if _, after, ok := strings.Cut(line, "=>"); ok {
		line = after
	}
	f := strings.Fields(line)
	if len(f) == 0 || !strings.HasPrefix(f[0], "/") {
		return ""
	}
	return f[0]
}

// symlinkChain follows p one symlink at a time, whether the link is the file itself or one
// of its directories, and returns every link met and the final file.
func symlinkChain(p string) ([]string, error) {
	var chain []string
	for range 40 {
		link, rest, err := firstSymlink(p)
		if err != nil {
			return nil, err
		}
		if link == "" {
			return append(chain, p), nil
		}
		chain = append(chain, link)
		target, err := os.Readlink(link)
		if err != nil {
			return nil, err
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(link), target)
		}
		p = filepath.Join(target, rest)
	}
	return nil, fmt.Errorf("too many symlinks resolving %s", p)
}

// firstSymlink returns the shortest prefix of p that is a symlink and what follows it.
func firstSymlink(p string) (link, rest string, err error) {
	parts := strings.Split(strings.TrimPrefix(filepath.Clean(p), "/"), "/")
	for i := range parts {
		q := "/" + filepath.Join(parts[:i+1]...)
		fi, err := os.Lstat(q)
		if err != nil {
			return "", "", err
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			return q, filepath.Join(parts[i+1:]...), nil
		}
	}
	return "", "", nil
}

// neededTarGzip writes a tar of exactly what prog needs (itself as app/prog, its closure
// with the symlinks kept) and returns the size of its gzip -9 and its entry count.
func neededTarGzip(ctx context.Context, dir, prog string) (int64, int, error) {
	need, err := lddClosure(ctx, prog)
	if err != nil {
		return 0, 0, err
	}
	paths := make([]string, 0, len(need))
	for p := range need {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	pe, err := fileEntry(prog, "app/prog", 0o755)
	if err != nil {
		return 0, 0, err
	}
	entries := []genEntry{pe}
	for _, p := range paths {
		fi, err := os.Lstat(p)
		if err != nil {
			return 0, 0, err
		}
		e, ok, err := hostEntry(p, dirEntryInfo{fi})
		if err != nil {
			return 0, 0, err
		}
		if ok {
			entries = append(entries, e)
		}
	}
	tarPath := filepath.Join(dir, "needed.tar")
	if err := writeTarFile(tarPath, entries); err != nil {
		return 0, 0, err
	}
	n, err := gzip9Size(ctx, tarPath, tarPath+".gz")
	return n, len(entries), err
}

// dirEntryInfo lets an Lstat result stand in for a WalkDir entry.
type dirEntryInfo struct{ fi os.FileInfo }

func (d dirEntryInfo) Name() string               { return d.fi.Name() }
func (d dirEntryInfo) IsDir() bool                { return d.fi.IsDir() }
func (d dirEntryInfo) Type() os.FileMode          { return d.fi.Mode().Type() }
func (d dirEntryInfo) Info() (os.FileInfo, error) { return d.fi, nil }

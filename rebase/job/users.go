package job

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slim-dev/slim/extract"
	"github.com/slim-dev/slim/internal/imagefs"
)

// userFiles takes, from src (the source of the result's config, named name), the
// /etc/passwd and /etc/group that the config's USER needs: when it names a user or a
// group (not numbers), the files taken so far (set) hold no /etc/passwd, and the base
// does not list them. A Dockerfile's `RUN useradd app` then `USER app` in the target,
// or an image's own named user, otherwise gave an image that runc refuses to start
// ("unable to find user app"). It returns nil when nothing is needed; a source
// without the entries is left to the fidelity check, which names the fixes.
func userFiles(ctx context.Context, src source, name string, cfg v1.Config, baseImg v1.Image, set *extract.FileSet) (*extract.FileSet, error) {
	user, group, _ := strings.Cut(cfg.User, ":")
	user, group = nameOnly(user), nameOnly(group)
	if user == "" && group == "" {
		return nil, nil
	}
	for _, f := range set.Files() {
		if f.Path == "/etc/passwd" || f.Path == "/etc/group" {
			return nil, nil // taken by a --from: the check reads them
		}
	}
	if ok, err := baseHas(ctx, baseImg, user, group); err != nil || ok {
		return nil, err
	}
	if src.FS == nil {
		return nil, nil
	}
	if !has(src.FS, user, group) {
		return nil, nil
	}
	why := fmt.Sprintf("user %q of the config of %s", cfg.User, name)
	return extract.Select(src.FS, nil, extract.WithDeps(extract.DepsNone), extract.WithSourceName(name),
		extract.WithFile("/etc/passwd", why), extract.WithFile("/etc/group", why))
}

// nameOnly is s when it is a name, "" when it is empty or a number (which needs no
// entry: runc runs a numeric user without one).
func nameOnly(s string) string {
	if strings.Trim(s, "0123456789") == "" {
		return ""
	}
	return s
}

// has reports whether fsys lists user in /etc/passwd and group in /etc/group ("" for
// either: not asked).
func has(fsys fs.FS, user, group string) bool {
	if user != "" {
		if _, _, err := extract.LookupUser(fsys, user); err != nil {
			return false
		}
	}
	if group != "" {
		if _, err := extract.LookupGroup(fsys, group); err != nil {
			return false
		}
	}
	return true
}

// baseHas reports whether the base image lists user and group.
func baseHas(ctx context.Context, base v1.Image, user, group string) (bool, error) {
	if base == nil {
		return false, nil
	}
	if ls, err := base.Layers(); err != nil {
		return false, fmt.Errorf("reading base layers: %w", err)
	} else if len(ls) == 0 {
		return false, nil
	}
	bfs, err := imagefs.New(ctx, base)
	if err != nil {
		return false, fmt.Errorf("reading the base: %w", err)
	}
	defer bfs.Close()
	if _, err := fs.Stat(bfs, "etc/passwd"); errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return has(bfs, user, group), nil
}

package testimage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// DockerHosts is the /etc/hosts Docker writes for every container.
const DockerHosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"

// Container is how RunC starts a process: what `docker run` takes from the image's
// config.
type Container struct {
	Args []string
	Env  []string // Docker's default PATH when empty
	Cwd  string   // "/" when empty
	// User is the config's USER, user[:group] by name or number, resolved in the
	// image's /etc/passwd and /etc/group as Docker resolves it (runc takes numbers
	// only); root when empty.
	User string
}

// Ran is what a container printed and how it ended.
type Ran struct {
	Stdout, Stderr string
	Code           int
}

func (r Ran) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
}

// RunC runs c in rootfs with runc, as Docker runs a container: fresh namespaces (no
// network but loopback), /proc, /dev and /sys from the runtime, and /etc/hosts,
// /etc/hostname and /etc/resolv.conf bind-mounted from files of the test (so the
// image's own are hidden, as they are under Docker). runc creates the mount points it
// needs in rootfs, so rootfs must be a copy the test owns. A failure to start runc
// fails the test; the process's own exit status is returned.
func RunC(t testing.TB, rootfs string, c Container) Ran {
	t.Helper()
	NeedRoot(t, "running images with runc")
	NeedTool(t, "runc")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	r, err := Runc(ctx, rootfs, c)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Runc is RunC for callers outside tests (cmd/slimdev bench): it needs root and runc,
// and returns an error when runc could not run the container at all.
func Runc(ctx context.Context, rootfs string, c Container) (Ran, error) {
	runc, err := exec.LookPath("runc")
	if err != nil {
		return Ran{}, err
	}
	bundle, err := os.MkdirTemp("", "slim-runc-")
	if err != nil {
		return Ran{}, err
	}
	defer os.RemoveAll(bundle)
	if b, err := exec.CommandContext(ctx, runc, "spec", "--bundle", bundle).CombinedOutput(); err != nil {
		return Ran{}, fmt.Errorf("runc spec: %w\n%s", err, b)
	}
	files := map[string]string{"hosts": DockerHosts, "hostname": "slimtest\n", "resolv.conf": "nameserver 127.0.0.11\noptions ndots:0\n"}
	var spec map[string]any
	b, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err == nil {
		err = json.Unmarshal(b, &spec)
	}
	if err != nil {
		return Ran{}, fmt.Errorf("reading runc's spec: %w", err)
	}
	abs, err := filepath.Abs(rootfs)
	if err != nil {
		return Ran{}, err
	}
	spec["root"] = map[string]any{"path": abs, "readonly": false}
	spec["hostname"] = "slimtest"
	env := c.Env
	if len(env) == 0 {
		env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	}
	cwd := c.Cwd
	if cwd == "" {
		cwd = "/"
	}
	uid, gid, err := dockerUser(abs, c.User)
	if err != nil {
		return Ran{Stderr: err.Error(), Code: 126}, nil // docker run's status when it cannot start
	}
	proc := spec["process"].(map[string]any)
	proc["terminal"], proc["args"], proc["env"], proc["cwd"] = false, c.Args, env, cwd
	proc["user"] = map[string]any{"uid": uid, "gid": gid}
	// Docker's default capabilities (runc's own spec has three): root in a container
	// may chown, as nginx does to its temporary directories. A user other than root
	// has them in the bounding set only, as Docker gives them.
	caps := []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
		"CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"}
	held := caps
	if uid != 0 {
		held = []string{}
	}
	proc["capabilities"] = map[string]any{"bounding": caps, "effective": held, "permitted": held}
	mounts := spec["mounts"].([]any)
	for name, body := range files {
		src := filepath.Join(bundle, name)
		if err := os.WriteFile(src, []byte(body), 0o644); err != nil {
			return Ran{}, err
		}
		mounts = append(mounts, map[string]any{"destination": "/etc/" + name, "type": "bind", "source": src, "options": []string{"rbind", "ro"}})
	}
	spec["mounts"] = mounts
	if b, err = json.Marshal(spec); err != nil {
		return Ran{}, err
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o644); err != nil {
		return Ran{}, err
	}

	id := fmt.Sprintf("slimtest-%d-%d", os.Getpid(), time.Now().UnixNano())
	cmd := exec.CommandContext(ctx, runc, "run", "--bundle", bundle, id)
	cmd.Cancel = func() error { return exec.Command(runc, "kill", id, "KILL").Run() }
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	exec.Command(runc, "delete", "--force", id).Run()
	r := Ran{Stdout: stdout.String(), Stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit) && ctx.Err() == nil:
		r.Code = exit.ExitCode()
	case err != nil:
		return r, fmt.Errorf("runc run %q in %s: %w\n%s", strings.Join(c.Args, " "), rootfs, err, r)
	}
	return r, nil
}

// dockerUser resolves user[:group] in rootfs's /etc/passwd and /etc/group as Docker
// does before it hands numbers to runc: a number need not be listed (its group is
// then 0), a name must be, with Docker's message when it is not.
func dockerUser(rootfs, spec string) (uid, gid int, err error) {
	if spec == "" {
		return 0, 0, nil
	}
	user, group, hasGroup := strings.Cut(spec, ":")
	find := func(file, name string) []string {
		b, _ := os.ReadFile(filepath.Join(rootfs, "etc", file))
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Split(line, ":"); len(f) >= 3 && (f[0] == name || f[2] == name) {
				return f
			}
		}
		return nil
	}
	if n, err := strconv.Atoi(user); err == nil {
		uid = n
		if f := find("passwd", user); len(f) >= 4 {
			gid, _ = strconv.Atoi(f[3])
		}
	} else if f := find("passwd", user); len(f) >= 4 {
		uid, _ = strconv.Atoi(f[2])
		gid, _ = strconv.Atoi(f[3])
	} else {
		return 0, 0, fmt.Errorf("unable to find user %s: no matching entries in passwd file", user)
	}
	if hasGroup {
		if n, err := strconv.Atoi(group); err == nil {
			gid = n
		} else if f := find("group", group); f != nil {
			gid, _ = strconv.Atoi(f[2])
		} else {
			return 0, 0, fmt.Errorf("unable to find group %s: no matching entries in group file", group)
		}
	}
	return uid, gid, nil
}

package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"go.yaml.in/yaml/v3"

	"github.com/slim-dev/slim/internal/baseimage"
	"github.com/slim-dev/slim/internal/testimage"
)

// readmeCI returns the yaml blocks of README.md's "In CI" section, in order.
func readmeCI(t *testing.T) []string {
	t.Helper()
	root, err := testimage.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(b), "\n## In CI\n")
	if !ok {
		t.Fatal("README.md has no In CI section")
	}
	sec, _, _ = strings.Cut(sec, "\n## ")
	var blocks []string
	for _, m := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(sec, -1) {
		blocks = append(blocks, m[1])
	}
	if len(blocks) != 2 {
		t.Fatalf("In CI has %d yaml blocks, want GitHub's and GitLab's", len(blocks))
	}
	return blocks
}

// TestReadmeCISnippets runs the shell commands of README.md's CI snippets as written:
// GitHub's run steps and GitLab's script, with the platform's variables set to a
// registry that wants a login (holding the Dockerfile's base), `slim` on PATH (the test
// binary run as slim) for the line that installs it, and this package's buildkitd as
// the builder. Each must log in, build, push, and leave slim-report.json.
func TestReadmeCISnippets(t *testing.T) {
	needBuildkit(t)
	testimage.NeedTool(t, "sh")
	const user, pass = "ci-user", "ci-t0ken"
	base, err := baseimage.Busybox(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	host := testimage.PrivateRegistry(t, user, pass, map[string]any{"library/busybox:latest": base})
	server := testimage.GoBuild(t, "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"served from the CI image\") }\n", runtime.GOARCH)
	bin := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(self, filepath.Join(bin, "slim")); err != nil {
		t.Fatal(err)
	}
	blocks := readmeCI(t)

	var gh []map[string]any
	if err := yaml.Unmarshal([]byte(blocks[0]), &gh); err != nil {
		t.Fatalf("GitHub snippet: %v", err)
	}
	var ghRuns []string
	for _, step := range gh {
		if r, ok := step["run"].(string); ok {
			ghRuns = append(ghRuns, r)
		}
	}
	var gl map[string]struct {
		Variables map[string]string `yaml:"variables"`
		Script    []string          `yaml:"script"`
		Artifacts struct {
			Paths []string `yaml:"paths"`
		} `yaml:"artifacts"`
	}
	if err := yaml.Unmarshal([]byte(blocks[1]), &gl); err != nil {
		t.Fatalf("GitLab snippet: %v", err)
	}
	job := gl["slim"]
	if len(job.Script) == 0 || len(job.Artifacts.Paths) == 0 || job.Variables["BUILDKIT_HOST"] == "" {
		t.Fatalf("GitLab snippet: job slim with script, variables and artifacts expected: %+v", job)
	}

	for _, tc := range []struct {
		name     string
		script   string
		env      []string
		image    string // what the snippet pushes
		artifact string
	}{
		{
			name: "GitHub Actions",
			script: strings.NewReplacer("${{ secrets.GITHUB_TOKEN }}", pass, "${{ github.actor }}", user,
				"ghcr.io/${{ github.repository }}", host+"/owner/app", "ghcr.io", host, "${{ github.sha }}", "c0ffee").Replace(strings.Join(ghRuns, "\n")),
			image: host + "/owner/app:c0ffee", artifact: "slim-report.json",
		},
		{
			name:   "GitLab CI",
			script: strings.Join(job.Script, "\n"),
			env: []string{"CI_REGISTRY=" + host, "CI_REGISTRY_USER=" + user, "CI_REGISTRY_PASSWORD=" + pass,
				"CI_REGISTRY_IMAGE=" + host + "/group/project", "CI_COMMIT_SHA=c0ffee"},
			image: host + "/group/project:c0ffee", artifact: job.Artifacts.Paths[0],
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if strings.Contains(tc.script, "docker login") {
				needDocker(t)
			}
			if strings.Contains(tc.script, "${{") {
				t.Fatalf("a GitHub expression is left unsubstituted:\n%s", tc.script)
			}
			dir := project(t, map[string]string{
				"Dockerfile": "FROM " + host + "/library/busybox AS builder\nCOPY server /app/server\n\n" +
					"FROM " + host + "/library/busybox\nCOPY --from=builder /app/server /app/server\nENTRYPOINT [\"/app/server\"]\n",
			})
			if b, err := os.ReadFile(server); err != nil || os.WriteFile(filepath.Join(dir, "server"), b, 0o755) != nil {
				t.Fatalf("copying the server: %v", err)
			}
			// The line that installs slim is the one line not run: the slim under test is on PATH.
			script := regexp.MustCompile(`(?m)^\s*go install github.com/slim-dev/slim/cmd/slim@latest\s*$`).ReplaceAllString(tc.script, "true")
			script = regexp.MustCompile(`(?m)^\s*export PATH="\$\(go env GOPATH\)/bin:\$PATH"\s*$`).ReplaceAllString(script, "true")
			home := t.TempDir()
			cmd := exec.CommandContext(context.Background(), "sh", "-e", "-c", script)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), asSlimEnv+"=1", "HOME="+home,
				"DOCKER_CONFIG=", "BUILDKIT_HOST="+bk.addr)
			cmd.Env = append(cmd.Env, tc.env...)
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("the snippet failed: %v\n%s\n--- script:\n%s", err, b, script)
			}
			readReport(t, filepath.Join(dir, tc.artifact))
			ref, err := name.ParseReference(tc.image, name.Insecure)
			if err != nil {
				t.Fatal(err)
			}
			img, err := remote.Image(ref, remote.WithAuth(&authn.Basic{Username: user, Password: pass}))
			if err != nil {
				t.Fatalf("pulling what the snippet pushed: %v", err)
			}
			testimage.Validate(t, img)
			root := t.TempDir()
			testimage.Unpack(t, img, root)
			if got := testimage.Chroot(t, root, "", nil, "/app/server"); got != "served from the CI image\n" {
				t.Errorf("the pushed image printed %q", got)
			}
		})
	}
}

package main

import (
	"fmt"
	"io"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// buildVersions is what `slim version` and --version report, read from the build info
// the Go toolchain embeds: nothing to stamp at link time, and nothing to forget.
type buildVersions struct {
	Slim, Revision, Time, Go, BuildKit, Compress string
	Modified                                     bool
}

func readVersions(info *debug.BuildInfo, ok bool) buildVersions {
	v := buildVersions{Slim: "unknown", Revision: "unknown", Time: "unknown", Go: "unknown", BuildKit: "unknown", Compress: "unknown"}
	if !ok || info == nil {
		return v
	}
	if info.Main.Version != "" {
		v.Slim = info.Main.Version
	}
	v.Go = info.GoVersion
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.time":
			v.Time = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	for _, d := range info.Deps {
		if d.Replace != nil {
			d = d.Replace
		}
		switch d.Path {
		case "github.com/moby/buildkit":
			v.BuildKit = d.Version
		case "github.com/klauspost/compress":
			v.Compress = d.Version
		}
	}
	return v
}

func currentVersions() buildVersions { return readVersions(debug.ReadBuildInfo()) }

// versionLine is --version's one line, as `docker buildx version` prints it.
func versionLine() string {
	v := currentVersions()
	return fmt.Sprintf("slim %s %s", v.Slim, v.shortRevision())
}

func (v buildVersions) shortRevision() string {
	r := v.Revision
	if len(r) > 12 {
		r = r[:12]
	}
	if v.Modified {
		r += "-dirty"
	}
	return r
}

func (v buildVersions) write(w io.Writer) {
	var b strings.Builder
	fmt.Fprintf(&b, "slim:               %s\n", v.Slim)
	rev := v.Revision
	if v.Modified {
		rev += " (modified)"
	}
	fmt.Fprintf(&b, "revision:           %s\n", rev)
	fmt.Fprintf(&b, "built from:         %s\n", v.Time)
	fmt.Fprintf(&b, "go:                 %s\n", v.Go)
	fmt.Fprintf(&b, "buildkit:           %s\n", v.BuildKit)
	fmt.Fprintf(&b, "klauspost/compress: %s\n", v.Compress)
	io.WriteString(w, b.String())
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Show the versions of slim, Go, BuildKit and klauspost/compress",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			currentVersions().write(cmd.OutOrStdout())
			return nil
		},
	}
}

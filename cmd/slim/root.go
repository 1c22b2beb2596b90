package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"

	"github.com/slim-dev/slim/build"
	"github.com/slim-dev/slim/internal/imagefs"
	"github.com/slim-dev/slim/internal/imageref"
)

// globalFlags are the flags every command shares: how to reach and pick images.
type globalFlags struct {
	platform string
	insecure bool
	lenient  bool
	progress string
	quiet    bool
	debug    bool
}

// progressModes are --progress's values, as buildx spells them.
var progressModes = []string{"auto", "tty", "plain", "quiet", "rawjson"}

// Validate checks the shared flags: --progress (default $BUILDKIT_PROGRESS, as buildx)
// and -q, which implies a quiet display.
func (g *globalFlags) Validate() error {
	from := "--progress"
	if g.progress == "" {
		g.progress, from = os.Getenv("BUILDKIT_PROGRESS"), "BUILDKIT_PROGRESS"
	}
	if g.progress == "" {
		g.progress = "auto"
	}
	if !slices.Contains(progressModes, g.progress) {
		return fmt.Errorf("%s %q: want %s", from, g.progress, strings.Join(progressModes, ", "))
	}
	if g.quiet {
		g.progress = "quiet"
	}
	if g.debug {
		// BuildKit's and containerd's client log, silenced in main, is what --debug adds.
		logrus.SetLevel(logrus.DebugLevel)
	}
	_, err := g.platforms()
	return err
}

func newRootCmd() *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:   "slim [flags] [CONTEXT]",
		Short: "Make container images as small as they can be while they still run",
		Long: `slim takes the named files out of images (and, with a Dockerfile, out of its build
stages), follows their ELF shared-library dependencies, lays them onto a minimal base and
writes freshly packed, reproducible layers: the smallest image that still runs.

With a build CONTEXT (or -f), slim runs the Dockerfile through BuildKit and SRC may also
be a stage, by name or index; with no --from it takes what the target stage copies from
other stages, plus its entrypoint.

  slim --from myapp:fat:/app/server --base scratch -t myapp:slim --push
  slim --from builder:/app/server --base static -t myapp:slim --push .`,
		Args:          contextArg,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       versionLine(),
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return g.Validate()
		},
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetFlagErrorFunc(suggestFlag)
	sf := newSlimFlags(root)
	root.RunE = func(cmd *cobra.Command, args []string) error { return runSlim(cmd, g, sf, args) }
	pf := root.PersistentFlags()
	pf.StringVar(&g.platform, "platform", "", "platform(s) to pick from multi-platform images, comma-separated os/arch[/variant] (default: this machine's, or every platform of an index source)")
	pf.BoolVar(&g.insecure, "insecure", false, "allow plain HTTP and unverified TLS for registries")
	pf.BoolVar(&g.lenient, "lenient", false, "drop tar entries that climb out of the root (../), with a warning each, instead of refusing the image")
	pf.StringVar(&g.progress, "progress", "", "progress display: auto, tty, plain, quiet or rawjson (default $BUILDKIT_PROGRESS, else auto)")
	pf.BoolVarP(&g.quiet, "quiet", "q", false, "print only the result's digest (or ID); no progress display")
	pf.BoolVar(&g.debug, "debug", false, "more detail in errors and the log")
	_ = root.RegisterFlagCompletionFunc("progress", cobra.FixedCompletions(progressModes, cobra.ShellCompDirectiveNoFileComp))
	root.AddCommand(newInspectCmd(g), newExtractCmd(g), newRebaseCmd(g), newBuildCmd(g), newRecompressCmd(g), newCacheCmd(), newVersionCmd())
	registerCompletions(root)
	return root
}

// oneLine keeps error output to a single line, as the user sees one failure per run.
func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", " ")), " ")
}

// platforms parses --platform's comma-separated list.
func (g *globalFlags) platforms() ([]v1.Platform, error) {
	var out []v1.Platform
	for _, s := range strings.Split(g.platform, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		p, err := imageref.ParsePlatform(s)
		if err != nil {
			return nil, fmt.Errorf("parsing --platform %q: %w", s, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// lenientWarn is where --lenient's warnings go (stderr), nil without --lenient.
func (g *globalFlags) lenientWarn(w io.Writer) func(string) {
	if !g.lenient {
		return nil
	}
	var mu sync.Mutex
	return func(msg string) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(w, "slim: warning: %s\n", msg)
	}
}

// fsOptions are the options images are read with: --lenient.
func (g *globalFlags) fsOptions(w io.Writer) []imagefs.Option {
	if warn := g.lenientWarn(w); warn != nil {
		return []imagefs.Option{imagefs.WithLenient(warn)}
	}
	return nil
}

// refOptions turns the shared flags into image-reference options, refusing a malformed
// --platform before any network or disk work.
func (g *globalFlags) refOptions() ([]imageref.Option, error) {
	opts := []imageref.Option{imageref.WithInsecure(g.insecure)}
	ps, err := g.platforms()
	if err != nil {
		return nil, err
	}
	if len(ps) == 1 {
		opts = append(opts, imageref.WithPlatform(ps[0]))
	}
	return opts, nil
}

// openImage opens the one image a command's IMAGE argument names (an index narrowed to
// --platform), and returns the reference options for anything else the command opens.
// Where a reference without a scheme was found is said on notes (stderr).
func (g *globalFlags) openImage(ctx context.Context, s string, notes io.Writer) (v1.Image, []imageref.Option, error) {
	ropts, err := g.refOptions()
	if err != nil {
		return nil, nil, err
	}
	ref, err := imageref.Parse(s, ropts...)
	if err != nil {
		return nil, nil, err
	}
	if ref, err = imageref.Resolve(ctx, ref, ropts...); err != nil {
		return nil, nil, err
	}
	if ref.Bare {
		fmt.Fprintf(notes, "slim: %s\n", ref.Reading())
	}
	img, err := imageref.Image(ctx, ref, ropts...)
	if err != nil {
		return nil, nil, err
	}
	return img, ropts, nil
}

// display starts the progress display of a command's own work (BuildKit's, as in a
// build) on stderr; close it before printing what follows the work.
func (g *globalFlags) display(cmd *cobra.Command, phase string) (*build.Display, error) {
	return build.NewDisplay(cmd.Context(), cmd.ErrOrStderr(), g.progress, phase)
}

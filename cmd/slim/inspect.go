package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slim-dev/slim/extract"
	"github.com/slim-dev/slim/extract/pkgdb"
	"github.com/slim-dev/slim/internal/imagefs"
)

type inspectFlags struct {
	json    bool
	largest int
	sbom    bool
}

func (f *inspectFlags) Validate() error {
	if f.largest < 0 {
		return fmt.Errorf("--largest must be 0 or more, got %d", f.largest)
	}
	return nil
}

func newInspectCmd(g *globalFlags) *cobra.Command {
	f := &inspectFlags{}
	cmd := &cobra.Command{
		Use:   "inspect IMAGE",
		Short: "Show an image's layers, sizes, wasted bytes and largest files",
		Long: `Show where an image's bytes go: per layer its digest, media type, compressed and
uncompressed size, entry count, the history line that created it, the bytes wasted on files
that later layers overwrite or delete, and its largest files; then totals and an efficiency
score (1 - wasted/uncompressed, as dive reports it).

IMAGE is name[:tag|@digest] (registry), oci-layout://DIR[:tag|@digest],
docker-archive://FILE[:tag] or docker-daemon://NAME.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.Validate(); err != nil {
				return err
			}
			img, _, err := g.openImage(cmd.Context(), args[0], cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if f.sbom {
				return inspectPackages(cmd, img, args[0], f.json, g.fsOptions(cmd.ErrOrStderr()))
			}
			rep, err := extract.Inspect(cmd.Context(), img, extract.WithLargest(f.largest), extract.WithReference(args[0]), extract.WithImageOptions(g.fsOptions(cmd.ErrOrStderr())...))
			if err != nil {
				return fmt.Errorf("inspecting %s: %w", args[0], err)
			}
			if f.json {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			return printInspect(cmd.OutOrStdout(), rep)
		},
	}
	cmd.Flags().BoolVar(&f.json, "json", false, "print the report as JSON (schema in README.md)")
	cmd.Flags().IntVar(&f.largest, "largest", 5, "how many of each layer's largest files to list")
	cmd.Flags().BoolVar(&f.sbom, "sbom", false, "list the image's packages from its metadata instead (dpkg status and status.d, apk database, Go build info, node_modules, dist-info, jars)")
	return cmd
}

// inspectPackages prints the packages an image's metadata names (--sbom).
func inspectPackages(cmd *cobra.Command, img v1.Image, ref string, asJSON bool, opts []imagefs.Option) error {
	fsys, err := extract.OpenImage(cmd.Context(), img, opts...)
	if err != nil {
		return fmt.Errorf("reading %s: %w", ref, err)
	}
	defer fsys.Close()
	pkgs, err := pkgdb.Installed(fsys)
	if err != nil {
		return fmt.Errorf("listing the packages of %s: %w", ref, err)
	}
	out := cmd.OutOrStdout()
	if asJSON {
		type entry struct {
			*pkgdb.Package
			PURL string `json:"purl"`
		}
		list := make([]entry, len(pkgs))
		for i, p := range pkgs {
			list[i] = entry{p, p.PURL()}
		}
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"reference": ref, "packages": list})
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TYPE\tNAME\tVERSION\tPURL")
	for _, p := range pkgs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Kind, p.FullName(), p.Version, p.PURL())
	}
	return tw.Flush()
}

func printInspect(out io.Writer, r *extract.Report) error {
	fmt.Fprintf(out, "Image     %s\nDigest    %s\nMediaType %s\n", r.Reference, r.Digest, r.MediaType)
	if r.Platform != "" {
		fmt.Fprintf(out, "Platform  %s\n", r.Platform)
	}
	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "#\tDIGEST\tSIZE\tUNCOMPRESSED\tENTRIES\tWASTED\t  CREATED BY")
	for _, l := range r.Layers {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\t  %s\n", l.Index, shortDigest(l.Digest), humanSize(l.Size),
			humanSize(l.UncompressedSize), l.Entries, humanSize(l.Wasted), truncate(l.CreatedBy, 60))
	}
	fmt.Fprintf(tw, "total\t\t%s\t%s\t%d\t%s\t\n", humanSize(r.Totals.Size), humanSize(r.Totals.UncompressedSize),
		r.Totals.Entries, humanSize(r.Totals.Wasted))
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nEfficiency %.1f%% (%s wasted on files that later layers overwrite or delete)\n",
		100*r.Totals.Efficiency, humanSize(r.Totals.Wasted))
	any := false
	for _, l := range r.Layers {
		if len(l.Largest) == 0 {
			continue
		}
		if !any {
			fmt.Fprintln(out, "\nLargest files")
			any = true
		}
		fmt.Fprintf(out, "  layer %d (%s):\n", l.Index, shortDigest(l.Digest))
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
		for _, fs := range l.Largest {
			fmt.Fprintf(tw, "\t%s\t  /%s\n", humanSize(fs.Size), fs.Path)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

func shortDigest(d string) string {
	if i := strings.IndexByte(d, ':'); i >= 0 && len(d) > i+13 {
		return d[:i+13]
	}
	return d
}

func truncate(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

// humanSize prints decimal units, as docker and crane do. The unit is chosen after
// rounding to one decimal, so 999,999 bytes is 1.0 MB, not 1000.0 kB.
func humanSize(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, exp := float64(n)/unit, 0
	for math.Round(v*10)/10 >= unit && exp < 5 {
		v /= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", v, "kMGTPE"[exp])
}

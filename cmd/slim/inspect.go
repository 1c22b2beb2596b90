package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/slim-dev/slim/extract"
	"github.com/slim-dev/slim/internal/imagefs"
)

type inspectFlags struct {
	json    bool
	largest int
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
			disp, err := g.display(cmd, "Inspecting")
			if err != nil {
				return err
			}
			rep, err := extract.Inspect(cmd.Context(), img, extract.WithLargest(f.largest), extract.WithReference(args[0]),
				extract.WithImageOptions(append(g.fsOptions(cmd.ErrOrStderr()), imagefs.WithProgress(disp))...))
			disp.Close()
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
	return cmd
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

// humanSize prints decimal units, as docker and crane do.
func humanSize(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "kMGTPE"[exp])
}

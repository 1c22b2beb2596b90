package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/slim-dev/slim/internal/imagefs"
	"github.com/slim-dev/slim/internal/tempfile"
	"github.com/slim-dev/slim/tarball"
	"github.com/slim-dev/slim/tarball/output"
	"github.com/slim-dev/slim/tarball/recompress"
)

type recompressFlags struct {
	squash        bool
	keepBase      string
	strip         []string
	compression   string
	level         string
	preserveMTime bool
	report        string
	out           outputFlags

	packing  []tarball.Option
	patterns []string
}

func (f *recompressFlags) Validate() error {
	c, l, epoch, err := packing(f.compression, f.level)
	if err != nil {
		return err
	}
	f.packing = []tarball.Option{tarball.WithCompression(c), tarball.WithLevel(l), tarball.WithSourceDateEpoch(epoch)}
	if f.preserveMTime {
		f.packing = append(f.packing, tarball.WithPreserveMTime())
	}
	f.patterns = nil
	for _, s := range f.strip {
		p, err := recompress.ParseStrip(s)
		if err != nil {
			return err
		}
		f.patterns = append(f.patterns, p...)
	}
	if f.squash && f.keepBase != "" {
		// Squashing keeps nothing apart; keeping the base keeps it apart.
		return fmt.Errorf("--squash and --keep-base do not go together: squash everything, or keep the base and repack the rest")
	}
	return f.out.Validate(c)
}

func newRecompressCmd(g *globalFlags) *cobra.Command {
	f := &recompressFlags{}
	cmd := &cobra.Command{
		Use:   "recompress IMAGE -o OUTPUT",
		Short: "Drop wasted files layer by layer, repack and recompress, reproducibly",
		Long: `Write an image whose merged file system is IMAGE's, without the waste: files that a later
layer deletes or overwrites are dropped from their layer, whiteouts that hide nothing any more
are dropped, emptied layers are removed (history stays consistent), and every rewritten
layer is packed again, deterministically, with the chosen compression.

--keep-base REF|auto leaves the base image's layers byte-identical (auto: the base named by
the image's org.opencontainers.image.base.* annotations). --strip docs|caches|GLOB removes
more on purpose (docs: man, info and doc directories but copyright files; caches: apt lists
and archives, pip and npm caches, __pycache__).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.Validate(); err != nil {
				return err
			}
			ctx := cmd.Context()
			img, ropts, err := g.openImage(ctx, args[0], cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			disp, err := g.display(cmd, "Recompressing")
			if err != nil {
				return err
			}
			defer disp.Close()
			opts := []recompress.Option{
				recompress.WithPacking(append(f.packing, tarball.WithProgress(disp))...),
				recompress.WithImageOptions(append(g.fsOptions(cmd.ErrOrStderr()), imagefs.WithProgress(disp))...),
			}
			if f.squash {
				opts = append(opts, recompress.WithSquash())
			}
			if len(f.patterns) > 0 {
				opts = append(opts, recompress.WithStrip(f.patterns...))
			}
			if f.keepBase != "" {
				opts = append(opts, recompress.WithKeepBase(f.keepBase, ropts...))
			}
			if fam, ok := output.Family(f.out.parsed); ok {
				opts = append(opts, recompress.WithFamily(fam))
			}
			out, rep, err := recompress.Recompress(ctx, img, opts...)
			if err != nil {
				return fmt.Errorf("recompressing %s: %w", args[0], err)
			}
			defer rep.Close()
			if err := f.out.write(cmd, out, g.insecure, output.WithSteps(disp)); err != nil {
				return err
			}
			disp.Close()
			f.out.noteNone(cmd)
			if g.quiet {
				if err := printDigest(cmd.OutOrStdout(), out, nil); err != nil {
					return err
				}
			} else {
				printRecompress(cmd.OutOrStdout(), rep)
			}
			if f.report != "" {
				b, err := json.MarshalIndent(rep, "", "  ")
				if err != nil {
					return err
				}
				if err := tempfile.WriteAtomic(f.report, append(b, '\n')); err != nil {
					return fmt.Errorf("writing --report: %w", err)
				}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&f.squash, "squash", false, "write one layer holding the merged file system")
	fl.StringVar(&f.keepBase, "keep-base", "", "leave the base's layers byte-identical: a base image reference, or auto (from the image's base annotations)")
	fl.StringArrayVar(&f.strip, "strip", nil, "also remove: docs, caches, or a glob (** for any depth; repeatable, comma-separated)")
	fl.StringVar(&f.compression, "compression", "gzip", "layer compression: gzip, zstd or uncompressed")
	fl.StringVar(&f.level, "compression-level", "best", "compression level: best, default or a number (gzip 1-9, zstd 1-22)")
	fl.BoolVar(&f.preserveMTime, "preserve-mtime", false, "keep file modification times (default: clamp to SOURCE_DATE_EPOCH or the Unix epoch)")
	fl.StringVar(&f.report, "report", "", "also write the report as JSON to this file")
	f.out.register(fl)
	return cmd
}

func printRecompress(out io.Writer, r *recompress.Report) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "#\tDIGEST\tSIZE\tNEW SIZE\tUNCOMPRESSED\tNEW\tWASTE REMOVED\tENTRIES DROPPED\t  ")
	for _, l := range r.Layers {
		state := ""
		switch {
		case l.Kept:
			state = "kept"
		case l.Removed:
			state = "removed"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t  %s\n", l.Index, shortDigest(l.Digest.String()), humanSize(l.Size), humanSize(l.NewSize),
			humanSize(l.UncompressedSize), humanSize(l.NewUncompressedSize), humanSize(l.WasteRemoved), l.EntriesDropped, state)
	}
	fmt.Fprintf(tw, "total\t\t%s\t%s\t%s\t%s\t%s\t%d\t\n", humanSize(r.Size), humanSize(r.NewSize), humanSize(r.UncompressedSize),
		humanSize(r.NewUncompressedSize), humanSize(r.WasteRemoved), r.EntriesDropped)
	tw.Flush()
	if r.Size > 0 {
		fmt.Fprintf(out, "\n%.1f%% smaller compressed, %d layers removed", 100*(1-float64(r.NewSize)/float64(r.Size)), r.LayersRemoved)
		if r.Stripped > 0 {
			fmt.Fprintf(out, ", %d entries (%s) stripped", r.Stripped, humanSize(r.StrippedBytes))
		}
		fmt.Fprintln(out)
	}
}

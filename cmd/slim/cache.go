package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/slim-dev/slim/internal/size"
	"github.com/slim-dev/slim/tarball"
)

// cacheDirs are the directories builds keep their caches in, as rebase/job names
// them: compressed layers, and fidelity-check outcomes.
func cacheDirs() (layers, checks string, err error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", "", fmt.Errorf("finding the cache directory: %w", err)
	}
	return filepath.Join(dir, "slim", "layers"), filepath.Join(dir, "slim", "checks"), nil
}

func newCacheCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cache",
		Short: "Show or prune the layer cache (verified on every hit, size-limited)",
		Long: `Builds keep the layers they compress in ~/.cache/slim/layers and reuse them when the
same files come again. Every hit is verified (digest and diff ID) before use; the cache
is kept under SLIM_CACHE_MAX (default 10GiB) by removing the least recently used layers.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newCacheDuCmd(), newCachePruneCmd())
	return cmd
}

func newCacheDuCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "du",
		Short: "List the cached layers, least recently used first, and their total size",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			layers, _, err := cacheDirs()
			if err != nil {
				return err
			}
			st, err := tarball.CacheUsage(layers)
			if err != nil {
				return err
			}
			limit, err := tarball.CacheLimit()
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			printCacheItems(w, st)
			fmt.Fprintf(w, "%s: %d layers, %s (limit %s)\n", st.Dir, len(st.Items), humanSize(st.Total), humanSize(limit))
			return nil
		},
	}
}

type cachePruneFlags struct {
	all bool
	max string
}

func (f *cachePruneFlags) Validate() error {
	if f.all && f.max != "" {
		return fmt.Errorf("--all and --max cannot be given together: --all empties the cache")
	}
	return nil
}

func newCachePruneCmd() *cobra.Command {
	f := &cachePruneFlags{}
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Remove the least recently used layers down to the limit (--max, else SLIM_CACHE_MAX), or everything (--all)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.Validate(); err != nil {
				return err
			}
			layers, checks, err := cacheDirs()
			if err != nil {
				return err
			}
			var limit int64
			switch {
			case f.all:
			case f.max != "":
				if limit, err = size.Parse(f.max); err != nil {
					return fmt.Errorf("parsing --max: %w", err)
				}
			default:
				if limit, err = tarball.CacheLimit(); err != nil {
					return err
				}
			}
			removed, err := tarball.PruneCache(layers, limit)
			if err != nil {
				return err
			}
			if f.all {
				// The checks are small and keyed by result digest: nothing to rank.
				if err := os.RemoveAll(checks); err != nil {
					return fmt.Errorf("removing %s: %w", checks, err)
				}
			}
			w := cmd.OutOrStdout()
			printCacheItems(w, removed)
			fmt.Fprintf(w, "removed %d layers, %s\n", len(removed.Items), humanSize(removed.Total))
			return nil
		},
	}
	cmd.Flags().BoolVar(&f.all, "all", false, "remove every cached layer and fidelity-check outcome")
	cmd.Flags().StringVar(&f.max, "max", "", "prune down to this size (e.g. 5GiB, 500MB)")
	return cmd
}

func printCacheItems(w io.Writer, st tarball.CacheStats) {
	if len(st.Items) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LAST USED\tSIZE\tKEYS\tLAYER")
	for _, it := range st.Items {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", it.LastUsed.Format("2006-01-02 15:04"), humanSize(it.Size), it.Keys, it.Name)
	}
	tw.Flush()
}

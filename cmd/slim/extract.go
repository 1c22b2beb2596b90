package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/slim-dev/slim/extract"
	"github.com/slim-dev/slim/internal/imagefs"
	"github.com/slim-dev/slim/tarball/output"
)

type extractFlags struct {
	out      string
	deps     string
	noXattrs bool

	depsMode extract.Deps
	dest     output.Output
}

func (f *extractFlags) Validate() error {
	if f.out == "" {
		return errors.New("give -o DIR, -o FILE.tar, -o - (a tar on stdout), or -o type=local|tar,dest=...")
	}
	var err error
	if f.dest, err = output.ParseFiles(f.out); err != nil {
		return err
	}
	f.depsMode, err = extract.ParseDeps(f.deps)
	return err
}

func newExtractCmd(g *globalFlags) *cobra.Command {
	f := &extractFlags{}
	cmd := &cobra.Command{
		Use:   "extract IMAGE PATH... -o DIR|FILE.tar|-",
		Short: "Copy paths (and their shared-library closure) out of an image",
		Long: `Copy paths out of an image into a directory or a reproducible tar. PATH may be a glob
(*, ?, [..], ** for any depth); a trailing / takes a directory's contents. With --deps auto
(the default) the ELF shared libraries and interpreters every executable needs come too.`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.Validate(); err != nil {
				return err
			}
			img, _, err := g.openImage(cmd.Context(), args[0], cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			cf, err := img.ConfigFile()
			if err != nil {
				return fmt.Errorf("reading config of %s: %w", args[0], err)
			}
			disp, err := g.display(cmd, "Extracting")
			if err != nil {
				return err
			}
			defer disp.Close()
			fsys, err := extract.OpenImage(cmd.Context(), img, append(g.fsOptions(cmd.ErrOrStderr()), imagefs.WithProgress(disp))...)
			if err != nil {
				return fmt.Errorf("reading %s: %w", args[0], err)
			}
			defer fsys.Close()
			// Warnings wait for the display to end, so that they are not drawn over.
			var warnings []string
			defer func() {
				for _, w := range warnings {
					fmt.Fprintf(cmd.ErrOrStderr(), "slim: warning: %s\n", w)
				}
			}()
			var warnMu sync.Mutex
			warn := func(s string) {
				warnMu.Lock()
				defer warnMu.Unlock()
				if !slices.Contains(warnings, s) {
					warnings = append(warnings, s)
				}
			}
			opts := []extract.Option{extract.WithDeps(f.depsMode), extract.WithConfig(cf.Config), extract.WithSourceName(args[0]), extract.WithWarn(warn)}
			if f.noXattrs {
				opts = append(opts, extract.WithoutXattrs())
			}
			// The list goes where the files do not: stderr when the tar is on stdout.
			list, dest := cmd.OutOrStdout(), f.dest.Dest
			switch {
			case f.dest.Type == output.Tar && dest == "-":
				opts = append(opts, extract.TarTo(cmd.OutOrStdout()))
				list, dest = cmd.ErrOrStderr(), "standard output"
			case f.dest.Type == output.Tar:
				opts = append(opts, extract.AsTar())
			}
			st := disp.Start("taking " + strings.Join(args[1:], " ") + " into " + dest)
			set, err := extract.Extract(cmd.Context(), fsys, args[1:], dest, opts...)
			st.Done(err)
			disp.Close()
			if err != nil {
				return err
			}
			if g.quiet {
				return nil
			}
			tw := tabwriter.NewWriter(list, 0, 4, 2, ' ', 0)
			for _, fl := range set.Files() {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", tablePath(fl.Path), humanSize(fl.Size), tableReason(fl.Reason))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "slim: wrote %d files (%s) to %s\n", len(set.Files()), humanSize(set.Size()), dest)
			return nil
		},
	}
	cmd.Flags().StringVarP(&f.out, "output", "o", "", "where the files go: type=local,dest=DIR (new or empty); type=tar,dest=FILE|- (- is stdout); or a bare DIR, FILE.tar or -")
	cmd.Flags().StringVar(&f.deps, "deps", "auto", "auto: add the ELF shared-library closure; none: only the named paths")
	cmd.Flags().BoolVar(&f.noXattrs, "no-xattrs", false, "do not set extended attributes (file capabilities) when writing a directory")
	return cmd
}

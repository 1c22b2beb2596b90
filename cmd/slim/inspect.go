package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
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
	// --ci: dive's rules, from --ci-config (default .slim-ci.yaml when it exists) and
	// the rule flags, which win.
	ci       bool
	ciConfig string
	rules    extract.Rules
}

// exitCIRules is the status of a broken --ci rule, as --max-size's is for a budget.
const exitCIRules = 3

// defaultCIConfig is read by --ci when it exists, as dive reads .dive-ci.
const defaultCIConfig = ".slim-ci.yaml"

func (f *inspectFlags) Validate(cmd *cobra.Command) error {
	if f.largest < 0 {
		return fmt.Errorf("--largest must be 0 or more, got %d", f.largest)
	}
	if !f.ci {
		return nil
	}
	rules := extract.DefaultRules()
	file := f.ciConfig
	if file == "" {
		if _, err := os.Stat(defaultCIConfig); err == nil {
			file = defaultCIConfig
		}
	}
	if file != "" {
		var err error
		if rules, err = extract.LoadRules(file, rules); err != nil {
			return err
		}
	}
	fl := cmd.Flags()
	for name, v := range map[string]*string{
		extract.RuleLowestEfficiency: &rules.LowestEfficiency, extract.RuleHighestWastedBytes: &rules.HighestWastedBytes,
		extract.RuleHighestUserWastedPercent: &rules.HighestUserWastedPercent,
	} {
		if fl.Changed(name) {
			*v, _ = fl.GetString(name)
		}
	}
	f.rules = rules
	return rules.Validate()
}

// ciError is a broken --ci rule.
type ciError struct{ failed int }

func (e *ciError) Error() string {
	return fmt.Sprintf("%d CI rule(s) failed (--ci)", e.failed)
}

func (e *ciError) ExitCode() int { return exitCIRules }

func newInspectCmd(g *globalFlags) *cobra.Command {
	f := &inspectFlags{}
	cmd := &cobra.Command{
		Use:   "inspect IMAGE",
		Short: "Show an image's layers, sizes, wasted bytes and largest files",
		Long: `Show where an image's bytes go: per layer its digest, media type, compressed and
uncompressed size, entry count, the history line that created it, the bytes wasted on files
that later layers overwrite or delete, and its largest files; then totals and an efficiency
score, wasted bytes and the files more than one layer holds, computed as dive computes them.

--ci checks dive's rules (lowestEfficiency, highestWastedBytes, highestUserWastedPercent;
dive's defaults 0.9, disabled, 0.1) from --ci-config (dive's .dive-ci form; default
.slim-ci.yaml when it exists) and the flags of the same names, prints PASS or FAIL for
each, and exits 3 when one fails.

IMAGE is name[:tag|@digest] (registry), oci-layout://DIR[:tag|@digest],
docker-archive://FILE[:tag] or docker-daemon://NAME.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.Validate(cmd); err != nil {
				return err
			}
			img, _, err := g.openImage(cmd.Context(), args[0], cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if f.sbom {
				return inspectPackages(cmd, img, args[0], f.json, g.fsOptions(cmd.ErrOrStderr()))
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
				if err := enc.Encode(rep); err != nil {
					return err
				}
			} else if err := printInspect(cmd.OutOrStdout(), rep); err != nil {
				return err
			}
			if !f.ci {
				return nil
			}
			results, err := f.rules.Evaluate(rep)
			if err != nil {
				return err
			}
			// With --json the rules go to stderr, so stdout stays one JSON document.
			out := cmd.OutOrStdout()
			if f.json {
				out = cmd.ErrOrStderr()
			}
			if failed := printRules(out, results); failed > 0 {
				return &ciError{failed: failed}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&f.json, "json", false, "print the report as JSON (schema in README.md)")
	fl.IntVar(&f.largest, "largest", 5, "how many of each layer's largest files to list")
	fl.BoolVar(&f.ci, "ci", false, "check dive's CI rules; exit 3 when one fails")
	fl.StringVar(&f.ciConfig, "ci-config", "", "with --ci: the rules file, in dive's .dive-ci form (default "+defaultCIConfig+" when it exists)")
	def := extract.DefaultRules()
	fl.String(extract.RuleLowestEfficiency, def.LowestEfficiency, "with --ci: fail below this efficiency (0-1, or disabled)")
	fl.String(extract.RuleHighestWastedBytes, def.HighestWastedBytes, "with --ci: fail above these wasted bytes (e.g. 20MB, or disabled)")
	fl.String(extract.RuleHighestUserWastedPercent, def.HighestUserWastedPercent, "with --ci: fail above this ratio of wasted bytes to the bytes above the first layer (0-1, or disabled)")
	fl.BoolVar(&f.sbom, "sbom", false, "list the image's packages from its metadata instead (dpkg status and status.d, apk database, Go build info, node_modules, dist-info, jars)")
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

// printRules prints one line per rule, as dive --ci does, and returns how many failed.
func printRules(out io.Writer, results []extract.RuleResult) int {
	fmt.Fprintln(out, "\nCI rules")
	failed := 0
	for _, r := range results {
		if r.Message != "" {
			fmt.Fprintf(out, "  %s: %s: %s\n", r.Status, r.Rule, r.Message)
		} else {
			fmt.Fprintf(out, "  %s: %s\n", r.Status, r.Rule)
		}
		if r.Status == extract.RuleFailed {
			failed++
		}
	}
	result := "PASS"
	if failed > 0 {
		result = "FAIL"
	}
	fmt.Fprintf(out, "Result: %s [total: %d] [failed: %d]\n", result, len(results), failed)
	return failed
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
	fmt.Fprintf(out, "\nEfficiency %.2f%% as dive computes it; %s wasted by dive's count (%.2f%% of the %s above the first layer); %s hidden by later layers (what recompress removes)\n",
		100*r.Totals.Efficiency, humanSize(r.Totals.WastedBytes), 100*r.Totals.UserWastedPercent, humanSize(r.Totals.UserSize), humanSize(r.Totals.Wasted))
	if len(r.WastedFiles) > 0 {
		fmt.Fprintln(out, "\nWasted files (in more than one layer)")
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "COUNT\tTOTAL SPACE\t  PATH")
		for _, f := range r.WastedFiles {
			fmt.Fprintf(tw, "%d\t%s\t  %s\n", f.Count, humanSize(f.Size), tablePath(f.Path))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
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

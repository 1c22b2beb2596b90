package main

import (
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/slim-dev/slim/rebase"
	"github.com/slim-dev/slim/tarball"
)

// registerCompletions gives shell completion the values of --base, --compression and
// --progress on every command of root that has them.
func registerCompletions(root *cobra.Command) {
	var bases []string
	for name := range rebase.Aliases() {
		bases = append(bases, name)
	}
	slices.Sort(bases)
	bases = append([]string{rebase.Scratch, rebase.Static}, bases...)
	values := map[string][]string{
		"base":        bases,
		"compression": {string(tarball.Gzip), string(tarball.Zstd), string(tarball.Uncompressed)},
		"progress":    {"auto", "tty", "plain", "quiet", "rawjson"},
	}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for flag, vals := range values {
			if c.Flags().Lookup(flag) == nil {
				continue
			}
			_ = c.RegisterFlagCompletionFunc(flag, func(_ *cobra.Command, _ []string, prefix string) ([]string, cobra.ShellCompDirective) {
				var out []string
				for _, v := range vals {
					if strings.HasPrefix(v, prefix) {
						out = append(out, v)
					}
				}
				return out, cobra.ShellCompDirectiveNoFileComp
			})
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

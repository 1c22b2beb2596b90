// Package extract turns --from specs into a file set: it resolves paths, globs and
// symlinks inside a source fs.FS, follows the ELF shared-library closure of what it takes,
// and says why every file was taken.
//
// ParseFrom reads SRC:PATH[:DEST]; Select takes what the specs of one source name, with
// Dockerfile COPY's rules (a named symlink is copied as its target's content, a trailing
// "/" copies a directory's contents) plus what a copy needs to run like the original
// (parent directories with their modes and owners, symlinks inside copied trees kept
// with their targets, hardlinks kept as such, the ELF closure; a named symlink to a
// program that finds its libraries through $ORIGIN is kept as a link to the program at
// its real path, as glibc needs it; WithProgram adds the entrypoint's program when no
// spec took it); FileSet.Merge joins the
// sets of several sources and refuses a path that two of them fill differently.
// Extract is `slim extract`: a selection written to a directory or a deterministic tar,
// under a temporary name renamed at the end. LookupUser and LookupGroup read the
// source's /etc/passwd and /etc/group. Inspect reports where an image's bytes go.
//
// Every source is an fs.FS that also implements fs.ReadLinkFS (an image's merged
// layers, a build stage, a host directory through os.DirFS, an fstest.MapFS). Symlinks
// are followed by this package, inside the source root, so every source behaves alike.
package extract

// Package extract turns --from specs into a file set: it resolves paths, globs and
// symlinks inside a source fs.FS, follows the ELF shared-library closure of what it takes,
// and says why every file was taken.
package extract

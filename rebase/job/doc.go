// Package job owns the whole slim run, from flags already parsed to images written:
// build (BuildKit solves the stages a run needs) → extract (the files --from names, or
// what auto mode reads off the Dockerfile, with their closure) → rebase (laid on the
// base, assembled, checked) → tarball (packed) → output (written), and the report of
// what was saved.
//
// It has one entry per kind of run, each returning one Result: Images, for --from
// sources that are all image references, and Dockerfile, which runs a Dockerfile
// through BuildKit and reads files straight out of its solved stages while the session
// is open. cmd/slim turns flags into a Config (and a Build) and prints the Result.
package job

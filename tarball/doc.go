// Package tarball owns the layers slim writes: deterministic tar streams, compression
// (klauspost/compress, and internal/deflate's near-optimal parse for gzip at the best
// level) and the layer cache. Writing images out belongs to tarball/output, rewriting
// existing images (slim recompress) to tarball/recompress; both build on this package.
//
// The layer writer is reproducible by construction: WriteTar sorts and normalises the
// entries it is given, and the compressors produce the same bytes for the same input
// and settings on every machine, whatever GOMAXPROCS is. Gzip is written pigz-style,
// in fixed 1 MiB blocks compressed in parallel and joined into one gzip member; zstd
// at the fast levels is written as independent 8 MiB frames compressed in parallel,
// and at the stronger ones with klauspost's stream encoder, whose block boundaries do
// not depend on its concurrency. testdata/golden.json pins the digests of a fixed set of entries; a change
// there changes every slim user's layers and needs a reason.
//
// NewLayer compresses once, into a temporary file, hashing the compressed and the
// uncompressed stream on the way; the returned Layer re-opens that file for each read
// and removes it on Close. Memory stays bounded whatever the layer's size.
package tarball

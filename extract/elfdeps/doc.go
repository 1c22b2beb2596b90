// Package elfdeps owns the ELF shared-library closure of files inside an image's file
// system: the dynamic loader (PT_INTERP), every DT_NEEDED library found the way glibc's or
// musl's loader would find it (RPATH, LD_LIBRARY_PATH, RUNPATH, ld.so.conf, default
// directories), #! script interpreters (and the program a "#!/usr/bin/env NAME" line
// runs), the commands a shell script calls by name (read by extract/shell, found through
// PATH), glibc's NSS modules and the data a glibc program reads by name (host.conf,
// services, protocols, the C.UTF-8 locale and the config's, gconv modules for iconv,
// OpenSSL's configuration with the providers and engines it activates, CA bundles for
// TLS libraries), what language runtimes load by name (Python's stdlib and, through
// Imports, the packages an app's sources import; Node's externalized builtins; the JRE
// of java), and every symlink on the way, so that a copy of the returned files
// runs like the original. Unresolved is the same walk turned into a check of a new
// image's root: what the loader and the kernel need, not data files.
//
// The loader is never run: everything is read through an fs.FS that implements
// fs.ReadLinkFS, with the image root as the FS root. Symlinks are followed by
// internal/rootfs, component by component, with absolute targets taken relative to the
// image root, so the result is the same for a merged layer view, a BuildKit stage or an
// fstest.MapFS; a "#!/usr/bin/env NAME" program is found with its rootfs.LookPath.
package elfdeps

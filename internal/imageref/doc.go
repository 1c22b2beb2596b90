// Package imageref owns the one syntax slim accepts for an image on the command line
// and the one way of opening it.
//
// These forms are understood, the same words buildx uses for named contexts:
//
//	name[:tag|@digest]                  a registry image, or a local one (see below)
//	docker-image://name[:tag|@digest]   a registry image, never a local one (ggcr remote)
//	oci-layout://DIR[:tag|@digest]      an OCI image layout directory (ggcr layout)
//	docker-archive://FILE[:reference]   a `docker save` tarball (ggcr tarball)
//	docker-daemon://NAME                an image in the local Docker daemon, read
//	                                    through `docker save` as an archive
//
// A reference without a scheme is Bare, and Resolve decides what it is as users expect
// from docker and dive: an existing path holding a layout or an archive, else a tagged
// name the local Docker daemon holds, else a registry name.
//
// Parse only looks at the string; Resolve, Open and Image do the I/O. Writing images is not
// done here: outputs belong to the packages that produce them, which reach registries
// with RemoteOptions.
package imageref

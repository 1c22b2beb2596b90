// Package imageref owns the one syntax slim accepts for an image on the command line
// and the one way of opening it.
//
// Four forms are understood, the same words buildx uses for named contexts:
//
//	name[:tag|@digest]                  a registry image (ggcr remote)
//	oci-layout://DIR[:tag|@digest]      an OCI image layout directory (ggcr layout)
//	docker-archive://FILE[:reference]   a `docker save` tarball (ggcr tarball)
//	docker-daemon://NAME                an image in the local Docker daemon (ggcr daemon)
//
// Parse only looks at the string; Open and Image do the I/O. Writing images is not
// done here: outputs belong to the packages that produce them, which reach registries
// with RemoteOptions.
package imageref

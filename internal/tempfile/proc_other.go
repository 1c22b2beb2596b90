//go:build !unix

package tempfile

// alive cannot tell here, so every owner is taken to be alive and nothing is removed.
func alive(int) bool { return true }

func startTime(int) uint64 { return 0 }

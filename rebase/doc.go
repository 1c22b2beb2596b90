// Package rebase owns bases (scratch, the built-in offline static base, aliases for upstream
// bases) and the assembly of base layers, new layers and config into an image or index,
// including the fidelity check that the result can start.
package rebase

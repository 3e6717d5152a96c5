// Package lint holds the rules of the house as tests: which way imports
// point (../shared/DESIGN.md, "Rooms"), and calls that are banned in the
// pure cores. It has no code of its own.
package lint

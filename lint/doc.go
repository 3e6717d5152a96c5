// Package lint holds the rules of the house as tests: which way imports
// point (the rooms of the house: the table in imports_test.go), and calls that are banned in the
// pure cores. It has no code of its own.
package lint

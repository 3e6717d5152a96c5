// Package storetest damages a stopped node's files the way a disk or an
// operator can, for the tests of the start-up checks and the container
// fault suite (docs/OPERATIONS.md §Start-up checks). It imports nothing
// of the project.
package storetest

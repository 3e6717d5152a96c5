//go:build unix

package node

import (
	"io/fs"
	"syscall"
)

// diskBytes is the disk a file takes: its blocks.
func diskBytes(info fs.FileInfo) int64 {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return st.Blocks * 512
	}
	return info.Size()
}

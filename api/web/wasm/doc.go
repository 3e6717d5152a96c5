//go:build js && wasm

// Command wasm is the voter's client in the browser: the ballot package's
// token blinding and unblinding (RFC 9474), the cast and its signature,
// and the offline receipt check, compiled with GOOS=js GOARCH=wasm, with a
// thin syscall/js layer that exposes them to the pages as the global
// object "cocorico". It does no I/O: the pages fetch with the browser's
// fetch and hand the bytes in, so the module carries no net/http.
//
// It imports ballot, consensus and rsc.io/qr only (lint/imports_test.go).
// `go generate ./api/web` rebuilds the served copy.
package main

// Package web serves the citizen's pages from files embedded in the
// binary: the node's list of ballots, a ballot's page (question, choices,
// hours, the vote button, live results), the voting flow, the receipt
// check, the embeddable button (embed.js) and the WebAssembly voter
// client built from ./wasm. Pages are plain HTML, CSS and JavaScript that
// call the node's JSON API (/v1) and the ballot's registrar (its token
// request, or its OpenID Connect login: login.js) with the
// browser's fetch; every signature and check runs in the module.
//
// It imports no other room: the pages read the chain through the API,
// and api mounts this handler. `go generate ./api/web` rebuilds
// assets/cocorico.wasm.gz and copies Go's wasm_exec.js next to it;
// wasmbuild's test fails when the committed copy is stale.
package web

//go:generate go run ./wasmbuild

// Package api is the HTTP JSON API of a node (docs/CONTRACT.md and docs/API.md, under
// /v1) and its /metrics endpoint. It reads the ledger and the ballot state
// directly and asks the node, through Backend, for what only the node
// knows (the mempool, peers, the registrars' counts). docs/API.md
// documents every endpoint.
//
// api imports ballot, consensus and store (read side), nothing else of
// the project.
package api

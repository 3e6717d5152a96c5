// Package registrar is the registrar's logic, pure: the voter roll with
// codes kept as salted slow hashes, the rules of issuance (one blind
// signature per voter per ballot), and the per-ballot keys. The registrar
// service (node) stores what this package decides (store) and serves it
// over HTTP (api/registrarapi).
package registrar

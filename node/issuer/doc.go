// Package issuer is the registrar's service: it checks a voter's code
// (a bounded number of slow hashes at once, wrong codes throttled per
// voter id and per client address), signs the blinded token message
// first, then records the issuance (store.Registry), then answers. A
// voter who logged in (node/login) comes with a single-use session the
// service minted, bound to a ballot and to the keyed hash of the voter's
// subject, in place of a code; failed logins count in the same throttle.
// Its
// rules are ballot/registrar's; api/registrarapi serves it over HTTP
// through the small interface it declares; node wires them.
//
// It lives under node, not api, because it writes the registrar's store
// (api reads stores only) and it starts no goroutine of its own. It may
// import ballot, consensus, store and the Prometheus client, not api.
package issuer

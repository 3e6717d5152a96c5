// Package login is the registrar's OpenID Connect relying party (France
// Connect or any provider): the authorization code flow with PKCE, state
// and nonce kept server-side in a bounded table with expiry, the ID token
// checked by github.com/zitadel/oidc/v3's rp package (signature, issuer,
// audience, expiry, nonce, acr), the subject kept only as a keyed hash,
// the eligibility rules of ballot/registrar applied to the claims, which
// are then dropped. A login ends in a single-use session minted by the
// issuer service (node/issuer), which the voter's client redeems for its
// one blind signature.
//
// It is served over HTTP by api/registrarapi (behind its Login
// interface); node wires it. It logs no personal data: failures go to the
// issuer's throttle and log by check, address key and subject tag.
package login

// Package webtest holds the tests of the citizen's pages that need a
// running devnet: the WebAssembly client run under Node.js against the
// CLI's code (always, when node is installed), and the browser tests in
// headless Chromium (build tag "browser", run by .ci/run). Its only code,
// under that tag too, starts Chromium for a test (Chromium, Artefacts),
// for its own browser tests and any other package's.
package webtest

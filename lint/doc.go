// Package lint holds the rules of the house as tests, read from the Go
// AST with its types (go/parser, go/types), not from the text:
//
//   - imports point the way of the rooms' table (imports_test.go), and
//     every package is in a room;
//   - the pure cores (consensus and ballot, but for their I/O edges
//     consensus/driver, consensus/sim and ballot/ballottest) import no
//     I/O package, start no goroutine (a go statement, a WaitGroup's Go),
//     read no clock (time.Now, Sleep, After, timers and tickers) and draw
//     from no global random source;
//   - api uses only the read side of store, and every exported store
//     function or method is listed as read side or write side;
//   - every exported type of node is wired: used outside its own file by
//     node's non-test code or by cmd.
//
// lint_test.go plants a violation of each rule in a small tree and checks
// that the lint names it. The package has no code of its own.
package lint

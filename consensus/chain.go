package consensus

// Chain names the chain a signature belongs to: its id, for people and
// for headers, and its genesis hash, the identity every signed message of
// the protocol binds (docs/PROTOCOL.md §3). Two chains that share a name,
// keys and parameters but not their genesis (another genesis time, a
// relaunch) share no valid signature.
type Chain struct {
	ID      string
	Genesis Hash
}

// Chain returns the chain g founds. It hashes g: callers keep the value.
func (g *Genesis) Chain() Chain { return Chain{ID: g.ChainID, Genesis: g.Hash()} }

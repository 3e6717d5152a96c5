package consensus

// Proposer-based timestamps (CometBFT's PBTS, spec/consensus/
// proposer-based-timestamp): a block's time is its proposer's clock, and
// a validator prevotes for a fresh proposal (POL round −1) only if it took
// it at a time within the block's time, widened by the clocks' precision
// and the message's delay. A re-proposal (POL round ≥ 0) is not checked
// again: a quorum found it timely in its POL round. docs/CONSENSUS.md
// §Block time and docs/OPERATIONS.md §Clocks.

// PrecisionMs bounds how far apart the validators' clocks may be: the
// genesis parameter max_clock_drift_ms.
func (p Params) PrecisionMs() int64 { return p.MaxClockDriftMs }

// MsgDelayMs bounds, in round r, the time from a proposer reading its
// clock to a validator taking its proposal. It is the propose timeout of
// that round (timeout_propose_ms + r·timeout_propose_delta_ms): a proposal
// later than that finds the validators past their propose step anyway,
// and it grows with the round, as CometBFT's adaptive MessageDelay does
// (there ×1.1 per round; here + timeout_propose_delta_ms per round), so
// that a chain whose messages are slower than assumed, or whose proposer
// stamped a little early, still decides in a later round.
func (p Params) MsgDelayMs(r uint32) int64 {
	return p.TimeoutProposeMs + int64(r)*p.TimeoutProposeDeltaMs
}

// Timely reports whether a proposal of round r for a block stamped
// blockTime (Unix ms), taken at received (Unix ms, the validator's clock),
// is timely: blockTime − precision ≤ received ≤ blockTime + msgDelay(r) +
// precision. Pure arithmetic: the caller reads the clock.
func (p Params) Timely(blockTime, received int64, r uint32) bool {
	return received >= blockTime-p.PrecisionMs() && received <= blockTime+p.MsgDelayMs(r)+p.PrecisionMs()
}

package ballot

import (
	"crypto/ed25519"
	"fmt"
	"slices"

	"github.com/cloudflare/circl/group"
	"github.com/cocorico/node/ballot/seal"
	"github.com/cocorico/node/consensus"
)

// Keyring is the key generation of a sealed ballot as the chain holds it
// (docs/PROTOCOL.md §19): the deals, complaints and answers that landed before the
// ballot opened, the shares checked after it closed, and, once t of them
// are in, the election secret they recover. Every node derives the same
// keyring from the same blocks.
type Keyring struct {
	BallotID   consensus.Hash `cbor:"1,keyasint" json:"ballot_id"`
	Deals      []*Deal        `cbor:"2,keyasint,omitempty" json:"deals,omitempty"`
	Complaints []*Complaint   `cbor:"3,keyasint,omitempty" json:"complaints,omitempty"`
	Shares     []*KeyShare    `cbor:"4,keyasint,omitempty" json:"shares,omitempty"`
	// Secret is the election secret (a P-256 scalar), set in the block
	// whose share is the t-th valid one, where the count happens.
	Secret []byte `cbor:"5,keyasint,omitempty" json:"secret,omitempty"`
	// Answers are the dealers' answers to complaints, checked.
	Answers []*Answer `cbor:"6,keyasint,omitempty" json:"answers,omitempty"`
}

func (k *Keyring) clone() *Keyring {
	c := *k
	c.Deals, c.Complaints, c.Shares = slices.Clone(k.Deals), slices.Clone(k.Complaints), slices.Clone(k.Shares)
	c.Answers = slices.Clone(k.Answers)
	return &c
}

func (k *Keyring) deal(i uint8) *Deal {
	for _, d := range k.Deals {
		if d.Keykeeper == i {
			return d
		}
	}
	return nil
}

// answer returns dealer i's answer to keykeeper j's complaint, if any.
func (k *Keyring) answer(i, j uint8) *Answer {
	for _, a := range k.Answers {
		if a.Keykeeper == i && a.To == j {
			return a
		}
	}
	return nil
}

// Qualified returns the 0-based numbers of the dealers whose deal counts:
// dealt before keygen_closes, and every complaint against it answered
// with a share that matches its commitments, in order.
func (k *Keyring) Qualified() []int {
	var out []int
	for _, d := range k.Deals {
		if !slices.ContainsFunc(k.Complaints, func(c *Complaint) bool { return c.Against == d.Keykeeper && k.answer(d.Keykeeper, c.Keykeeper) == nil }) {
			out = append(out, int(d.Keykeeper))
		}
	}
	slices.Sort(out)
	return out
}

// Ready reports whether the keyring makes an election key for threshold t.
func (k *Keyring) Ready(t uint8) bool { return len(k.Qualified()) >= int(t) }

// Joint returns the joint commitments of the qualified dealers: the
// election key is Joint[0]. It fails with ErrSealedNoKey when fewer than
// the threshold qualified.
func (k *Keyring) Joint(chain consensus.Chain, b *Ballot) (seal.Joint, error) {
	q := k.Qualified()
	if len(q) < int(b.Def.Threshold) {
		return nil, fmt.Errorf("%w: %d deals qualified, %d needed", ErrSealedNoKey, len(q), b.Def.Threshold)
	}
	coms := make([]seal.Commitments, len(q))
	for n, i := range q {
		c, err := k.deal(uint8(i)).Dealing().Check(int(b.Def.Threshold), len(b.Def.Keykeepers), DealContext(chain, b.ID, i))
		if err != nil {
			return nil, fmt.Errorf("stored deal %d of %s: %w", i, b.ID.Short(), err)
		}
		coms[n] = c
	}
	return seal.Combine(coms), nil
}

// ElectionKey returns the election key voters seal their choices to.
func (k *Keyring) ElectionKey(chain consensus.Chain, b *Ballot) ([]byte, error) {
	j, err := k.Joint(chain, b)
	if err != nil {
		return nil, err
	}
	return j.Key(), nil
}

// OpenCast decrypts a cast of the ballot with the recovered election
// secret; ErrSealedNoKey until the count.
func (k *Keyring) OpenCast(chain consensus.Chain, c *Cast) (uint8, error) {
	if k.Secret == nil {
		return 0, fmt.Errorf("%w: not counted yet", ErrSealedNoKey)
	}
	sk, err := seal.PrivateKey(k.Secret)
	if err != nil {
		return 0, err
	}
	return seal.OpenChoice(sk, c.Sealed, c.sealContext(chain))
}

// Parallel runs fn(i) for every i in [0, n) and returns when all are done,
// on as many goroutines as its owner sees fit: ballot starts none itself.
type Parallel func(n int, fn func(i int))

// Sequential is the Parallel of one goroutine, the caller's.
func Sequential(n int, fn func(i int)) {
	for i := range n {
		fn(i)
	}
}

// Counts remember sealed counts by what they are made of: a ballot and
// the t shares that recover its secret (no cast of the ballot can land
// after it closes, so the same shares always give the same count). A node
// whose validators change rounds at the count's height is handed the same
// shares in another block, and does not decrypt every cast again.
type Counts interface {
	Get(key consensus.Hash) (counts []uint64, invalid uint64, ok bool)
	Put(key consensus.Hash, counts []uint64, invalid uint64)
}

// SetCounts makes the batch look its sealed counts up in c first.
func (b *Batch) SetCounts(c Counts) { b.counts = c }

// countKey names a count by its inputs: SHA-256 of the ballot id and the
// canonical shares, in keykeeper order.
func countKey(id consensus.Hash, shares []*KeyShare) consensus.Hash {
	sorted := slices.SortedFunc(slices.Values(shares), func(x, y *KeyShare) int { return int(x.Keykeeper) - int(y.Keykeeper) })
	parts := [][]byte{id[:]}
	for _, s := range sorted {
		parts = append(parts, []byte{s.Keykeeper}, s.Value)
	}
	return consensus.Sum(parts...)
}

// SetParallel makes the batch decrypt a sealed ballot's casts with p
// (Sequential by default).
func (b *Batch) SetParallel(p Parallel) { b.parallel = p }

// peekKeyring returns a sealed ballot's keyring as the batch has made it
// so far, without copying it.
func (b *Batch) peekKeyring(id consensus.Hash) (*Keyring, error) {
	if k, ok := b.up.Keyrings[id]; ok {
		return k, nil
	}
	k, found, err := b.state.Keyring(id)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("keyring of sealed ballot %s missing from the state", id.Short())
	}
	return k, nil
}

// keyring returns the batch's working copy of a sealed ballot's keyring.
func (b *Batch) keyring(id consensus.Hash) (*Keyring, error) {
	if k, ok := b.up.Keyrings[id]; ok {
		return k, nil
	}
	k, err := b.peekKeyring(id)
	if err != nil {
		return nil, err
	}
	w := k.clone()
	b.up.Keyrings[id] = w
	return w, nil
}

// checkSealedOpen is the extra rule of a cast in a sealed ballot: the key
// generation made an election key before the ballot opened.
func (b *Batch) checkSealedOpen(bal *Ballot) error {
	k, err := b.peekKeyring(bal.ID)
	if err != nil {
		return err
	}
	if !k.Ready(bal.Def.Threshold) {
		return fmt.Errorf("%w: %d deals qualified before opening, %d needed", ErrSealedNoKey, len(k.Qualified()), bal.Def.Threshold)
	}
	return nil
}

// checkKeykeeper applies the stateful rules to a deal, complaint, answer
// or share (docs/PROTOCOL.md §19.5) and returns its ballot and keyring
// (not a copy).
func (b *Batch) checkKeykeeper(tx *Checked) (*Ballot, *Keyring, error) {
	var id consensus.Hash
	var who uint8
	switch {
	case tx.Deal != nil:
		id, who = tx.Deal.BallotID, tx.Deal.Keykeeper
	case tx.Complaint != nil:
		id, who = tx.Complaint.BallotID, tx.Complaint.Keykeeper
	case tx.Answer != nil:
		id, who = tx.Answer.BallotID, tx.Answer.Keykeeper
	default:
		id, who = tx.Share.BallotID, tx.Share.Keykeeper
	}
	bal, found, err := b.Ballot(id)
	if err != nil {
		return nil, nil, err
	}
	if !found {
		return nil, nil, fmt.Errorf("tx %s: %w: ballot %s is %w", tx.ID.Short(), ErrKeykeeperInvalid, id.Short(), ErrNotInStateYet)
	}
	if bal.Def.Tally != TallySealed || int(who) >= len(bal.Def.Keykeepers) {
		return nil, nil, fmt.Errorf("tx %s: %w: ballot %s", tx.ID.Short(), ErrKeykeeperInvalid, id.Short())
	}
	name := fmt.Sprintf("keykeeper %d (%s)", who, bal.Def.Keykeepers[who].Name)
	k, err := b.peekKeyring(id)
	if err != nil {
		return nil, nil, err
	}
	if a := tx.Answer; a != nil {
		return bal, k, b.checkAnswer(bal, k, a, name)
	}
	if tx.Share == nil {
		if b.time >= bal.Def.KeygenCloses {
			return nil, nil, fmt.Errorf("%s: %w: deals and complaints closed at %d, block time %d", name, ErrKeygenClosed, bal.Def.KeygenCloses, b.time)
		}
		if d := tx.Deal; d != nil && k.deal(d.Keykeeper) != nil {
			return nil, nil, fmt.Errorf("%s: %w: dealt already", name, ErrKeykeeperRepeat)
		}
		if c := tx.Complaint; c != nil {
			if k.deal(c.Against) == nil {
				return nil, nil, fmt.Errorf("%s: %w: no deal of keykeeper %d to complain against (%w)", name, ErrKeykeeperInvalid, c.Against, ErrNotInStateYet)
			}
			if slices.ContainsFunc(k.Complaints, func(o *Complaint) bool { return o.Keykeeper == c.Keykeeper && o.Against == c.Against }) {
				return nil, nil, fmt.Errorf("%s: %w: complained against %d already", name, ErrKeykeeperRepeat, c.Against)
			}
		}
		return bal, k, nil
	}
	s := tx.Share
	switch {
	case b.time < bal.Def.Closes:
		return nil, nil, fmt.Errorf("%s: %w: closes at %d, block time %d", name, ErrShareTooEarly, bal.Def.Closes, b.time)
	case k.Secret != nil:
		return nil, nil, fmt.Errorf("%s: %w: the ballot is counted", name, ErrKeykeeperRepeat)
	case slices.ContainsFunc(k.Shares, func(o *KeyShare) bool { return o.Keykeeper == s.Keykeeper }):
		return nil, nil, fmt.Errorf("%s: %w: shared already", name, ErrKeykeeperRepeat)
	}
	joint, err := k.Joint(b.rules.Chain, bal)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := joint.CheckShare(int(s.Keykeeper)+1, s.Value); err != nil {
		return nil, nil, fmt.Errorf("%s: %w: %v", name, ErrShareInvalid, err)
	}
	return bal, k, nil
}

// checkAnswer applies the stateful rules to dealer a.Keykeeper's answer:
// before opening, to a complaint not answered yet, with the share the
// dealer's commitments say.
func (b *Batch) checkAnswer(bal *Ballot, k *Keyring, a *Answer, name string) error {
	switch {
	case b.time >= bal.Def.Opens:
		return fmt.Errorf("%s: %w: answers closed at the opening, %d, block time %d", name, ErrKeygenClosed, bal.Def.Opens, b.time)
	case !slices.ContainsFunc(k.Complaints, func(c *Complaint) bool { return c.Keykeeper == a.To && c.Against == a.Keykeeper }):
		return fmt.Errorf("%s: %w: no complaint of keykeeper %d to answer (%w)", name, ErrKeykeeperInvalid, a.To, ErrNotInStateYet)
	case k.answer(a.Keykeeper, a.To) != nil:
		return fmt.Errorf("%s: %w: answered keykeeper %d already", name, ErrKeykeeperRepeat, a.To)
	}
	d := k.deal(a.Keykeeper)
	com, err := d.Dealing().Check(int(bal.Def.Threshold), len(bal.Def.Keykeepers), DealContext(b.rules.Chain, bal.ID, int(a.Keykeeper)))
	if err != nil {
		return fmt.Errorf("stored deal of %s: %w", name, err)
	}
	if err := com.CheckShare(int(a.To)+1, a.Value); err != nil {
		return fmt.Errorf("%s: %w: its answer to keykeeper %d does not match its commitments: %v", name, ErrShareInvalid, a.To, err)
	}
	return nil
}

// addKeykeeper applies a deal, complaint, answer or share; the share that
// is the t-th valid one counts the ballot.
func (b *Batch) addKeykeeper(tx *Checked) error {
	bal, _, err := b.checkKeykeeper(tx)
	if err != nil {
		return err
	}
	k, err := b.keyring(bal.ID)
	if err != nil {
		return err
	}
	switch {
	case tx.Deal != nil:
		k.Deals = append(k.Deals, tx.Deal)
		return nil
	case tx.Complaint != nil:
		k.Complaints = append(k.Complaints, tx.Complaint)
		return nil
	case tx.Answer != nil:
		k.Answers = append(k.Answers, tx.Answer)
		return nil
	}
	k.Shares = append(k.Shares, tx.Share)
	if len(k.Shares) < int(bal.Def.Threshold) {
		return nil
	}
	if err := b.count(bal, k); err != nil {
		// Shares checked against the commitments always recover the
		// secret: this is a broken state, not a bad transaction.
		return fmt.Errorf("count of sealed ballot %s: %w", bal.ID.Short(), err)
	}
	return nil
}

// count recovers the election secret from the keyring's t shares,
// decrypts the latest cast of every voter key and puts the tally in the
// ballot's results (docs/PROTOCOL.md §19.4). A cast that does not decrypt
// to a choice of the ballot counts as invalid.
func (b *Batch) count(bal *Ballot, k *Keyring) error {
	joint, err := k.Joint(b.rules.Chain, bal)
	if err != nil {
		return err
	}
	shares := make(map[int][]byte, len(k.Shares))
	for _, s := range k.Shares {
		shares[int(s.Keykeeper)+1] = s.Value
	}
	sk, secret, err := joint.Recover(shares)
	if err != nil {
		return err
	}
	res, err := b.results(bal.ID)
	if err != nil {
		return err
	}
	key := countKey(bal.ID, k.Shares)
	if b.counts != nil {
		if counts, invalid, ok := b.counts.Get(key); ok && len(counts) == len(bal.Def.Choices) {
			res.Counts, res.Invalid, res.Sealed = slices.Clone(counts), invalid, false
			k.Secret = secret
			return nil
		}
	}
	var recs []VoterRecord
	var keys []VoterKey
	if err := b.state.Voters(bal.ID, func(v VoterKey, r VoterRecord) error {
		if _, mine := b.up.Voters[VoterSlot{bal.ID, v}]; !mine {
			keys, recs = append(keys, v), append(recs, r)
		}
		return nil
	}); err != nil {
		return err
	}
	for s, r := range b.up.Voters {
		if s.Ballot == bal.ID {
			keys, recs = append(keys, s.Voter), append(recs, r)
		}
	}
	choices := make([]int, len(recs))
	info := SealedInfo(b.rules.Chain, bal.ID)
	b.parallel(len(recs), func(i int) {
		c, err := seal.OpenChoice(sk, recs[i].Sealed, seal.Context{Info: info, Voter: keys[i][:], Seq: recs[i].Seq})
		choices[i] = int(c)
		if err != nil {
			choices[i] = -1
		}
	})
	res.Counts = make([]uint64, len(bal.Def.Choices))
	res.Invalid = 0
	for _, c := range choices {
		if c >= 0 && c < len(res.Counts) {
			res.Counts[c]++
		} else {
			res.Invalid++
		}
	}
	res.Sealed = false
	k.Secret = secret
	if b.counts != nil {
		b.counts.Put(key, slices.Clone(res.Counts), res.Invalid)
	}
	return nil
}

// BadDeals is keykeeper j's (0-based) check of the deals in the keyring:
// it opens the share each deal holds for j with j's HPKE private key and
// returns the dealers whose share does not decrypt or does not match their
// commitments: j complains against each (docs/PROTOCOL.md §19.2).
func (k *Keyring) BadDeals(chain consensus.Chain, b *Ballot, j int, encPriv []byte) ([]uint8, error) {
	sk, err := seal.PrivateKey(encPriv)
	if err != nil {
		return nil, err
	}
	var bad []uint8
	for _, d := range k.Deals {
		if int(d.Keykeeper) == j {
			continue
		}
		ctx := DealContext(chain, b.ID, int(d.Keykeeper))
		com, err := d.Dealing().Check(int(b.Def.Threshold), len(b.Def.Keykeepers), ctx)
		if err == nil {
			_, err = seal.OpenShare(d.Dealing(), com, j+1, sk, ctx)
		}
		if err != nil {
			bad = append(bad, d.Keykeeper)
		}
	}
	return bad, nil
}

// NewShare makes and signs keykeeper j's (0-based) share of the election
// secret: the sum of the shares the qualified dealers gave it.
func (k *Keyring) NewShare(chain consensus.Chain, b *Ballot, j int, encPriv []byte, key ed25519.PrivateKey) (*KeyShare, error) {
	sk, err := seal.PrivateKey(encPriv)
	if err != nil {
		return nil, err
	}
	var parts []group.Scalar
	for _, i := range k.Qualified() {
		d := k.deal(uint8(i))
		ctx := DealContext(chain, b.ID, i)
		com, err := d.Dealing().Check(int(b.Def.Threshold), len(b.Def.Keykeepers), ctx)
		if err != nil {
			return nil, err
		}
		if a := k.answer(uint8(i), uint8(j)); a != nil { // complained, and answered in clear
			x, err := seal.Scalar(a.Value)
			if err != nil {
				return nil, err
			}
			parts = append(parts, x)
			continue
		}
		x, err := seal.OpenShare(d.Dealing(), com, j+1, sk, ctx)
		if err != nil {
			return nil, fmt.Errorf("the share of keykeeper %d's deal: %w (it should have been complained against before keygen_closes)", i, err)
		}
		parts = append(parts, x)
	}
	s := &KeyShare{BallotID: b.ID, Keykeeper: uint8(j), Value: seal.AddShares(parts)}
	s.Sign(chain, key)
	return s, nil
}

// Verify checks every signed message of a keyring read from a node against
// the ballot: a client that seals a choice to the election key recomputes
// it from messages it checked, and trusts no node for it.
func (k *Keyring) Verify(chain consensus.Chain, b *Ballot) error {
	one := oneBallot{b}
	if k.BallotID != b.ID {
		return fmt.Errorf("%w: keyring of %s for ballot %s", ErrKeykeeperInvalid, k.BallotID.Short(), b.ID.Short())
	}
	for _, d := range k.Deals {
		if err := d.Verify(chain, one); err != nil {
			return err
		}
	}
	for _, c := range k.Complaints {
		if err := c.Verify(chain, one); err != nil {
			return err
		}
	}
	for _, s := range k.Shares {
		if err := s.Verify(chain, one); err != nil {
			return err
		}
	}
	for _, a := range k.Answers {
		if err := a.Verify(chain, one); err != nil {
			return err
		}
	}
	return nil
}

type oneBallot struct{ b *Ballot }

func (o oneBallot) Ballot(id consensus.Hash) (*Ballot, bool, error) { return o.b, id == o.b.ID, nil }

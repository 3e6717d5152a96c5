package ballot

import "errors"

// Errors of the validation rules (docs/PROTOCOL.md §Rules). Each has one
// meaning a caller can act on; functions wrap them with detail. The API
// maps them to error codes in one table.
var (
	// ErrMalformed: the bytes or JSON do not decode to a transaction.
	ErrMalformed = errors.New("malformed transaction")
	// ErrTooLarge: the transaction is larger than allowed.
	ErrTooLarge = errors.New("transaction too large")
	// ErrWrongChain: the transaction names another chain.
	ErrWrongChain = errors.New("wrong chain")

	// ErrDefinitionInvalid: a ballot definition breaks a rule.
	ErrDefinitionInvalid = errors.New("ballot definition invalid")
	// ErrOrganizerSignature: the organizer's signature does not verify.
	ErrOrganizerSignature = errors.New("organizer signature invalid")
	// ErrOrganizerNotAllowed: the definition's organizer key is not among
	// the organizers the genesis allows.
	ErrOrganizerNotAllowed = errors.New("organizer not allowed by this chain's genesis")
	// ErrDuplicateBallot: a ballot with this id already exists.
	ErrDuplicateBallot = errors.New("ballot already exists")

	// ErrCastInvalid: a cast has a field of the wrong size or range.
	ErrCastInvalid = errors.New("cast invalid")
	// ErrChoiceOutOfRange: the choice is not an index of the ballot's choices.
	ErrChoiceOutOfRange = errors.New("choice out of range")
	// ErrUnknownRegistrar: the cast names a registrar the ballot lacks.
	ErrUnknownRegistrar = errors.New("unknown registrar")
	// ErrTokenInvalid: the token is not the registrar's signature over
	// this ballot and this voter key.
	ErrTokenInvalid = errors.New("token invalid")
	// ErrVoterSignature: the voter's signature over the cast does not verify.
	ErrVoterSignature = errors.New("voter signature invalid")
	// ErrSealedInvalid: a cast's sealed choice is missing (sealed ballot),
	// present (open ballot), malformed, or its proof does not hold for this
	// cast (a sealed choice copied from another cast).
	ErrSealedInvalid = errors.New("sealed choice invalid")

	// ErrKeykeeperInvalid: a keykeeper message names an open ballot, a
	// keykeeper the ballot lacks, or is otherwise out of place.
	ErrKeykeeperInvalid = errors.New("keykeeper message invalid")
	// ErrNotInStateYet marks a keykeeper message refused (with
	// ErrKeykeeperInvalid) for what this node's state lacks: its ballot's
	// definition, the deal a complaint is against, the complaint an answer
	// answers. A node further ahead may take it: whoever forwarded it is
	// not at fault (node/gossip.go).
	ErrNotInStateYet = errors.New("not in this node's state yet")
	// ErrKeykeeperSignature: the keykeeper's signature does not verify.
	ErrKeykeeperSignature = errors.New("keykeeper signature invalid")
	// ErrDealInvalid: a deal's commitments, shares or proof of knowledge
	// are malformed or do not verify.
	ErrDealInvalid = errors.New("deal invalid")
	// ErrShareInvalid: a keykeeper's share of the election secret does not
	// match the key generation's commitments; the error names the keykeeper.
	ErrShareInvalid = errors.New("keykeeper share invalid")
	// ErrKeygenClosed: a deal or complaint at or after the ballot's
	// keygen_closes, an answer at or after it opens.
	ErrKeygenClosed = errors.New("key generation closed: the ballot has opened")
	// ErrSealedNoKey: fewer than t deals qualified before the ballot
	// opened: it has no election key and takes no cast.
	ErrSealedNoKey = errors.New("sealed ballot has no election key")
	// ErrShareTooEarly: a share before the ballot closes.
	ErrShareTooEarly = errors.New("share before the ballot closes")
	// ErrKeykeeperRepeat: the keykeeper already dealt, complained against
	// this dealer, or shared; or the count is already done.
	ErrKeykeeperRepeat = errors.New("keykeeper message repeated or too late")

	// ErrUnknownBallot: the cast names a ballot that does not exist (yet).
	ErrUnknownBallot = errors.New("unknown ballot")
	// ErrBallotNotOpen: the block time is before the ballot opens.
	ErrBallotNotOpen = errors.New("ballot not open yet")
	// ErrBallotClosed: the block time is at or after the ballot closes.
	ErrBallotClosed = errors.New("ballot closed")
	// ErrSeqReplay: the seq is not higher than the voter key's last cast;
	// the cast is a replay or out of order.
	ErrSeqReplay = errors.New("seq not higher than the voter's last cast")
	// ErrTooManyCasts: the voter key has cast as many times in this
	// ballot as the genesis allows (app.max_casts_per_voter).
	ErrTooManyCasts = errors.New("too many casts for this voter key")
	// ErrRevoteTooSoon: the voter key's last cast is more recent than the
	// genesis allows between two casts (app.revote_interval_ms), or an
	// earlier cast of the key is still pending.
	ErrRevoteTooSoon = errors.New("re-vote too soon")
	// ErrRevoteNotAllowed: the voter key has voted and the ballot forbids re-voting.
	ErrRevoteNotAllowed = errors.New("re-voting not allowed")
	// ErrOverloaded: the node takes no more transactions for now (its
	// mempool is full, or more wait than it admits from clients): send
	// again later. Nothing was checked.
	ErrOverloaded = errors.New("node overloaded")
	// ErrDuplicate: the very same transaction is already pending (once
	// final, a cast sent again is ErrSeqReplay, a definition
	// ErrDuplicateBallot).
	ErrDuplicate = errors.New("transaction already known")
)

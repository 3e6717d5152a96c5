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
	// ErrSealedUnsupported: sealed choices are reserved for a later version.
	ErrSealedUnsupported = errors.New("sealed tally not supported")

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
	// ErrDuplicate: the very same transaction is already pending or final.
	ErrDuplicate = errors.New("transaction already known")
)

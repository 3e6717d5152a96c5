package client

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"slices"
	"time"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/ballot/seal"
	"github.com/cocorico/node/consensus"
)

// KeykeeperKeys are a keykeeper's long-term secrets, kept in a 0600 file:
// the Ed25519 key that signs its messages and the HPKE key its shares are
// encrypted to (docs/OPERATIONS.md §Keykeepers).
type KeykeeperKeys struct {
	Name     string `json:"name"`
	SignSeed []byte `json:"sign_seed"`
	EncPriv  []byte `json:"enc_priv"`
	EncPub   []byte `json:"enc_pub"`
}

// NewKeykeeperKeys makes fresh keys.
func NewKeykeeperKeys(name string) (*KeykeeperKeys, error) {
	k := &KeykeeperKeys{Name: name, SignSeed: make([]byte, ed25519.SeedSize)}
	if _, err := rand.Read(k.SignSeed); err != nil {
		return nil, err
	}
	var err error
	k.EncPub, k.EncPriv, err = seal.NewKeyPair(rand.Reader)
	return k, err
}

// dealStream is the random stream k deals ballot id from: derived from its
// secret signing seed, so that it can replay its deal to answer a
// complaint (and dealing twice makes the same deal), and from the ballot
// id, so that no two ballots share a polynomial. ChaCha8 is a
// cryptographically strong generator (math/rand/v2).
func (k *KeykeeperKeys) dealStream(id consensus.Hash) *mrand.ChaCha8 {
	return mrand.NewChaCha8(sha256.Sum256(slices.Concat([]byte("cocorico/v1/deal-stream"), k.SignSeed, id[:])))
}

// Sign returns the signing key.
func (k *KeykeeperKeys) Sign() ed25519.PrivateKey { return ed25519.NewKeyFromSeed(k.SignSeed) }

// Public returns the line an organizer gives `ballot create --keykeeper`:
// NAME=SIGNKEY.ENCKEY in standard base64.
func (k *KeykeeperKeys) Public() string {
	enc := base64.StdEncoding
	return k.Name + "=" + enc.EncodeToString(k.Sign().Public().(ed25519.PublicKey)) + "." + enc.EncodeToString(k.EncPub)
}

// Save writes the keys to path, readable by the owner only; it refuses
// to overwrite a file.
func (k *KeykeeperKeys) Save(path string) error {
	b, _ := json.MarshalIndent(k, "", "  ")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// LoadKeykeeperKeys reads keys that Save wrote.
func LoadKeykeeperKeys(path string) (*KeykeeperKeys, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var k KeykeeperKeys
	if err := json.Unmarshal(b, &k); err != nil || len(k.SignSeed) != ed25519.SeedSize {
		return nil, fmt.Errorf("keykeeper keys %s: damaged (%v)", path, err)
	}
	return &k, nil
}

// KeykeeperStep does what keykeeper k has to do for ballot id at time
// now, and says so through say: before keygen_closes, deal if it has not
// and complain against every deal whose share for it is bad; until
// opening, answer every complaint against its own deal; after closing,
// publish its share until the ballot is counted. It does nothing for a
// ballot that does not name k. `cocorico keykeeper deal/share/run` call it.
func KeykeeperStep(ctx context.Context, n *Node, g *consensus.Genesis, k *KeykeeperKeys, id consensus.Hash, now time.Time, say func(string)) error {
	chain := g.Chain()
	b, _, err := n.Ballot(ctx, id)
	if err != nil {
		return err
	}
	if _, err := b.Def.Check(ballot.NewRules(g)); err != nil {
		return fmt.Errorf("ballot %s is not of this chain: %w", id, err)
	}
	me := slices.IndexFunc(b.Def.Keykeepers, func(kk ballot.Keykeeper) bool {
		return bytes.Equal(kk.Key, k.Sign().Public().(ed25519.PublicKey))
	})
	if b.Def.Tally != ballot.TallySealed || me < 0 {
		return nil
	}
	v, err := n.Keyring(ctx, id)
	if err != nil {
		return err
	}
	kr := &v.Keyring
	if err := kr.Verify(chain, b); err != nil {
		return fmt.Errorf("node %s served a keyring that does not verify: %w", n.base, err)
	}
	submit := func(what string, tx *ballot.Tx) error {
		txID, err := n.SubmitKeykeeper(ctx, tx)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		say(fmt.Sprintf("ballot %s: %s sent (tx %s)", id.Short(), what, txID.Short()))
		return nil
	}
	ms := now.UnixMilli()
	switch {
	case ms < b.Def.Opens:
		mine := slices.IndexFunc(kr.Deals, func(d *ballot.Deal) bool { return int(d.Keykeeper) == me })
		if mine < 0 {
			if ms >= b.Def.KeygenCloses {
				return fmt.Errorf("too late to deal: deals closed at %s", time.UnixMilli(b.Def.KeygenCloses).UTC().Format(time.RFC3339))
			}
			d, err := ballot.NewDeal(k.dealStream(id), chain, b, me, k.Sign())
			if err != nil {
				return err
			}
			return submit("deal", &ballot.Tx{Deal: d})
		}
		for _, c := range kr.Complaints {
			if int(c.Against) != me || slices.ContainsFunc(kr.Answers, func(a *ballot.Answer) bool { return a.Keykeeper == c.Against && a.To == c.Keykeeper }) {
				continue
			}
			a, err := ballot.NewAnswer(k.dealStream(id), chain, b, kr.Deals[mine], int(c.Keykeeper), k.Sign())
			if err != nil {
				return err
			}
			if err := submit(fmt.Sprintf("answer to keykeeper %d's complaint", c.Keykeeper), &ballot.Tx{Answer: a}); err != nil {
				return err
			}
		}
		if ms >= b.Def.KeygenCloses {
			return nil
		}
		bad, err := kr.BadDeals(chain, b, me, k.EncPriv)
		if err != nil {
			return err
		}
		for _, i := range bad {
			if slices.ContainsFunc(kr.Complaints, func(c *ballot.Complaint) bool { return int(c.Keykeeper) == me && c.Against == i }) {
				continue
			}
			c := &ballot.Complaint{BallotID: id, Keykeeper: uint8(me), Against: i}
			c.Sign(chain, k.Sign())
			if err := submit(fmt.Sprintf("complaint against keykeeper %d's deal", i), &ballot.Tx{Complaint: c}); err != nil {
				return err
			}
		}
	case ms >= b.Def.Closes && kr.Secret == nil:
		if slices.ContainsFunc(kr.Shares, func(s *ballot.KeyShare) bool { return int(s.Keykeeper) == me }) {
			return nil
		}
		s, err := kr.NewShare(chain, b, me, k.EncPriv, k.Sign())
		if err != nil {
			return err
		}
		return submit("share", &ballot.Tx{Share: s})
	}
	return nil
}

package ballot

import "github.com/cocorico/node/consensus/canon"

// decodeCastTx decodes data if it is the canonical encoding of a
// transaction holding a cast of the usual shape (every byte string
// present and not empty), as every cast a voter makes is: {2: {1: ballot,
// 2: voter, 3: seq, 4: choice, 5: registrar, 6: token prefix, 7: token,
// [8: sealed,] 9: signature}}, keys in order, heads in their shortest
// form, nothing after. Anything else, it leaves to canon.Unmarshal
// (ok false): an error there is named as it always was, and a cast of an
// odd shape (an empty or null byte string, no signature) is decoded
// there too.
//
// Every node decodes every cast it receives, in blocks and in gossip;
// canon.Unmarshal decodes through reflection and re-encodes to check the
// form, about ten times the time of this (BenchmarkDecodeBlockOfCasts).
// What this accepts, canon.Unmarshal accepts and decodes to the same
// cast: a test holds them equal over casts of every shape, and
// FuzzDecodeTx over whatever it finds.
// castBytesField is where decodeCastTx keeps the byte string of each key.
var castBytesField = [10]int{1: 0, 2: 1, 6: 2, 7: 3, 8: 4, 9: 5}

func decodeCastTx(data []byte) (*Tx, bool) {
	if len(data) < 3 || data[0] != 0xa1 || data[1] != 0x02 { // {2: map}
		return nil, false
	}
	fields, rest, ok := canon.ReadHead(data[2:], canon.MajorMap)
	if !ok || fields < 8 || fields > 9 {
		return nil, false
	}
	sealed := fields == 9
	// The byte strings' heads first, to allocate their bytes at once.
	var spans [6][]byte // ballot, voter, token prefix, token, sealed, signature
	var uints [3]uint64 // seq, choice, registrar
	total := 0
	for k := byte(1); k <= 9; k++ {
		if k == 8 && !sealed {
			continue
		}
		if len(rest) == 0 || rest[0] != k {
			return nil, false
		}
		rest = rest[1:]
		switch k {
		case 3, 4, 5:
			if uints[k-3], rest, ok = canon.ReadHead(rest, canon.MajorUint); !ok {
				return nil, false
			}
			continue
		}
		var n uint64
		if n, rest, ok = canon.ReadHead(rest, canon.MajorBytes); !ok || n == 0 || n > uint64(len(rest)) {
			return nil, false
		}
		spans[castBytesField[k]], rest = rest[:n], rest[n:]
		total += int(n)
	}
	if len(rest) != 0 || uints[1] > 0xffffffff || uints[2] > 0xff || len(spans[0]) != 32 {
		return nil, false
	}
	c := &Cast{Seq: uints[0], Choice: uint32(uints[1]), Registrar: uint8(uints[2])}
	copy(c.BallotID[:], spans[0])
	buf := make([]byte, 0, total-32)
	take := func(b []byte) []byte {
		if b == nil {
			return nil
		}
		at := len(buf)
		buf = append(buf, b...)
		return buf[at:len(buf):len(buf)]
	}
	c.Voter, c.TokenPrefix, c.Token, c.Sealed, c.Signature = take(spans[1]), take(spans[2]), take(spans[3]), take(spans[4]), take(spans[5])
	return &Tx{Cast: c}, true
}

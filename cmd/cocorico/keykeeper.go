package main

import (
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/cocorico/node/ballot"
)

// parseKeykeeper reads NAME=SIGNKEY.ENCKEY (standard base64 each), the
// public line `cocorico keykeeper keygen` prints.
func parseKeykeeper(s string) (ballot.Keykeeper, error) {
	name, keys, ok := strings.Cut(s, "=")
	sign, enc, ok2 := strings.Cut(keys, ".")
	if !ok || !ok2 || name == "" {
		return ballot.Keykeeper{}, fmt.Errorf("want NAME=SIGNKEY.ENCKEY")
	}
	k := ballot.Keykeeper{Name: name}
	var err error
	if k.Key, err = base64.StdEncoding.DecodeString(sign); err != nil {
		return k, fmt.Errorf("signing key: %v", err)
	}
	if k.EncKey, err = base64.StdEncoding.DecodeString(enc); err != nil {
		return k, fmt.Errorf("encryption key: %v", err)
	}
	return k, nil
}

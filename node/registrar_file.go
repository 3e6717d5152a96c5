package node

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/cocorico/node/ballot/registrar"
	"github.com/cocorico/node/consensus/canon"
	"github.com/cocorico/node/node/login"
)

// registrarFile is the registrar's config file (JSON, read strictly;
// docs/OPERATIONS.md, "The registrar's config file"). It holds no
// secret: the client secret and the subject-hash key are in files of
// their own (mode 0600) or in the environment.
type registrarFile struct {
	// OIDC, if set, turns the OpenID Connect login on.
	OIDC *oidcFile `json:"oidc,omitempty"`
}

// oidcFile configures the login at one provider.
type oidcFile struct {
	Issuer string `json:"issuer"`
	// ProviderName is shown to voters ("Se connecter avec …").
	ProviderName string `json:"provider_name,omitempty"`
	ClientID     string `json:"client_id"`
	RedirectURL  string `json:"redirect_url"`
	// ClientSecretFile holds the client secret; if empty, it is read
	// from $COCORICO_OIDC_CLIENT_SECRET.
	ClientSecretFile string   `json:"client_secret_file,omitempty"`
	Scopes           []string `json:"scopes,omitempty"`
	ACRValues        []string `json:"acr_values,omitempty"`
	SubjectClaim     string   `json:"subject_claim,omitempty"`
	// SubjectKeyFile holds the subject-hash key, hex (at least 32
	// bytes); if empty, it is read from $COCORICO_SUBJECT_KEY.
	SubjectKeyFile string                 `json:"subject_key_file,omitempty"`
	AllowedOrigins []string               `json:"allowed_origins,omitempty"`
	Eligibility    *registrar.Eligibility `json:"eligibility,omitempty"`
}

// Environment variables of the registrar's secrets, read when the config
// file names no file for them.
const (
	ClientSecretEnv = "COCORICO_OIDC_CLIENT_SECRET"
	SubjectKeyEnv   = "COCORICO_SUBJECT_KEY"
)

const maxRegistrarFileBytes = 64 << 10

// ReadRegistrarFile reads the registrar's config file and the secrets it
// points to, and returns the login's configuration (nil if the file
// configures no login).
func ReadRegistrarFile(path string) (*login.Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f registrarFile
	if err := canon.DecodeJSON(data, &f, maxRegistrarFileBytes); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if f.OIDC == nil {
		return nil, nil
	}
	o := f.OIDC
	secret, err := readSecret(o.ClientSecretFile, ClientSecretEnv, "client secret")
	if err != nil {
		return nil, err
	}
	keyHex, err := readSecret(o.SubjectKeyFile, SubjectKeyEnv, "subject key")
	if err != nil {
		return nil, err
	}
	key, err := hex.DecodeString(keyHex)
	if err != nil || len(key) < registrar.MinSubjectKeyBytes {
		return nil, fmt.Errorf("subject key: want at least %d bytes in hex (openssl rand -hex 32)", registrar.MinSubjectKeyBytes)
	}
	cfg := &login.Config{Issuer: o.Issuer, ProviderName: o.ProviderName, ClientID: o.ClientID, ClientSecret: secret, RedirectURL: o.RedirectURL,
		Scopes: o.Scopes, ACRValues: o.ACRValues, SubjectClaim: o.SubjectClaim, AllowedOrigins: o.AllowedOrigins,
		SubjectKey: key}
	if o.Eligibility != nil {
		cfg.Eligibility = *o.Eligibility
	}
	return cfg, nil
}

// readSecret reads a secret from file, or, if file is empty, from the
// environment variable env. Never from the command line: argv is
// readable by every user of the machine (ps, /proc).
func readSecret(file, env, what string) (string, error) {
	if file == "" {
		v := strings.TrimSpace(os.Getenv(env))
		if v == "" {
			return "", fmt.Errorf("%s: name a file in the config or set $%s", what, env)
		}
		return v, nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	v := strings.TrimSpace(string(data))
	if v == "" {
		return "", errors.New(what + ": " + file + " is empty")
	}
	return v, nil
}

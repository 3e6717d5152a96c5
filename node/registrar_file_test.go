package node

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The registrar's config file names where its secrets are; a secret
// written in the file itself is refused, and a secret comes from its
// file or, without one, from the environment.
func TestRegistrarFileTakesSecretsFromFilesOrTheEnvironmentOnly(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	key := strings.Repeat("ab", 32)
	secret := write("secret", "s3cret\n")
	subjectKey := write("key", key+"\n")
	base := `"issuer": "https://idp.example", "client_id": "c", "redirect_url": "https://r.example/v1/login/callback"`

	cfg, err := ReadRegistrarFile(write("a.json", `{"oidc": {`+base+`, "client_secret_file": "`+secret+`", "subject_key_file": "`+subjectKey+`", "acr_values": ["eidas1"], "provider_name": "France Connect", "eligibility": {"min_age": 18}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ClientSecret != "s3cret" || len(cfg.SubjectKey) != 32 || cfg.Eligibility.MinAge != 18 || cfg.ACRValues[0] != "eidas1" || cfg.ProviderName != "France Connect" {
		t.Fatalf("read %+v", cfg)
	}
	if _, err := ReadRegistrarFile(write("b.json", `{"oidc": {`+base+`, "client_secret": "s3cret"}}`)); err == nil {
		t.Fatal("a secret in the config file itself was taken")
	}
	t.Setenv(ClientSecretEnv, "from-env")
	t.Setenv(SubjectKeyEnv, key)
	if cfg, err = ReadRegistrarFile(write("c.json", `{"oidc": {`+base+`}}`)); err != nil || cfg.ClientSecret != "from-env" {
		t.Fatalf("from the environment: %+v, %v", cfg, err)
	}
	t.Setenv(SubjectKeyEnv, "abcd")
	if _, err := ReadRegistrarFile(write("d.json", `{"oidc": {`+base+`}}`)); err == nil {
		t.Fatal("a 2-byte subject key was taken")
	}
	if cfg, err := ReadRegistrarFile(write("e.json", `{}`)); err != nil || cfg != nil {
		t.Fatalf("a file without a login: %+v, %v", cfg, err)
	}
}

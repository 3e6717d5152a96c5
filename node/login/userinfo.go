package login

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/client/rp"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/cocorico/node/ballot/registrar"
)

// maxUserinfoBytes bounds the userinfo answer read.
const maxUserinfoBytes = 64 << 10

// userinfo asks the provider's userinfo endpoint for the claims the
// eligibility rules read (OpenID Connect Core §5.3), for the subject sub
// of the ID token. The answer is JSON, or a JWT signed by the provider
// (§5.3.2; France Connect's version 2 answers so), whose signature,
// issuer and audience are then checked as an ID token's are. Its subject
// must be the ID token's (§5.3.4).
func (l *Login) userinfo(ctx context.Context, party rp.RelyingParty, accessToken, tokenType, sub string) (registrar.Claims, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, party.UserinfoEndpoint(), nil)
	if err != nil {
		return registrar.Claims{}, err
	}
	req.Header.Set("Authorization", tokenType+" "+accessToken)
	resp, err := party.HttpClient().Do(req)
	if err != nil {
		return registrar.Claims{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxUserinfoBytes))
	if err != nil {
		return registrar.Claims{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return registrar.Claims{}, fmt.Errorf("the provider answered %d", resp.StatusCode)
	}
	var info oidc.IDTokenClaims // the userinfo claims, and iss and aud when signed
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if ct == "application/jwt" {
		token := strings.TrimSpace(string(body))
		payload, err := oidc.ParseToken(token, &info)
		if err != nil {
			return registrar.Claims{}, err
		}
		v := party.IDTokenVerifier()
		if err := oidc.CheckSignature(ctx, token, payload, &info, v.SupportedSignAlgs, v.KeySet); err != nil {
			return registrar.Claims{}, err
		}
		if info.Issuer != v.Issuer || !slices.Contains(info.Audience, v.ClientID) {
			return registrar.Claims{}, fmt.Errorf("signed userinfo of issuer %q for %v, want %q for %q", info.Issuer, info.Audience, v.Issuer, v.ClientID)
		}
	} else if err := json.Unmarshal(body, &info); err != nil {
		return registrar.Claims{}, fmt.Errorf("userinfo: %w", err)
	}
	if info.Subject != sub {
		return registrar.Claims{}, rp.ErrUserInfoSubNotMatching
	}
	c := registrar.Claims{Birthdate: info.Birthdate}
	c.Birthplace, _ = info.Claims["birthplace"].(string)
	if info.Address != nil {
		c.PostalCode = info.Address.PostalCode
	}
	return c, nil
}

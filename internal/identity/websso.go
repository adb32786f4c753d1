package identity

import (
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"

	"github.com/sovcloud/sov/internal/identity/federation"
)

// WebSSO hands a federated login's Keystone token to a trusted dashboard
// the way Keystone does: a page whose form posts "token" to the origin.

// webSSOScript submits the form; the page's CSP allows this script alone.
const webSSOScript = `document.forms[0].submit()`

var (
	webSSOPage = template.Must(template.New("websso").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Signing in · sov</title></head>
<body><form method="post" action="{{.Origin}}"><input type="hidden" name="token" value="{{.Token}}">
<noscript><p>Scripts are off: press the button to continue.</p></noscript><button type="submit">Continue</button></form>
<script>` + webSSOScript + `</script></body></html>
`))
	webSSOScriptHash = func() string {
		h := sha256.Sum256([]byte(webSSOScript))
		return "'sha256-" + base64.StdEncoding.EncodeToString(h[:]) + "'"
	}()
)

// webSSOStart serves GET /v3/auth/OS-FEDERATION/identity_providers/{idp}/protocols/{protocol}/websso?origin=.
func (s *Service) webSSOStart(w http.ResponseWriter, r *http.Request) error {
	return s.fed.StartWebSSO(w, r, r.PathValue("idp_id"), r.PathValue("protocol_id"), r.URL.Query().Get("origin"), s.cfg.TrustedDashboards)
}

// webSSOFinish serves the redirect back from an OpenID Connect provider.
func (s *Service) webSSOFinish(w http.ResponseWriter, r *http.Request) error {
	login, origin, err := s.fed.FinishWebSSO(r)
	if err != nil {
		return err
	}
	return s.handToDashboard(w, r, login, origin)
}

// samlACS serves the SAML responses identity providers post back.
func (s *Service) samlACS(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	login, origin, err := s.fed.FinishSAML(r)
	if err != nil {
		return err
	}
	return s.handToDashboard(w, r, login, origin)
}

// handToDashboard makes the federated user's Keystone token and answers
// the page that posts it to the dashboard.
func (s *Service) handToDashboard(w http.ResponseWriter, r *http.Request, login *federation.Login, origin string) error {
	tok, err := s.federatedToken(r.Context(), login)
	if err != nil {
		return err
	}
	raw, err := s.keys.sign(tok)
	if err != nil {
		return err
	}
	o, _ := url.Parse(origin)
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src "+webSSOScriptHash+"; form-action "+o.Scheme+"://"+o.Host+"; frame-ancestors 'none'")
	return webSSOPage.Execute(w, map[string]string{"Origin": origin, "Token": raw})
}

package openid

import (
	"crypto/subtle"
	"embed"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/store"
)

//go:embed pages/*.html
var pages embed.FS

var loginTemplate = template.Must(template.ParseFS(pages, "pages/login.html"))

// csrfCookie carries the login form's CSRF token (double submit: the form
// must post back the value of the cookie, which another site can neither
// read nor set).
const csrfCookie = "sov_oidc_csrf"

// maxLoginForm bounds the login form's body.
const maxLoginForm = 16 << 10

type loginView struct {
	Client, Error, Notice, RequestID, CSRF, Action, Username, Domain string
	// Device is the device page: the user types the code their device shows.
	Device   bool
	UserCode string
	// Done says a device sign-in is complete.
	Done bool
	// Consent is the consent page: what the client asks for.
	Consent bool
	Asks    []string
}

// scopeWords say what each scope lets a client know, on the consent page.
var scopeWords = map[string]string{
	"openid":         "know who you are (your user id)",
	"profile":        "see your name and domain",
	"email":          "see your email address",
	"groups":         "see the groups you are in",
	"projects":       "see your projects and your roles in them",
	"offline_access": "stay signed in when you are away (refresh tokens)",
}

const expired = "This sign-in request is unknown or has expired. Go back to the application and start again."

// loginPage serves the login form of an authorization request.
func (p *Provider) loginPage(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("authRequestID")
	view := loginView{RequestID: id, Action: p.loginPath, Domain: "Default"}
	a, err := p.authRequest(r.Context(), `id = ? AND user_id = ''`, id)
	if err != nil {
		view.RequestID, view.Error = "", expired
		p.render(w, r, http.StatusBadRequest, view)
		return
	}
	if c, err := p.client(r.Context(), a.ClientID); err == nil {
		view.Client = c.Name
	}
	view.Username = a.LoginHint
	p.render(w, r, http.StatusOK, view)
}

// login checks the posted credentials; on success the authorization
// request is done and the browser goes back to the provider, which sends
// it on to the client with a code.
func (p *Provider) login(w http.ResponseWriter, r *http.Request) {
	view, ok := p.readForm(w, r, loginView{Action: p.loginPath})
	if !ok {
		return
	}
	ctx := r.Context()
	view.RequestID = r.PostForm.Get("authRequestID")
	a, err := p.authRequest(ctx, `id = ? AND user_id = ''`, view.RequestID)
	if err != nil {
		view.RequestID, view.Error = "", expired
		p.render(w, r, http.StatusBadRequest, view)
		return
	}
	c, err := p.client(ctx, a.ClientID)
	if err != nil {
		view.RequestID, view.Error = "", expired
		p.render(w, r, http.StatusBadRequest, view)
		return
	}
	view.Client = c.Name
	userID, ok := p.checkPassword(w, r, &view, c)
	if !ok {
		return
	}
	if c.RequireConsent {
		if err := store.Affected(p.db.Exec(ctx, `UPDATE oidc_auth_requests SET consent_user = ? WHERE id = ? AND user_id = ''`, userID, view.RequestID)); err != nil {
			view.RequestID, view.Error = "", expired
			p.render(w, r, http.StatusBadRequest, view)
			return
		}
		consent := loginView{Consent: true, Client: c.Name, RequestID: view.RequestID, Action: p.consentPath}
		for _, scope := range a.Scopes {
			if words, ok := scopeWords[scope]; ok {
				consent.Asks = append(consent.Asks, words)
			}
		}
		p.render(w, r, http.StatusOK, consent)
		return
	}
	if err := p.finishLogin(ctx, view.RequestID, userID, []string{"pwd"}); err != nil {
		view.RequestID, view.Error = "", expired
		p.render(w, r, http.StatusBadRequest, view)
		return
	}
	http.Redirect(w, r, p.cfg.Issuer+"/oidc/authorize/callback?id="+view.RequestID, http.StatusSeeOther)
}

// consent takes the answer of the consent page: allow finishes the sign-in,
// deny sends the browser back to the client with access_denied.
func (p *Provider) consent(w http.ResponseWriter, r *http.Request) {
	view, ok := p.readForm(w, r, loginView{Action: p.loginPath})
	if !ok {
		return
	}
	ctx, id := r.Context(), r.PostForm.Get("authRequestID")
	a, err := p.authRequest(ctx, `id = ? AND user_id = '' AND consent_user <> ''`, id)
	if err != nil {
		view.Error = expired
		p.render(w, r, http.StatusBadRequest, view)
		return
	}
	var userID string
	if err := p.db.QueryRow(ctx, `SELECT consent_user FROM oidc_auth_requests WHERE id = ?`, id).Scan(&userID); err != nil {
		view.Error = expired
		p.render(w, r, http.StatusBadRequest, view)
		return
	}
	if r.PostForm.Get("decision") != "allow" {
		p.DeleteAuthRequest(ctx, id)
		u, err := url.Parse(a.RedirectURI)
		if err != nil {
			view.Error = expired
			p.render(w, r, http.StatusBadRequest, view)
			return
		}
		q := u.Query()
		q.Set("error", "access_denied")
		q.Set("error_description", "the user did not allow it")
		if a.State != "" {
			q.Set("state", a.State)
		}
		u.RawQuery = q.Encode()
		http.Redirect(w, r, u.String(), http.StatusSeeOther)
		return
	}
	if err := p.finishLogin(ctx, id, userID, []string{"pwd"}); err != nil {
		view.Error = expired
		p.render(w, r, http.StatusBadRequest, view)
		return
	}
	http.Redirect(w, r, p.cfg.Issuer+"/oidc/authorize/callback?id="+id, http.StatusSeeOther)
}

// readForm reads a posted form and checks its CSRF token; when it fails
// it has answered already.
func (p *Provider) readForm(w http.ResponseWriter, r *http.Request, view loginView) (loginView, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginForm)
	if err := r.ParseForm(); err != nil {
		view.Error = "The form could not be read."
		p.render(w, r, http.StatusBadRequest, view)
		return view, false
	}
	view.Username, view.Domain = r.PostForm.Get("username"), r.PostForm.Get("domain")
	cookie, err := r.Cookie(csrfCookie)
	if err != nil || cookie.Value == "" || subtle.ConstantTimeCompare([]byte(cookie.Value), []byte(r.PostForm.Get("csrf"))) != 1 {
		view.Error = "The form has expired or did not come from this page. Please sign in again."
		p.render(w, r, http.StatusForbidden, view)
		return view, false
	}
	return view, true
}

// checkPassword checks the form's user name, password and domain; when
// they fail it has answered already, with the page and the reason.
func (p *Provider) checkPassword(w http.ResponseWriter, r *http.Request, view *loginView, c *client) (string, bool) {
	userID, err := p.dir.CheckPassword(r.Context(), view.Domain, view.Username, r.PostForm.Get("password"), r.PostForm.Get("code"), r.RemoteAddr)
	if err == nil && c.DomainID != "" {
		// A domain's client serves that domain's users only.
		var person *Person
		if person, err = p.dir.Person(r.Context(), userID); err == nil && person.DomainID != c.DomainID {
			view.Error = "This application is for the users of another domain."
			p.render(w, r, http.StatusForbidden, *view)
			return "", false
		}
	}
	if err == nil {
		return userID, true
	}
	status, msg := http.StatusUnauthorized, "The user name, password, domain or authenticator code is wrong."
	if code, m, ok := httpapi.Status(err); ok && code != http.StatusUnauthorized && code != http.StatusBadRequest && code != http.StatusNotFound {
		status, msg = code, m
	} else if !ok {
		status, msg = http.StatusServiceUnavailable, "Signing in is not possible right now. Please try again later."
		p.log.Error("OIDC login", "error", err)
	}
	view.Error = msg
	p.render(w, r, status, *view)
	return "", false
}

// render writes the login page with a fresh CSRF token and headers that
// keep it out of frames and caches.
func (p *Provider) render(w http.ResponseWriter, r *http.Request, status int, view loginView) {
	view.CSRF = randomSecret()
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: view.CSRF, Path: p.base + "/oidc/", HttpOnly: true,
		Secure: strings.HasPrefix(p.cfg.Issuer, "https://"), SameSite: http.SameSiteStrictMode, MaxAge: int(authRequestLifetime.Seconds())})
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'")
	w.WriteHeader(status)
	if err := loginTemplate.Execute(w, view); err != nil {
		p.log.Error("OIDC login page", "error", err)
	}
}

// loggedOut is where end-session sends a browser that named no
// post-logout redirect URI.
func (p *Provider) loggedOut(w http.ResponseWriter, r *http.Request) {
	p.render(w, r, http.StatusOK, loginView{Notice: "You are signed out."})
}

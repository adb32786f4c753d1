package federation

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"encoding/xml"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/crewjam/saml"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/identity/mapping"
	"github.com/sovcloud/sov/internal/store"
)

// SAML 2.0 (the "saml2" protocol): sov is one service provider, with a key
// and certificate of its own (sealed in the store, made at first use), its
// metadata at SAMLMetadataPath and its assertion consumer service at
// SAMLACSPath (HTTP-POST). An identity provider's "saml" settings hold its
// metadata: a single EntityDescriptor, or a signed aggregate (a national
// federation's EntitiesDescriptor) with the certificate that signs it,
// from which the entity named by entity_id (default the first remote id)
// is taken. Logins are SP-initiated WebSSO: crewjam/saml checks the
// response's signature, audience, validity, destination and that it
// answers the request sov made (each request is answered once).

// SAML endpoints below the public URL.
const (
	SAMLMetadataPath = "/identity/saml2/metadata"
	SAMLACSPath      = "/identity/saml2/acs"
)

// SAMLSettings are an identity provider's SAML settings.
type SAMLSettings struct {
	// Metadata is the provider's metadata XML, or an aggregate's.
	Metadata string `json:"metadata,omitempty"`
	// SigningCertificate is PEM of the certificate an aggregate is signed
	// with; an aggregate without one is refused.
	SigningCertificate string `json:"metadata_signing_certificate,omitempty"`
	// EntityID picks the provider out of an aggregate (default the first
	// remote id).
	EntityID string `json:"entity_id,omitempty"`
}

// entity returns the provider's EntityDescriptor from its settings.
func (s SAMLSettings) entity(remoteIDs []string) (*saml.EntityDescriptor, error) {
	if s.Metadata == "" {
		return nil, errors.New("no saml.metadata")
	}
	data := []byte(s.Metadata)
	root := struct {
		XMLName xml.Name
	}{}
	if err := xml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("saml.metadata is not XML: %v", err)
	}
	if s.SigningCertificate != "" {
		block, _ := pem.Decode([]byte(s.SigningCertificate))
		if block == nil {
			return nil, errors.New("saml.metadata_signing_certificate is not PEM")
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("saml.metadata_signing_certificate: %v", err)
		}
		if data, err = saml.VerifyMetadataSignature(data, []*x509.Certificate{cert}); err != nil {
			return nil, fmt.Errorf("saml.metadata's signature: %v", err)
		}
	} else if root.XMLName.Local == "EntitiesDescriptor" {
		return nil, errors.New("an aggregate (EntitiesDescriptor) needs saml.metadata_signing_certificate")
	}
	want := s.EntityID
	if want == "" && len(remoteIDs) > 0 {
		want = remoteIDs[0]
	}
	var entities []saml.EntityDescriptor
	if root.XMLName.Local == "EntitiesDescriptor" {
		var agg saml.EntitiesDescriptor
		if err := xml.Unmarshal(data, &agg); err != nil {
			return nil, fmt.Errorf("saml.metadata: %v", err)
		}
		entities = agg.EntityDescriptors
	} else {
		var e saml.EntityDescriptor
		if err := xml.Unmarshal(data, &e); err != nil {
			return nil, fmt.Errorf("saml.metadata: %v", err)
		}
		entities = []saml.EntityDescriptor{e}
	}
	for i := range entities {
		if e := &entities[i]; e.EntityID == want && len(e.IDPSSODescriptors) > 0 {
			return e, nil
		}
	}
	return nil, fmt.Errorf("saml.metadata has no identity provider %q", want)
}

// spIdentity is sov's key and certificate as a service provider.
type spIdentity struct {
	once sync.Mutex
	key  *rsa.PrivateKey
	cert *x509.Certificate
}

// spKey returns the service provider's key and certificate, made and
// stored (the key sealed under the master key) at first use.
func (f *Federation) spKey(ctx context.Context) (*rsa.PrivateKey, *x509.Certificate, error) {
	f.sp.once.Lock()
	defer f.sp.once.Unlock()
	if f.sp.key != nil {
		return f.sp.key, f.sp.cert, nil
	}
	var sealed, certPEM string
	err := f.db.QueryRow(ctx, `SELECT private_key, certificate FROM fed_saml_sp WHERE id = 'sp'`).Scan(&sealed, &certPEM)
	if errors.Is(store.Row(err), store.ErrNotFound) {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, nil, err
		}
		serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
		tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: f.publicURL + SAMLMetadataPath},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(10 * 365 * 24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			return nil, nil, err
		}
		certPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
		sealed = f.kek.Seal(x509.MarshalPKCS1PrivateKey(key), "saml_sp_key")
		if _, err := f.db.Exec(ctx, `INSERT INTO fed_saml_sp (id, private_key, certificate) VALUES ('sp', ?, ?) ON CONFLICT (id) DO NOTHING`, sealed, certPEM); err != nil {
			return nil, nil, err
		}
		// Another server may have been first: read back what is stored.
		if err := f.db.QueryRow(ctx, `SELECT private_key, certificate FROM fed_saml_sp WHERE id = 'sp'`).Scan(&sealed, &certPEM); err != nil {
			return nil, nil, err
		}
	} else if err != nil {
		return nil, nil, err
	}
	der, err := f.kek.Open(sealed, "saml_sp_key")
	if err != nil {
		return nil, nil, err
	}
	key, err := x509.ParsePKCS1PrivateKey(der)
	if err != nil {
		return nil, nil, err
	}
	block, _ := pem.Decode([]byte(certPEM))
	if block == nil {
		return nil, nil, errors.New("federation: the SAML certificate is not PEM")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, nil, err
	}
	f.sp.key, f.sp.cert = key, cert
	return key, cert, nil
}

// serviceProvider is sov as the service provider of an identity provider
// (nil idp: for the metadata alone).
func (f *Federation) serviceProvider(ctx context.Context, idp *saml.EntityDescriptor) (*saml.ServiceProvider, error) {
	key, cert, err := f.spKey(ctx)
	if err != nil {
		return nil, err
	}
	md, _ := url.Parse(f.publicURL + SAMLMetadataPath)
	acs, _ := url.Parse(f.publicURL + SAMLACSPath)
	return &saml.ServiceProvider{EntityID: md.String(), Key: key, Certificate: cert, MetadataURL: *md, AcsURL: *acs, IDPMetadata: idp}, nil
}

// SAMLMetadata serves the service provider's metadata, for identity
// providers and federations to register sov with.
func (f *Federation) SAMLMetadata(w http.ResponseWriter, r *http.Request) error {
	sp, err := f.serviceProvider(r.Context(), nil)
	if err != nil {
		return err
	}
	b, err := xml.MarshalIndent(sp.Metadata(), "", "  ")
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/samlmetadata+xml")
	w.Write(b)
	return nil
}

// startSAML sends the browser to the provider's single sign-on service
// with an AuthnRequest whose id is kept with the login under way.
func (f *Federation) startSAML(w http.ResponseWriter, r *http.Request, p *IdentityProvider, protocolID, origin string) error {
	idp, err := p.SAML.entity(p.RemoteIDs)
	if err != nil {
		return httpapi.Errorf(http.StatusBadRequest, "Identity provider %s: %v.", p.ID, err)
	}
	sp, err := f.serviceProvider(r.Context(), idp)
	if err != nil {
		return err
	}
	req, err := sp.MakeAuthenticationRequest(sp.GetSSOBindingLocation(saml.HTTPRedirectBinding), saml.HTTPRedirectBinding, saml.HTTPPostBinding)
	if err != nil {
		return httpapi.Errorf(http.StatusBadRequest, "Identity provider %s: %v.", p.ID, err)
	}
	state := randomString()
	if err := f.saveState(r.Context(), state, p.ID, protocolID, origin, req.ID, ""); err != nil {
		return err
	}
	u, err := req.Redirect(state, sp)
	if err != nil {
		return err
	}
	http.Redirect(w, r, u.String(), http.StatusFound)
	return nil
}

// FinishSAML takes a SAML response posted to the assertion consumer
// service: its RelayState names the login under way (good once), whose
// request it must answer; its attributes go through the protocol's mapping.
func (f *Federation) FinishSAML(r *http.Request) (*Login, string, error) {
	if err := r.ParseForm(); err != nil {
		return nil, "", httpapi.Errorf(http.StatusBadRequest, "The SAML response could not be read.")
	}
	st, err := f.takeState(r.Context(), r.PostForm.Get("RelayState"))
	if err != nil {
		return nil, "", err
	}
	p, mappingID, err := f.protocolOf(r.Context(), st.idp, st.protocol)
	if err != nil {
		return nil, "", err
	}
	idp, err := p.SAML.entity(p.RemoteIDs)
	if err != nil {
		return nil, "", httpapi.Errorf(http.StatusBadRequest, "Identity provider %s: %v.", p.ID, err)
	}
	sp, err := f.serviceProvider(r.Context(), idp)
	if err != nil {
		return nil, "", err
	}
	assertion, err := sp.ParseResponse(r, []string{st.verifier})
	if err != nil {
		var ie *saml.InvalidResponseError
		if errors.As(err, &ie) {
			err = ie.PrivateErr
		}
		f.log.Info("SAML response refused", "idp", p.ID, "reason", err)
		return nil, "", unauthorized("The SAML response is not valid for this identity provider.")
	}
	a := samlAssertion(assertion)
	claims := map[string]any{}
	for k, v := range a {
		claims[k] = v
	}
	login, err := f.mapLogin(r.Context(), p, st.protocol, mappingID, a, claims)
	return login, st.origin, err
}

// samlAssertion makes an assertion's attributes the mapping's assertion:
// each attribute under its Name and its FriendlyName, and the subject's
// NameID under "NameID".
func samlAssertion(a *saml.Assertion) mapping.Assertion {
	out := mapping.Assertion{}
	if a.Subject != nil && a.Subject.NameID != nil {
		out["NameID"] = []string{a.Subject.NameID.Value}
	}
	for _, st := range a.AttributeStatements {
		for _, attr := range st.Attributes {
			for _, v := range attr.Values {
				for _, k := range []string{attr.Name, attr.FriendlyName} {
					if k != "" && len(out[k]) < maxAssertionValues {
						out[k] = append(out[k], v.Value)
					}
				}
			}
		}
	}
	return out
}

// validSAML checks SAML settings before they are stored.
func validSAML(s *SAMLSettings, remoteIDs []string) error {
	if s == nil || s.Metadata == "" {
		return nil
	}
	if len(s.Metadata) > 8<<20 {
		return errors.New("saml.metadata is larger than 8 MiB")
	}
	_, err := s.entity(remoteIDs)
	return err
}

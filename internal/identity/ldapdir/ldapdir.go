// Package ldapdir reads users and groups from an LDAP directory (OpenLDAP,
// Active Directory) for a domain whose identity backend it is, read-only,
// with Keystone's domain configuration options, and checks passwords by
// binding as the user. It speaks LDAP through go-ldap.
package ldapdir

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Config is the "ldap" group of a Keystone domain configuration (the
// options sov reads).
type Config struct {
	URL                  string `json:"url"`
	User                 string `json:"user,omitempty"`
	Password             string `json:"password,omitempty"`
	Suffix               string `json:"suffix,omitempty"`
	UserTreeDN           string `json:"user_tree_dn,omitempty"`
	UserObjectClass      string `json:"user_objectclass,omitempty"`
	UserIDAttribute      string `json:"user_id_attribute,omitempty"`
	UserNameAttribute    string `json:"user_name_attribute,omitempty"`
	UserMailAttribute    string `json:"user_mail_attribute,omitempty"`
	UserFilter           string `json:"user_filter,omitempty"`
	GroupTreeDN          string `json:"group_tree_dn,omitempty"`
	GroupObjectClass     string `json:"group_objectclass,omitempty"`
	GroupIDAttribute     string `json:"group_id_attribute,omitempty"`
	GroupNameAttribute   string `json:"group_name_attribute,omitempty"`
	GroupMemberAttribute string `json:"group_member_attribute,omitempty"`
	// UseTLS is StartTLS on an ldap:// URL (ldaps:// is TLS from the start).
	UseTLS bool `json:"use_tls,omitempty"`
	// TLSCACert is PEM of the CAs of the directory's certificate (sov's
	// form of Keystone's tls_cacertfile); empty means the system's.
	TLSCACert string `json:"tls_cacert,omitempty"`
}

// withDefaults fills in Keystone's defaults.
func (c Config) withDefaults() Config {
	def := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	def(&c.UserTreeDN, "ou=Users,"+c.Suffix)
	def(&c.UserObjectClass, "inetOrgPerson")
	def(&c.UserIDAttribute, "cn")
	def(&c.UserNameAttribute, "sn")
	def(&c.UserMailAttribute, "mail")
	def(&c.GroupTreeDN, "ou=UserGroups,"+c.Suffix)
	def(&c.GroupObjectClass, "groupOfNames")
	def(&c.GroupIDAttribute, "cn")
	def(&c.GroupNameAttribute, "ou")
	def(&c.GroupMemberAttribute, "member")
	return c
}

// Validate checks a configuration before it is stored.
func (c Config) Validate() error {
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "ldap" && u.Scheme != "ldaps") || u.Host == "" {
		return fmt.Errorf("ldap.url %q: want ldap://host[:port] or ldaps://host[:port]", c.URL)
	}
	if c.Suffix == "" && (c.UserTreeDN == "" || c.GroupTreeDN == "") {
		return errors.New("ldap.suffix (or both ldap.user_tree_dn and ldap.group_tree_dn) is required")
	}
	for name, dn := range map[string]string{"suffix": c.Suffix, "user_tree_dn": c.UserTreeDN, "group_tree_dn": c.GroupTreeDN, "user": c.User} {
		if dn != "" {
			if _, err := ldap.ParseDN(dn); err != nil {
				return fmt.Errorf("ldap.%s %q is not a DN", name, dn)
			}
		}
	}
	if c.UserFilter != "" {
		if _, err := ldap.CompileFilter(c.UserFilter); err != nil {
			return fmt.Errorf("ldap.user_filter: %v", err)
		}
	}
	if c.TLSCACert != "" && !x509.NewCertPool().AppendCertsFromPEM([]byte(c.TLSCACert)) {
		return errors.New("ldap.tls_cacert holds no PEM certificate")
	}
	return nil
}

// User is a user of the directory.
type User struct {
	DN, ID, Name, Email string
}

// Group is a group of the directory with its members' ids.
type Group struct {
	DN, ID, Name string
	Members      []string
}

// ErrBadCredentials is a wrong user name or password.
var ErrBadCredentials = errors.New("ldapdir: wrong user name or password")

// Directory is one domain's LDAP directory.
type Directory struct {
	cfg Config
}

// New returns the directory of a configuration.
func New(cfg Config) *Directory { return &Directory{cfg: cfg.withDefaults()} }

// timeout bounds each LDAP conversation.
const timeout = 10 * time.Second

// dial connects (with TLS as configured) and binds as the service account,
// or anonymously when there is none.
func (d *Directory) dial(ctx context.Context) (*ldap.Conn, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if d.cfg.TLSCACert != "" {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM([]byte(d.cfg.TLSCACert))
		tc.RootCAs = pool
	}
	u, _ := url.Parse(d.cfg.URL)
	tc.ServerName = u.Hostname()
	conn, err := ldap.DialURL(d.cfg.URL, ldap.DialWithTLSConfig(tc))
	if err != nil {
		return nil, fmt.Errorf("ldapdir: %w", err)
	}
	conn.SetTimeout(timeout)
	if d.cfg.UseTLS && u.Scheme == "ldap" {
		if err := conn.StartTLS(tc); err != nil {
			conn.Close()
			return nil, fmt.Errorf("ldapdir: StartTLS: %w", err)
		}
	}
	if d.cfg.User != "" {
		err = conn.Bind(d.cfg.User, d.cfg.Password)
	} else {
		err = conn.UnauthenticatedBind("")
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("ldapdir: bind as the service account: %w", err)
	}
	return conn, nil
}

func (d *Directory) userFilter(extra string) string {
	f := "(objectClass=" + ldap.EscapeFilter(d.cfg.UserObjectClass) + ")"
	if d.cfg.UserFilter != "" {
		f += d.cfg.UserFilter
	}
	return "(&" + f + extra + ")"
}

func (d *Directory) users(conn *ldap.Conn, filter string) ([]User, error) {
	c := d.cfg
	res, err := conn.SearchWithPaging(ldap.NewSearchRequest(c.UserTreeDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, int(timeout.Seconds()), false,
		filter, []string{c.UserIDAttribute, c.UserNameAttribute, c.UserMailAttribute}, nil), 500)
	if err != nil {
		return nil, fmt.Errorf("ldapdir: search users: %w", err)
	}
	var out []User
	for _, e := range res.Entries {
		u := User{DN: e.DN, ID: e.GetAttributeValue(c.UserIDAttribute), Name: e.GetAttributeValue(c.UserNameAttribute), Email: e.GetAttributeValue(c.UserMailAttribute)}
		if u.ID != "" && u.Name != "" {
			out = append(out, u)
		}
	}
	return out, nil
}

// Snapshot reads every user and group of the directory.
func (d *Directory) Snapshot(ctx context.Context) ([]User, []Group, error) {
	conn, err := d.dial(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer conn.Close()
	users, err := d.users(conn, d.userFilter(""))
	if err != nil {
		return nil, nil, err
	}
	byDN := map[string]string{}
	for _, u := range users {
		byDN[strings.ToLower(u.DN)] = u.ID
	}
	c := d.cfg
	res, err := conn.SearchWithPaging(ldap.NewSearchRequest(c.GroupTreeDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, int(timeout.Seconds()), false,
		"(objectClass="+ldap.EscapeFilter(c.GroupObjectClass)+")", []string{c.GroupIDAttribute, c.GroupNameAttribute, c.GroupMemberAttribute}, nil), 500)
	if err != nil {
		return nil, nil, fmt.Errorf("ldapdir: search groups: %w", err)
	}
	var groups []Group
	for _, e := range res.Entries {
		g := Group{DN: e.DN, ID: e.GetAttributeValue(c.GroupIDAttribute), Name: e.GetAttributeValue(c.GroupNameAttribute)}
		if g.Name == "" {
			g.Name = g.ID
		}
		for _, m := range e.GetAttributeValues(c.GroupMemberAttribute) {
			if id, ok := byDN[strings.ToLower(m)]; ok {
				g.Members = append(g.Members, id)
			}
		}
		if g.ID != "" {
			groups = append(groups, g)
		}
	}
	return users, groups, nil
}

// Authenticate finds the user of that name and binds as them with the
// password: the directory checks it. An empty password is refused before
// any bind (LDAP would take it as an anonymous bind and succeed).
func (d *Directory) Authenticate(ctx context.Context, name, password string) (*User, error) {
	if password == "" || name == "" {
		return nil, ErrBadCredentials
	}
	conn, err := d.dial(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	users, err := d.users(conn, d.userFilter("("+ldap.EscapeFilter(d.cfg.UserNameAttribute)+"="+ldap.EscapeFilter(name)+")"))
	if err != nil {
		return nil, err
	}
	if len(users) != 1 {
		return nil, ErrBadCredentials
	}
	if err := conn.Bind(users[0].DN, password); err != nil {
		if ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
			return nil, ErrBadCredentials
		}
		return nil, fmt.Errorf("ldapdir: bind as %s: %w", users[0].DN, err)
	}
	return &users[0], nil
}

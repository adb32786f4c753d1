package servertest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/sovcloud/sov/internal/localca"
)

// SlapdAdmin and SlapdPassword are the service account of a Slapd
// directory (its root DN), under the suffix dc=example,dc=org.
const (
	SlapdSuffix   = "dc=example,dc=org"
	SlapdAdmin    = "cn=admin," + SlapdSuffix
	SlapdPassword = "slapd-secret"
)

// Slapd runs an OpenLDAP server (Debian's slapd) for the test, on a free
// loopback port, offering StartTLS with a certificate of a CA made for it,
// with the entries of ldif loaded under SlapdSuffix. Anonymous clients may
// only bind. It returns the ldap:// URL and the CA's PEM; the server stops
// when the test ends.
func Slapd(t testing.TB, ldif string) (url, caPEM string) {
	t.Helper()
	bin, err := exec.LookPath("slapd")
	if err != nil {
		bin = "/usr/sbin/slapd"
		if _, err := os.Stat(bin); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatal("slapd is required in CI")
			}
			t.Skip("slapd not installed")
		}
	}
	dir := t.TempDir()
	tlsFiles, err := localca.Ensure(filepath.Join(dir, "tls"), []string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "db"), 0o700)
	conf := filepath.Join(dir, "slapd.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf(`include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile %[1]s/slapd.pid
TLSCACertificateFile %[2]s
TLSCertificateFile %[3]s
TLSCertificateKeyFile %[4]s
database mdb
maxsize 104857600
suffix "%[5]s"
rootdn "%[6]s"
rootpw %[7]s
directory %[1]s/db
access to attrs=userPassword by self write by anonymous auth by * none
access to * by users read by anonymous auth
`, dir, tlsFiles.CA, tlsFiles.Cert, tlsFiles.Key, SlapdSuffix, SlapdAdmin, SlapdPassword)), 0o600)
	data := filepath.Join(dir, "data.ldif")
	os.WriteFile(data, []byte(ldif), 0o600)
	slapadd := filepath.Join(filepath.Dir(bin), "slapadd")
	if out, err := exec.Command(slapadd, "-f", conf, "-l", data).CombinedOutput(); err != nil {
		t.Fatalf("slapadd: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	// -d keeps slapd in the foreground, where the test can stop it.
	cmd := exec.Command(bin, "-f", conf, "-h", "ldap://"+addr+"/", "-d", "0")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slapd did not listen on %s", addr)
		}
	}
	ca, _ := os.ReadFile(tlsFiles.CA)
	return "ldap://" + addr, string(ca)
}

// LDAPPeople is a small directory for Slapd: the people ada (u1001, with
// mail) and bob (u1002), ada in the group researchers (g1).
const LDAPPeople = `dn: dc=example,dc=org
objectClass: dcObject
objectClass: organization
o: Example
dc: example

dn: ou=Users,dc=example,dc=org
objectClass: organizationalUnit
ou: Users

dn: ou=UserGroups,dc=example,dc=org
objectClass: organizationalUnit
ou: UserGroups

dn: cn=u1001,ou=Users,dc=example,dc=org
objectClass: inetOrgPerson
cn: u1001
sn: ada
mail: ada@example.org
userPassword: ada-pw

dn: cn=u1002,ou=Users,dc=example,dc=org
objectClass: inetOrgPerson
cn: u1002
sn: bob
userPassword: bob-pw

dn: cn=g1,ou=UserGroups,dc=example,dc=org
objectClass: groupOfNames
cn: g1
ou: researchers
member: cn=u1001,ou=Users,dc=example,dc=org
`

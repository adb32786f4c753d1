package identity

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/sovcloud/sov/internal/policy"
)

// ErrUnknownAccessKey is returned by LookupEC2 for an access key that does
// not exist or whose user can no longer use it.
var ErrUnknownAccessKey = errors.New("identity: unknown or unusable access key")

// EC2Credential is what S3 needs to know about an access key.
type EC2Credential struct {
	Secret    string
	UserID    string
	ProjectID string
	// Roles are the user's current role names on the project, implied ones included.
	Roles []string
}

// ec2Cache keeps looked-up EC2 credentials for a few seconds, so that a
// stream of S3 requests does not read and decrypt the credential each time.
type ec2Cache struct {
	mu      sync.Mutex // protects entries
	entries map[string]ec2Entry
}

type ec2Entry struct {
	cred    *EC2Credential
	expires time.Time
}

const ec2CacheTTL = 5 * time.Second

// LookupEC2 resolves an access key to its secret, owner and project. The
// user must be enabled and still hold a role on an enabled project.
func (s *Service) LookupEC2(ctx context.Context, access string) (*EC2Credential, error) {
	now := time.Now()
	s.ec2.mu.Lock()
	e, ok := s.ec2.entries[access]
	s.ec2.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.cred, nil
	}
	cred, err := s.lookupEC2(ctx, access)
	if err != nil {
		return nil, err
	}
	s.ec2.mu.Lock()
	if s.ec2.entries == nil || len(s.ec2.entries) > 10_000 {
		s.ec2.entries = map[string]ec2Entry{}
	}
	s.ec2.entries[access] = ec2Entry{cred: cred, expires: now.Add(ec2CacheTTL)}
	s.ec2.mu.Unlock()
	return cred, nil
}

func (s *Service) forgetEC2(access string) {
	s.ec2.mu.Lock()
	delete(s.ec2.entries, access)
	s.ec2.mu.Unlock()
}

func (s *Service) forgetAllEC2() {
	s.ec2.mu.Lock()
	s.ec2.entries = nil
	s.ec2.mu.Unlock()
}

func (s *Service) lookupEC2(ctx context.Context, access string) (*EC2Credential, error) {
	cs, err := s.scanCredentials(ctx, `WHERE id = ? AND type = 'ec2'`, ec2ID(access))
	if err != nil {
		return nil, err
	}
	if len(cs) == 0 {
		return nil, ErrUnknownAccessKey
	}
	var blob ec2Blob
	if err := json.Unmarshal([]byte(cs[0].Blob), &blob); err != nil || blob.Access != access {
		return nil, ErrUnknownAccessKey
	}
	u, err := s.getUser(ctx, cs[0].UserID)
	if err != nil || !u.Enabled {
		return nil, ErrUnknownAccessKey
	}
	p, err := s.getProject(ctx, cs[0].ProjectID)
	if err != nil || !p.Enabled {
		return nil, ErrUnknownAccessKey
	}
	if id := cs[0].AppCredID; id != "" {
		a, err := scanAppCred(s.db.QueryRow(ctx, `SELECT `+appCredColumns+` FROM app_credentials WHERE id = ?`, id))
		if err != nil || (a.ExpiresAt != 0 && time.Now().Unix() >= a.ExpiresAt) {
			return nil, ErrUnknownAccessKey
		}
	}
	roles, err := s.userRoles(ctx, u.ID, "project", p.ID, p.DomainID)
	if err != nil {
		return nil, err
	}
	cred := &EC2Credential{Secret: blob.Secret, UserID: u.ID, ProjectID: p.ID}
	for _, r := range roles {
		if cs[0].RoleCap == nil || slices.Contains(cs[0].RoleCap, r.ID) {
			cred.Roles = append(cred.Roles, r.Name)
		}
	}
	if !slices.Contains(cred.Roles, policy.Reader) {
		return nil, ErrUnknownAccessKey
	}
	return cred, nil
}

package identity

import (
	"context"
	"encoding/base32"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// TOTP (RFC 6238) as Keystone has it: a credential of type "totp" whose
// blob is the user's base32 secret; the "totp" auth method; and, in the
// OpenID Connect login page, the code a user with such a credential must
// give beside the password.

// totpOpts are Keystone's: 6 digits, 30 s steps, SHA-1, one step of skew.
var totpOpts = totp.ValidateOpts{Period: 30, Skew: 1, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// validTOTPSecret checks a TOTP credential's blob: base32, at least 80 bits.
func validTOTPSecret(blob string) bool {
	b, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(strings.TrimRight(blob, "=")))
	return err == nil && len(b) >= 10
}

// usedCodes remembers the passcodes accepted lately, so that one is not
// accepted twice (a code seen over a shoulder, or replayed).
type usedCodes struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

func (u *usedCodes) take(userID, code string, now time.Time) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.seen == nil || len(u.seen) > 100_000 {
		u.seen = map[string]time.Time{}
	}
	for k, at := range u.seen {
		if now.Sub(at) > 2*time.Minute {
			delete(u.seen, k)
		}
	}
	key := userID + "/" + code
	if _, ok := u.seen[key]; ok {
		return false
	}
	u.seen[key] = now
	return true
}

// totpSecrets returns the TOTP secrets of a user.
func (s *Service) totpSecrets(ctx context.Context, userID string) ([]string, error) {
	cs, err := s.scanCredentials(ctx, `WHERE user_id = ? AND type = 'totp' ORDER BY id`, userID)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, c := range cs {
		out = append(out, c.Blob)
	}
	return out, nil
}

// checkTOTP reports whether passcode is a current code of one of the
// user's TOTP secrets, not used before.
func (s *Service) checkTOTP(ctx context.Context, userID, passcode string) (bool, error) {
	secrets, err := s.totpSecrets(ctx, userID)
	if err != nil || passcode == "" {
		return false, err
	}
	now := time.Now()
	for _, secret := range secrets {
		if ok, _ := totp.ValidateCustom(passcode, strings.ToUpper(secret), now, totpOpts); ok {
			return s.codes.take(userID, passcode, now), nil
		}
	}
	return false, nil
}

// secondFactor checks a passcode of a user whose password was right, with
// failure limits of its own: a known password does not open unlimited
// guessing of codes.
func (s *Service) secondFactor(ctx context.Context, userID, passcode, source string) (bool, error) {
	key := "totp-user:" + userID
	if err := s.guard.reserve(source, key); err != nil {
		return false, err
	}
	ok, err := s.checkTOTP(ctx, userID, passcode)
	if ok {
		s.guard.release(source, key)
	}
	return ok, err
}

// authTOTP authenticates a user by a TOTP passcode alone (Keystone's
// "totp" method), with the password's failure limits.
func (s *Service) authTOTP(ctx context.Context, ref *userRef, passcode, source string) (*user, error) {
	denied := unauthorized("The request you have made requires authentication.")
	refKey := "totp:" + ref.ID + "/" + ref.Name
	if err := s.guard.reserve(source, refKey); err != nil {
		return nil, err
	}
	u, err := s.findUser(ctx, ref)
	if err != nil {
		return nil, denied
	}
	userKey := "user:" + u.ID
	if err := s.guard.reserve(userKey); err != nil {
		return nil, err
	}
	ok, err := s.checkTOTP(ctx, u.ID, passcode)
	if err != nil {
		return nil, err
	}
	if !ok || !u.Enabled {
		return nil, denied
	}
	s.guard.release(source, refKey, userKey)
	return u, nil
}

// userOptions are Keystone's user options sov keeps.
type userOptions struct {
	MFAEnabled bool       `json:"multi_factor_auth_enabled,omitempty"`
	MFARules   [][]string `json:"multi_factor_auth_rules,omitempty"`
}

// mfaMethods are the methods MFA rules may name.
var mfaMethods = []string{"password", "totp", "token", "application_credential", "openid"}

// satisfiesMFA reports whether the methods a token was asked with meet the
// user's MFA rules (any one rule whole); without MFA anything does.
func (o userOptions) satisfiesMFA(methods []string) bool {
	if !o.MFAEnabled || len(o.MFARules) == 0 {
		return true
	}
	return slices.ContainsFunc(o.MFARules, func(rule []string) bool {
		return !slices.ContainsFunc(rule, func(m string) bool { return !slices.Contains(methods, m) })
	})
}

package console

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"sync"
	"time"

	"github.com/tongban/tongban/gateway"
)

// Limits of the session store.
const (
	// MaxSessions bounds the sessions held at once; signing in beyond it
	// drops the session closest to its end.
	MaxSessions = 1000
	// MaxUsedLinks bounds the one-time sign-in links remembered as used.
	MaxUsedLinks = 10000
)

// session is one signed-in browser: the caller its token named, until the
// token's expiry, with the CSRF token every action must carry.
type session struct {
	principal gateway.Principal
	expires   time.Time
	csrf      string
}

// sessions is the console's in-memory session store: a session lives in
// the gateway process that created it (several replicas need sticky
// sessions, or a new sign-in on another). It is safe for concurrent use.
type sessions struct {
	mu    sync.Mutex
	byID  map[string]*session
	used  map[string]time.Time // jti of one-time links → their expiry
	clock func() time.Time
}

func newSessions(clock func() time.Time) *sessions {
	return &sessions{byID: map[string]*session{}, used: map[string]time.Time{}, clock: clock}
}

// randomToken returns 32 random bytes, URL-safe base64.
func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// create starts a session for p until expires and returns its id.
func (s *sessions) create(p gateway.Principal, expires time.Time) (string, *session, error) {
	id, err := randomToken()
	if err != nil {
		return "", nil, err
	}
	csrf, err := randomToken()
	if err != nil {
		return "", nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock()
	for k, v := range s.byID {
		if !now.Before(v.expires) {
			delete(s.byID, k)
		}
	}
	if len(s.byID) >= MaxSessions {
		var oldest string
		for k, v := range s.byID {
			if oldest == "" || v.expires.Before(s.byID[oldest].expires) {
				oldest = k
			}
		}
		delete(s.byID, oldest)
	}
	ss := &session{principal: p, expires: expires, csrf: csrf}
	s.byID[id] = ss
	return id, ss, nil
}

// get returns the live session id names; expired is true when it named
// one that has ended (it is then dropped).
func (s *sessions) get(id string) (ss *session, expired bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss = s.byID[id]
	if ss == nil {
		return nil, false
	}
	if !s.clock().Before(ss.expires) {
		delete(s.byID, id)
		return nil, true
	}
	return ss, false
}

// end drops session id.
func (s *sessions) end(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byID, id)
}

// useLink marks the one-time link of token id jti used until expires and
// reports whether it was unused.
func (s *sessions) useLink(jti string, expires time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock()
	if _, seen := s.used[jti]; seen {
		return false
	}
	if len(s.used) >= MaxUsedLinks {
		for k, v := range s.used {
			if !now.Before(v) {
				delete(s.used, k)
			}
		}
		if len(s.used) >= MaxUsedLinks {
			return false // refuse rather than forget a link still valid
		}
	}
	s.used[jti] = expires
	return true
}

// csrfOK reports, in constant time, whether got is the session's token.
func (ss *session) csrfOK(got string) bool {
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(ss.csrf)) == 1
}

package sso

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sync"
	"time"
)

// A sign-in in flight lives in the browser, not on the server: SealAttempt
// encrypts and authenticates an Attempt (AES-256-GCM) for a short-lived
// cookie, and TakeAttempt opens it at the callback. Starting a sign-in
// needs no account, so nothing it stores may be shared: a table of
// attempts with a global bound let one anonymous client fill the bound and
// block every sign-in (issue 12). A sealed cookie costs the server nothing.
//
// What still holds:
//   - Secrecy and integrity: the key is 256 random bits made when the Client
//     is, kept only in this process's memory; a cookie made by anyone else,
//     changed in one bit, or made before a restart does not open
//     (ReasonAttemptUnknown). After a restart, people in the middle of a
//     sign-in click Try again.
//   - Binding to the browser: the attempt travels only in that browser's
//     cookie (HttpOnly, SameSite=Lax, __Host- over https), and its state
//     must equal the callback's (Finish compares in constant time).
//   - Lifetime: the attempt carries its creation time under the seal;
//     TakeAttempt and Finish refuse it after AttemptLifetime.
//   - Single use: TakeAttempt remembers the SHA-256 of every state it has
//     taken until the attempt would have expired, and refuses a second take
//     (ReasonAttemptUsed). The memory is bounded (maxUsedStates, oldest
//     forgotten first) and never refuses a new sign-in. Were a forgotten
//     attempt replayed, it would still buy nothing: the provider redeems an
//     authorization code once, and a fresh code needs this attempt's PKCE
//     verifier and nonce at an authorization the attacker cannot complete
//     in the victim's browser.

// maxSealedAttempt bounds a cookie value before it is decoded: browsers
// keep about 4 KB per cookie, and a return path is at most 2 KB.
const maxSealedAttempt = 4096

// maxUsedStates bounds the memory of taken attempts (about 100 bytes each).
const maxUsedStates = 100_000

// sealAD is the additional data of every seal, so that a value sealed for
// another purpose with the same key (there is none today) never opens here.
var sealAD = []byte("rolegate sign-in attempt v1")

// sealedAttempt is an Attempt as sealed; short names keep the cookie small.
type sealedAttempt struct {
	State       string `json:"s"`
	Nonce       string `json:"n"`
	Verifier    string `json:"v"`
	ReturnTo    string `json:"r"`
	MaxAgeSec   int64  `json:"m,omitempty"`
	PromptLogin bool   `json:"l,omitempty"`
	Bound       string `json:"b,omitempty"`
	CreatedMS   int64  `json:"t"`
}

func newAttemptSealer() cipher.AEAD {
	key := make([]byte, 32)
	_, _ = rand.Read(key) // never fails: crypto/rand crashes the program instead
	block, err := aes.NewCipher(key)
	if err != nil {
		panic(err) // a 32-byte key is always accepted
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return aead
}

// SealAttempt returns a as a cookie value only this Client can open.
func (c *Client) SealAttempt(a Attempt) string {
	plain, _ := json.Marshal(sealedAttempt{
		State: a.State, Nonce: a.Nonce, Verifier: a.CodeVerifier, ReturnTo: a.ReturnTo,
		MaxAgeSec: int64(a.MaxAge / time.Second), PromptLogin: a.PromptLogin, Bound: a.Bound,
		CreatedMS: a.CreatedAt.UnixMilli(),
	})
	nonce := make([]byte, c.sealer.NonceSize())
	_, _ = rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(c.sealer.Seal(nonce, nonce, plain, sealAD))
}

// TakeAttempt opens a cookie value made by SealAttempt and marks its
// attempt used, whatever happens next: a second take of the same attempt
// fails with ErrAttemptUsed. An unreadable, forged or pre-restart value
// fails with ErrAttemptUnknown, an old one with ErrAttemptExpired.
func (c *Client) TakeAttempt(sealed string) (Attempt, error) {
	a, err := c.openAttempt(sealed)
	if err != nil {
		return Attempt{}, err
	}
	now := c.now()
	if age := now.Sub(a.CreatedAt); age > AttemptLifetime || age < -clockSkew {
		return Attempt{}, newError(ReasonAttemptExpired, fmt.Sprintf("sign-in attempt is %s old, limit %s", age.Round(time.Second), AttemptLifetime), nil)
	}
	if !c.used.take(sha256.Sum256([]byte(a.State)), a.CreatedAt.Add(AttemptLifetime+clockSkew), now) {
		return Attempt{}, newError(ReasonAttemptUsed, "sign-in attempt was already used", nil)
	}
	return a, nil
}

func (c *Client) openAttempt(sealed string) (Attempt, error) {
	unknown := newError(ReasonAttemptUnknown, "sign-in attempt cookie does not open (forged, damaged, or sealed before a restart)", nil)
	if sealed == "" || len(sealed) > maxSealedAttempt {
		return Attempt{}, unknown
	}
	raw, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil || len(raw) < c.sealer.NonceSize() {
		return Attempt{}, unknown
	}
	n := c.sealer.NonceSize()
	plain, err := c.sealer.Open(nil, raw[:n], raw[n:], sealAD)
	if err != nil {
		return Attempt{}, unknown
	}
	var s sealedAttempt
	if err := json.Unmarshal(plain, &s); err != nil {
		return Attempt{}, unknown
	}
	return Attempt{
		State: s.State, Nonce: s.Nonce, CodeVerifier: s.Verifier, ReturnTo: SafeReturnPath(s.ReturnTo),
		MaxAge: time.Duration(s.MaxAgeSec) * time.Second, PromptLogin: s.PromptLogin, Bound: s.Bound,
		CreatedAt: time.UnixMilli(s.CreatedMS),
	}, nil
}

// usedStates remembers the attempts taken, by the SHA-256 of their state,
// until each would have expired anyway.
type usedStates struct {
	mu    sync.Mutex
	until map[[32]byte]time.Time
	order [][32]byte // insertion order, oldest first
	max   int
}

func newUsedStates(max int) *usedStates {
	return &usedStates{until: map[[32]byte]time.Time{}, max: max}
}

// take records key and reports whether it was new. Expired entries are
// dropped first; when the memory is full, the oldest entry is forgotten
// rather than a sign-in refused.
func (u *usedStates) take(key [32]byte, until, now time.Time) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	for len(u.order) > 0 {
		oldest := u.order[0]
		if t, ok := u.until[oldest]; ok && now.Before(t) && len(u.until) < u.max {
			break
		}
		delete(u.until, oldest)
		u.order = u.order[1:]
	}
	if t, seen := u.until[key]; seen && now.Before(t) {
		return false
	}
	u.until[key] = until
	u.order = append(u.order, key)
	return true
}

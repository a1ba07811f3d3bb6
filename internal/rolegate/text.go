package rolegate

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// ValidText makes text from outside (a header, a claim, an upstream's
// message) fit to be recorded: every byte that is not part of valid UTF-8
// becomes U+FFFD and, when maxBytes > 0, the text is cut to at most
// maxBytes bytes on a character boundary, never inside a character. The
// audit trail's hash refuses anything else (internal/audit), because
// invalid bytes are written differently by the hash and by the JSON
// export, and different invalid bytes would hash alike.
func ValidText(s string, maxBytes int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if maxBytes > 0 && len(s) > maxBytes {
		cut := maxBytes
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	return s
}

// UpstreamText makes text read from the upstream (a role's name or
// description) fit for every store: valid UTF-8 (ValidText), and each NUL
// (U+0000), which PostgreSQL's text cannot hold, replaced by U+FFFD as an
// invalid byte is. Both engines then store, show, compare and record the
// same text, and a sync that succeeds on SQLite succeeds on PostgreSQL.
func UpstreamText(s string) string {
	s = ValidText(s, 0)
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	}
	return s
}

// ValidUTF8 returns e with every text field made valid UTF-8 (ValidText)
// and its details a JSON value in valid UTF-8: details that are not JSON
// are kept as text under "text", so that nothing is lost and the event
// can still be exported and checked against its hash. The store applies
// it to every event it appends: it is the door through which all text
// enters the trail.
func (e Event) ValidUTF8() Event {
	for _, f := range []*string{&e.ActorKey, &e.ActorEmail, &e.ActorName, &e.ActorRoles, &e.Action,
		&e.RoleName, &e.Outcome, &e.ClientIP, &e.UserAgent, &e.HTTPReqID, &e.PrevHash, &e.Hash} {
		*f = ValidText(*f, 0)
	}
	d := bytes.TrimSpace(e.Details)
	switch {
	case len(d) == 0:
		d = []byte("{}")
	case !json.Valid(d):
		d, _ = json.Marshal(map[string]string{"text": ValidText(string(d), 0)})
	case !utf8.Valid(d):
		// Outside JSON strings only ASCII is valid, so the invalid bytes
		// are inside strings, where U+FFFD keeps the JSON valid.
		d = bytes.ToValidUTF8(d, []byte("\uFFFD"))
	}
	e.Details = json.RawMessage(d)
	return e
}

// What is kept of a person's profile claims: far more than any real name
// or address (RFC 5321 bounds an address at 254 bytes).
const (
	MaxPersonNameBytes  = 200
	MaxPersonEmailBytes = 254
)

// ValidText returns p with its name and email valid UTF-8, cut on a
// character boundary at MaxPersonNameBytes and MaxPersonEmailBytes: they
// come from the identity provider's claims and are shown and recorded
// everywhere. The issuer and subject are the person's identity and are
// only made valid, never cut (a JSON-decoded claim already is valid).
func (p Person) ValidText() Person {
	p.Issuer = ValidText(p.Issuer, 0)
	p.Subject = ValidText(p.Subject, 0)
	p.Email = ValidText(p.Email, MaxPersonEmailBytes)
	p.Name = ValidText(p.Name, MaxPersonNameBytes)
	return p
}

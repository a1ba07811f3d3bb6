package web

import (
	"github.com/rolegate/rolegate/internal/rolegate"

	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rolegate/rolegate/views"
)

// A flash says once, to the person who acted, what their post did. It
// travels in a short-lived cookie of their browser (never in the URL, which
// anyone may be sent), signed with a key that never leaves the process and
// bound to their session and to the page it is meant for; the page that
// shows it clears it, so a reload shows nothing.

// flashTTL bounds how long a flash waits for its page: the redirect after
// the post follows at once.
const flashTTL = time.Minute

// flashNote is what a flash cookie carries: which message, the numbers it
// states, and the path of the page that shows it.
type flashNote struct {
	Key      string `json:"k"`
	Emails   int    `json:"e,omitempty"`
	Webhooks int    `json:"w,omitempty"`
	Path     string `json:"p"`
}

// newFlashKey returns the key flash cookies are signed with; a restart
// makes a new one, which only drops a flash in flight.
func newFlashKey() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k) // crypto/rand.Read never fails on supported platforms
	return k
}

// flashMAC binds value to the session named by token.
func (s *Server) flashMAC(token, value string) []byte {
	m := hmac.New(sha256.New, s.flashKey)
	m.Write([]byte(token))
	m.Write([]byte{0})
	m.Write([]byte(value))
	return m.Sum(nil)
}

// setFlash leaves note for the next page at path that the signed-in person
// of this request opens.
func (s *Server) setFlash(c echo.Context, path string, note flashNote) {
	token := sessionTokenFrom(ctx(c))
	if token == "" {
		return
	}
	note.Path = path
	raw, _ := json.Marshal(note)
	value := base64.RawURLEncoding.EncodeToString(raw)
	s.setCookie(c, s.cookies.flash, value+"."+base64.RawURLEncoding.EncodeToString(s.flashMAC(token, value)), flashTTL)
}

// takeFlash returns the flash left for this page by this session, and
// clears it. A flash of another session (someone else signed in on this
// browser since) is cleared unseen; one for another page waits.
func (s *Server) takeFlash(c echo.Context) views.Flash {
	ck, err := c.Cookie(s.cookies.flash)
	if err != nil || ck.Value == "" {
		return views.Flash{}
	}
	token := sessionTokenFrom(ctx(c))
	value, mac, _ := strings.Cut(ck.Value, ".")
	got, err := base64.RawURLEncoding.DecodeString(mac)
	var note flashNote
	if token == "" || err != nil || !hmac.Equal(got, s.flashMAC(token, value)) {
		s.clearCookie(c, s.cookies.flash)
		return views.Flash{}
	}
	raw, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil || json.Unmarshal(raw, &note) != nil {
		s.clearCookie(c, s.cookies.flash)
		return views.Flash{}
	}
	if note.Path != c.Request().URL.Path {
		return views.Flash{}
	}
	s.clearCookie(c, s.cookies.flash)
	return note.flash()
}

// flashTexts are the messages a flash can carry, by key (besides
// "created", whose words count what was queued): nobody can make a page
// say anything else.
var flashTexts = map[string]string{
	"approved":        "Your approval was recorded.",
	"rejected":        "The request was rejected.",
	"cancelled":       "The request was cancelled.",
	"retried":         "Provisioning will be tried again.",
	"abandoned":       "Provisioning was abandoned; the request stays Failed and will not be retried.",
	"revoked":         "Access is being revoked: rolegate removes the assignment now, and this page shows Revoked once it is gone.",
	"removal_retried": "Removing the assignment will be tried again.",
	"refreshed":       "The permission catalog was read again from the organization.",
	"unassigned":      "The assignment was removed outside rolegate. rolegate finds out at its next look at the access it granted (every ROLEGATE_SYNC_EVERY), and the request shows Revoked, as drift.",
	"upstream":        "The simulated organization was changed outside rolegate. Name checks see it within 30 seconds, the Roles page at the next sync (or resync now).",
}

// flash is the message of note, from the fixed set.
func (n flashNote) flash() views.Flash {
	if n.Key == "created" {
		return views.Flash{Kind: "ok", Text: "Your request was submitted. " + submittedNotice(n.Emails, n.Webhooks)}
	}
	if text, ok := flashTexts[n.Key]; ok {
		return views.Flash{Kind: "ok", Text: text}
	}
	return views.Flash{}
}

// submittedNotice says what was really done to tell approvers about a new
// request: the notifications queued, or nothing and where they will find it.
func submittedNotice(emails, webhooks int) string {
	const reviews = "Approvers will see it under Reviews."
	switch {
	case emails > 0 && webhooks > 0:
		return fmt.Sprintf("Email notifications were queued to %s and a message to %s. %s", plural(emails, "approver"), plural(webhooks, "webhook"), reviews)
	case emails > 0:
		return fmt.Sprintf("Email notifications were queued to %s. %s", plural(emails, "approver"), reviews)
	case webhooks > 0:
		return fmt.Sprintf("No approver was emailed; a message was queued to %s. %s", plural(webhooks, "webhook"), reviews)
	}
	return "No notification was sent: " + reviews
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// createdNote counts the notifications queued about a new request.
func createdNote(queued []rolegate.Notification) flashNote {
	n := flashNote{Key: "created"}
	for _, q := range queued {
		switch {
		case q.Channel == rolegate.ChannelEmail && q.Audience == rolegate.AudienceApprover:
			n.Emails++
		case q.Channel == rolegate.ChannelWebhook:
			n.Webhooks++
		}
	}
	return n
}

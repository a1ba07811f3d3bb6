package rolegate_test

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/rolegate/rolegate/internal/rolegate"
)

func TestValidText(t *testing.T) {
	cases := []struct {
		in   string
		max  int
		want string
	}{
		{"Mozilla/5.0", 0, "Mozilla/5.0"},
		{"Mozilla/5.0", 300, "Mozilla/5.0"},
		{"Zoë 日本 😀", 0, "Zoë 日本 😀"},
		{"bad \x80 byte", 0, "bad \uFFFD byte"},
		{"\xff\xfe", 0, "\uFFFD"},                         // one run, one U+FFFD (strings.ToValidUTF8)
		{"half \xc3", 0, "half \uFFFD"},                   // a character cut off by someone else
		{"surrogate \xed\xa0\x80", 0, "surrogate \uFFFD"}, // not UTF-8 either
		{"abcé", 4, "abc"},                                // the cut would split é: cut before it
		{"abcé", 5, "abcé"},
		{"日本", 4, "日"},
		{"😀x", 3, ""},
		{"abc\xffdef", 5, "abc"}, // U+FFFD is 3 bytes: it does not fit
	}
	for _, c := range cases {
		got := rolegate.ValidText(c.in, c.max)
		if got != c.want {
			t.Errorf("ValidText(%q, %d) = %q; want %q", c.in, c.max, got, c.want)
		}
		if !utf8.ValidString(got) || (c.max > 0 && len(got) > c.max) {
			t.Errorf("ValidText(%q, %d) = %q: not valid UTF-8 within %d bytes", c.in, c.max, got, c.max)
		}
	}
}

// TestEventValidUTF8 covers the door of the trail: whatever an event was
// built from, what is appended is valid UTF-8 with JSON details.
func TestEventValidUTF8(t *testing.T) {
	bad := "x\x80\xffy"
	e := rolegate.Event{
		ActorKey: bad, ActorEmail: bad, ActorName: bad, ActorRoles: bad, Action: bad, RoleName: bad,
		Outcome: bad, ClientIP: bad, UserAgent: bad, HTTPReqID: bad, PrevHash: bad,
		Details: []byte("{\"reason\":\"" + bad + "\"}"),
	}
	got := e.ValidUTF8()
	for name, s := range map[string]string{
		"ActorKey": got.ActorKey, "ActorEmail": got.ActorEmail, "ActorName": got.ActorName, "ActorRoles": got.ActorRoles,
		"Action": got.Action, "RoleName": got.RoleName, "Outcome": got.Outcome, "ClientIP": got.ClientIP,
		"UserAgent": got.UserAgent, "HTTPReqID": got.HTTPReqID, "PrevHash": got.PrevHash,
	} {
		if s != "x\uFFFDy" {
			t.Errorf("ValidUTF8().%s = %q; want %q", name, s, "x\uFFFDy")
		}
	}
	if string(got.Details) != "{\"reason\":\"x\uFFFDy\"}" || !json.Valid(got.Details) {
		t.Errorf("ValidUTF8().Details = %q; want the JSON with U+FFFD in place of the bytes", got.Details)
	}

	for _, c := range []struct{ in, want string }{
		{"", "{}"},
		{"  ", "{}"},
		{`{"n":1}`, `{"n":1}`},
		{"not json \xff", `{"text":"not json ` + "\uFFFD" + `"}`},
		{`{"n":`, `{"text":"{\"n\":"}`},
	} {
		got := rolegate.Event{Details: []byte(c.in)}.ValidUTF8().Details
		if string(got) != c.want {
			t.Errorf("ValidUTF8() of details %q = %s; want %s", c.in, got, c.want)
		}
	}
	if strings.Contains(string(e.Details), "\uFFFD") {
		t.Error("ValidUTF8 changed the event it was called on; want a copy")
	}
}

func TestPersonValidText(t *testing.T) {
	p := rolegate.Person{Issuer: "https://idp", Subject: "s\xff", Email: strings.Repeat("e", 260), Name: strings.Repeat("n", 199) + "日本"}
	got := p.ValidText()
	if got.Subject != "s\uFFFD" || got.Issuer != "https://idp" {
		t.Errorf("ValidText() identity = %q, %q; want made valid, never cut", got.Issuer, got.Subject)
	}
	if len(got.Email) != rolegate.MaxPersonEmailBytes || got.Name != strings.Repeat("n", 199) {
		t.Errorf("ValidText() = email of %d bytes, name %q; want %d bytes and the name cut before 日", len(got.Email), got.Name, rolegate.MaxPersonEmailBytes)
	}
}

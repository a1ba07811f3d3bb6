package audit_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/rolegate/rolegate/internal/audit"
)

func newKeys(t *testing.T, name string) (signerKey, verifierKey string) {
	t.Helper()
	s, v, err := audit.GenerateKey(name)
	if err != nil {
		t.Fatalf("GenerateKey(%q): %v", name, err)
	}
	return s, v
}

func TestCheckpointSignAndOpen(t *testing.T) {
	skey, vkey := newKeys(t, "rolegate.example.com/audit")
	signer, err := audit.NewSigner(skey + "\n") // as read from a file
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := audit.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	events := chain(3)
	cp := audit.Checkpoint{Origin: signer.Name(), Size: 3, Hash: events[2].Hash}
	msg, err := audit.Sign(cp, signer)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	// The standard checkpoint body, then the signature line.
	lines := strings.Split(string(msg), "\n")
	if lines[0] != "rolegate.example.com/audit" || lines[1] != "3" || len(lines[2]) != 44 || lines[3] != "" ||
		!strings.HasPrefix(lines[4], "— rolegate.example.com/audit ") {
		t.Errorf("signed checkpoint =\n%s\nwant origin, size, base64 hash, blank line, signature", msg)
	}
	got, err := audit.Open(msg, verifier)
	if err != nil {
		t.Fatalf("Open(signed) = %v", err)
	}
	if got != cp {
		t.Errorf("Open(signed) = %+v; want %+v", got, cp)
	}

	// The empty trail's checkpoint signs the genesis.
	empty := audit.Checkpoint{Origin: signer.Name(), Size: 0, Hash: audit.GenesisHash}
	if msg, err := audit.Sign(empty, signer); err != nil {
		t.Errorf("Sign(empty) = %v", err)
	} else if got, err := audit.Open(msg, verifier); err != nil || got != empty {
		t.Errorf("Open(Sign(empty)) = %+v, %v; want %+v", got, err, empty)
	}
}

func TestCheckpointRefusesWhatItShould(t *testing.T) {
	skey, vkey := newKeys(t, "rolegate.example.com/audit")
	signer, _ := audit.NewSigner(skey)
	verifier, _ := audit.NewVerifier(vkey)
	_, otherV := newKeys(t, "rolegate.example.com/audit")
	other, _ := audit.NewVerifier(otherV)
	events := chain(3)
	msg, err := audit.Sign(audit.Checkpoint{Origin: signer.Name(), Size: 3, Hash: events[2].Hash}, signer)
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name string
		msg  []byte
		v    note.Verifier
		want string
	}{
		{"size changed", bytes.Replace(msg, []byte("\n3\n"), []byte("\n2\n"), 1), verifier, "altered"},
		{"another key", msg, other, "not signed by the key"},
		{"not a note", []byte("rolegate.example.com/audit\n3\n"), verifier, "not a signed checkpoint"},
	}
	for _, c := range cases {
		_, err := audit.Open(c.msg, c.v)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Open(%s) = %v; want an error containing %q", c.name, err, c.want)
		}
	}

	if _, err := audit.Open(msg, other); !errors.Is(err, audit.ErrOtherKey) {
		t.Errorf("Open(signed by another key) = %v; want ErrOtherKey", err)
	}
	if _, err := audit.Sign(audit.Checkpoint{Origin: "another/log", Size: 1, Hash: events[0].Hash}, signer); err == nil {
		t.Errorf("Sign(origin other than the key's name) succeeded; want an error")
	}
	if _, err := audit.Sign(audit.Checkpoint{Origin: signer.Name(), Size: 1, Hash: "not-hex"}, signer); err == nil {
		t.Errorf("Sign(malformed hash) succeeded; want an error")
	}
}

func TestKeysAreCheckedWithoutEchoingThem(t *testing.T) {
	skey, vkey := newKeys(t, "rolegate.example.com/audit")
	if _, err := audit.NewSigner(vkey); err == nil {
		t.Errorf("NewSigner(a verifier key) succeeded; want an error")
	}
	broken := skey[:len(skey)-4] + "!!!!"
	_, err := audit.NewSigner(broken)
	if err == nil || strings.Contains(err.Error(), broken[20:]) {
		t.Errorf("NewSigner(broken key) = %v; want an error that does not repeat the key", err)
	}
	if _, err := audit.NewVerifier(skey); err == nil {
		t.Errorf("NewVerifier(a signer key) succeeded; want an error")
	}
	for _, name := range []string{"", "has space", "a+b"} {
		if _, _, err := audit.GenerateKey(name); err == nil {
			t.Errorf("GenerateKey(%q) succeeded; want an error", name)
		}
	}
}

func TestParseText(t *testing.T) {
	good := "o\n12\n" + strings.Repeat("A", 43) + "=\n"
	cases := []struct {
		text string
		ok   bool
	}{
		{good, true},
		{good + "extension line\n", true},
		{"o\n12\n" + strings.Repeat("A", 43) + "=", false}, // no final newline
		{"\n12\n" + strings.Repeat("A", 43) + "=\n", false},
		{"o\n012\n" + strings.Repeat("A", 43) + "=\n", false},
		{"o\n-1\n" + strings.Repeat("A", 43) + "=\n", false},
		{"o\n12\nAAAA\n", false},
		{"o\n12\n", false},
	}
	for _, c := range cases {
		_, err := audit.ParseText(c.text)
		if (err == nil) != c.ok {
			t.Errorf("ParseText(%q) error = %v; want ok=%v", c.text, err, c.ok)
		}
	}
}

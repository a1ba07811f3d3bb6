package testkit

import (
	"io"
	"log"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"
)

// Mailbox is a real SMTP server (github.com/emersion/go-smtp) on loopback
// that keeps every message it is given, once per recipient. Point the code
// under test at Addr.
type Mailbox struct {
	Addr string

	mu   sync.Mutex
	mail []Mail
}

// Mail is one message as one recipient got it.
type Mail struct {
	To   string
	Data string // the message as sent: headers, a blank line, the body
}

// Subject is the message's Subject header, or "".
func (m Mail) Subject() string {
	for _, line := range strings.Split(m.Data, "\n") {
		if s, ok := strings.CutPrefix(line, "Subject: "); ok {
			return strings.TrimRight(s, "\r")
		}
		if strings.TrimSpace(line) == "" {
			break // the end of the headers
		}
	}
	return ""
}

// StartMailbox starts a Mailbox that stops when the test ends.
func StartMailbox(t testing.TB) *Mailbox {
	t.Helper()
	mb := &Mailbox{}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &mailSession{mb: mb}, nil }))
	srv.Domain = "localhost"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	mb.Addr = ln.Addr().String()
	return mb
}

// Mail returns every message kept so far, in the order they came.
func (mb *Mailbox) Mail() []Mail {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	return slices.Clone(mb.mail)
}

// Recipients returns the recipient of every message kept so far, sorted.
func (mb *Mailbox) Recipients() []string {
	var out []string
	for _, m := range mb.Mail() {
		out = append(out, m.To)
	}
	slices.Sort(out)
	return out
}

// Count is how many messages went to to (any case) whose subject holds
// text (any case).
func (mb *Mailbox) Count(to, text string) int {
	n := 0
	for _, m := range mb.Mail() {
		if strings.EqualFold(m.To, to) && strings.Contains(strings.ToLower(m.Subject()), strings.ToLower(text)) {
			n++
		}
	}
	return n
}

type mailSession struct {
	mb *Mailbox
	to []string
}

func (s *mailSession) Mail(string, *smtp.MailOptions) error { return nil }

func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	s.mb.mu.Lock()
	defer s.mb.mu.Unlock()
	for _, to := range s.to {
		s.mb.mail = append(s.mb.mail, Mail{To: to, Data: string(b)})
	}
	return err
}

func (s *mailSession) Reset()        { s.to = nil }
func (s *mailSession) Logout() error { return nil }

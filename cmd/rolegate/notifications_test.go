package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/rolegate/rolegate/internal/notify"
)

// inbox is a real SMTP server (go-smtp) on loopback that keeps what it is
// given, by recipient.
type inbox struct {
	mu   sync.Mutex
	to   []string
	data []string
}

func (ib *inbox) NewSession(*smtp.Conn) (smtp.Session, error) { return &inboxSession{ib: ib}, nil }

type inboxSession struct {
	ib *inbox
	to []string
}

func (s *inboxSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *inboxSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}
func (s *inboxSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	s.ib.mu.Lock()
	defer s.ib.mu.Unlock()
	for _, to := range s.to {
		s.ib.to = append(s.ib.to, to)
		s.ib.data = append(s.ib.data, string(b))
	}
	return err
}
func (s *inboxSession) Reset()        { s.to = nil }
func (s *inboxSession) Logout() error { return nil }

func (ib *inbox) recipients() []string {
	ib.mu.Lock()
	defer ib.mu.Unlock()
	out := slices.Clone(ib.to)
	slices.Sort(out)
	return out
}

func startInbox(t *testing.T) (*inbox, string) {
	t.Helper()
	ib := &inbox{}
	srv := smtp.NewServer(ib)
	srv.Domain = "localhost"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ib, ln.Addr().String()
}

func TestServeSendsNotificationsWhenConfigured(t *testing.T) {
	ib, smtpAddr := startInbox(t)
	const secret = "whsec-serve-test-never-shown"
	var mu sync.Mutex
	var bodies []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := notify.VerifySignature([]byte(secret), r.Header.Get(notify.SignatureHeader), body, time.Now(), notify.SignatureTolerance); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		mu.Lock()
		bodies = append(bodies, string(body))
		mu.Unlock()
	}))
	t.Cleanup(hook.Close)

	p := startPortalWith(t, map[string]string{
		"ROLEGATE_SMTP_ADDR":      smtpAddr,
		"ROLEGATE_SMTP_FROM":      "rolegate@example.test",
		"ROLEGATE_WEBHOOK_URLS":   hook.URL + "/hooks/rolegate",
		"ROLEGATE_WEBHOOK_SECRET": secret,
	})
	if !strings.Contains(p.Log.String(), `msg="notifications on" email=true webhooks=1 webhook_format=json`) {
		t.Errorf("the start log does not say notifications are on:\n%s", p.Log)
	}
	// The approvers have signed in once: their addresses are known.
	p.signIn("approver1")
	p.signIn("approver2")
	riley := p.signIn("requester")
	code, _, header := riley.postWithToken("/requests", url.Values{
		"role_name": {"notified-role"}, "permissions": {"api.groups.read"},
		"justification": {"Needed for the notification test."},
	})
	if code != http.StatusSeeOther {
		t.Fatalf("POST /requests = %d; want 303", code)
	}
	var id int64
	if _, err := fmt.Sscanf(header.Get("Location"), "/requests/%d", &id); err != nil {
		t.Fatalf("Location %q: %v", header.Get("Location"), err)
	}

	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := len(bodies)
		mu.Unlock()
		if n >= 1 && len(ib.recipients()) >= 2 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got, want := ib.recipients(), []string{"avery@example.test", "blake@example.test"}; !slices.Equal(got, want) {
		t.Errorf("emails went to %q; want %q\n%s", got, want, p.Log)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 1 {
		t.Fatalf("webhook deliveries = %d; want 1\n%s", len(bodies), p.Log)
	}
	var body struct {
		Event   string
		Request struct {
			ID       int64
			RoleName string `json:"role_name"`
			Status   string
			URL      string
		}
	}
	if err := json.Unmarshal([]byte(bodies[0]), &body); err != nil {
		t.Fatal(err)
	}
	wantURL := fmt.Sprintf("http://localhost:8080/requests/%d", id)
	if body.Event != "request.created" || body.Request.ID != id || body.Request.RoleName != "notified-role" ||
		body.Request.Status != "pending" || body.Request.URL != wantURL {
		t.Errorf("webhook body = %s; want request.created of #%d, pending, linking %s", bodies[0], id, wantURL)
	}
	if strings.Contains(p.Log.String(), secret) || strings.Contains(p.Log.String(), "/hooks/rolegate") {
		t.Error("the log shows the webhook secret or the webhook URL's path")
	}
}

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/notify"
	"github.com/rolegate/rolegate/internal/testkit"
)

// serve with SMTP and a webhook configured tells both approvers by email
// and the webhook, signed, of a new request.
func TestServeSendsNotificationsWhenConfigured(t *testing.T) {
	mail := testkit.StartMailbox(t)
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
		"ROLEGATE_SMTP_ADDR":      mail.Addr,
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

	testkit.WaitFor(t, "the webhook and both approvers' emails", func() bool {
		mu.Lock()
		n := len(bodies)
		mu.Unlock()
		return n >= 1 && len(mail.Recipients()) >= 2
	}, p.Log.String)
	if got, want := mail.Recipients(), []string{"avery@example.test", "blake@example.test"}; !slices.Equal(got, want) {
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

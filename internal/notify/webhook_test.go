package notify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/notify"
	"github.com/rolegate/rolegate/internal/rolegate"
)

var hostileFacts = rolegate.NotificationFacts{
	Event: rolegate.ActionRequestRejected, Kind: rolegate.NoticeRejected,
	RequestID: 7, RoleName: "finance-reader", Status: rolegate.StatusRejected,
	Actor: rolegate.NoticePerson{Name: `Eve </script><script>alert(1)</script> [x](https://evil.example) & *bold*`, Email: "eve@example.com"},
	At:    time.Date(2026, 3, 2, 9, 30, 15, 0, time.UTC),
}

const hookLink = "https://rolegate.example.com/requests/7"

func TestTheJSONBodyIsExactlyThePublishedOne(t *testing.T) {
	body, err := notify.WebhookBody(notify.FormatJSON, hostileFacts, hookLink)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"event":"request.rejected","request":{"id":7,"role_name":"finance-reader","status":"rejected",` +
		`"url":"https://rolegate.example.com/requests/7"},"actor":{"name":"Eve \u003c/script\u003e\u003cscript\u003ealert(1)\u003c/script\u003e [x](https://evil.example) \u0026 *bold*",` +
		`"email":"eve@example.com"},"at":"2026-03-02T09:30:15Z"}`
	if string(body) != want {
		t.Errorf("WebhookBody(json) =\n%s\nwant\n%s", body, want)
	}
	// Escaped on the wire, and the same text once decoded.
	var decoded struct{ Actor struct{ Name string } }
	if err := json.Unmarshal(body, &decoded); err != nil || decoded.Actor.Name != hostileFacts.Actor.Name {
		t.Errorf("decoded actor name = %q, %v; want %q", decoded.Actor.Name, err, hostileFacts.Actor.Name)
	}
}

// A project request's webhook names its project in the request object and
// in the sentence of the chat formats.
func TestAWebhookCarriesTheRequestsScope(t *testing.T) {
	facts := hostileFacts
	facts.Scope, facts.ScopeName = "proj_pay", "Payments"
	body, err := notify.WebhookBody(notify.FormatJSON, facts, hookLink)
	if err != nil {
		t.Fatal(err)
	}
	var decoded struct {
		Request struct {
			Scope     string `json:"scope"`
			ScopeName string `json:"scope_name"`
		} `json:"request"`
	}
	if err := json.Unmarshal(body, &decoded); err != nil || decoded.Request.Scope != "proj_pay" || decoded.Request.ScopeName != "Payments" {
		t.Errorf("json body %s: request scope = %+v; want proj_pay, Payments", body, decoded.Request)
	}
	slack, err := notify.WebhookBody(notify.FormatSlack, facts, hookLink)
	if err != nil || !strings.Contains(string(slack), `the project \"Payments\" (proj_pay)`) {
		t.Errorf("slack body %s; want the project named", slack)
	}
}

func TestSlackAndTeamsBodiesKeepHostileTextInert(t *testing.T) {
	slack, err := notify.WebhookBody(notify.FormatSlack, hostileFacts, hookLink)
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Text   string
		Blocks []struct {
			Type string
			Text struct{ Type, Text string }
		}
	}
	if err := json.Unmarshal(slack, &s); err != nil {
		t.Fatal(err)
	}
	wantText := `Request #7 for the role "finance-reader" was rejected by Eve &lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt; [x](https://evil.example) &amp; *bold*. <https://rolegate.example.com/requests/7|Open request #7 in rolegate>`
	if s.Text != wantText {
		t.Errorf("slack text = %q; want %q", s.Text, wantText)
	}
	if len(s.Blocks) != 1 || s.Blocks[0].Text.Type != "mrkdwn" || s.Blocks[0].Text.Text != wantText {
		t.Errorf("slack blocks = %+v; want one mrkdwn section with the same text", s.Blocks)
	}
	if n := strings.Count(s.Text, "<"); n != 1 {
		t.Errorf("slack text has %d '<'; want only the portal link's", n)
	}

	teams, err := notify.WebhookBody(notify.FormatTeams, hostileFacts, hookLink)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Type        string
		Attachments []struct {
			ContentType string
			Content     struct {
				Type    string
				Version string
				Body    []struct{ Type, Text string }
				Actions []struct{ Type, Title, URL string }
			}
		}
	}
	if err := json.Unmarshal(teams, &m); err != nil {
		t.Fatal(err)
	}
	if m.Type != "message" || len(m.Attachments) != 1 || m.Attachments[0].ContentType != "application/vnd.microsoft.card.adaptive" {
		t.Fatalf("teams body = %s; want a message with one Adaptive Card", teams)
	}
	card := m.Attachments[0].Content
	if card.Type != "AdaptiveCard" || len(card.Body) != 1 || len(card.Actions) != 1 {
		t.Fatalf("teams card = %+v; want one text block and one action", card)
	}
	wantTeams := `Request #7 for the role "finance-reader" was rejected by Eve &lt;/script&gt;&lt;script&gt;alert\(1\)&lt;/script&gt; \[x\]\(https://evil.example\) & \*bold\*.`
	if card.Body[0].Text != wantTeams {
		t.Errorf("teams text = %q; want %q", card.Body[0].Text, wantTeams)
	}
	if a := card.Actions[0]; a.Type != "Action.OpenUrl" || a.URL != hookLink {
		t.Errorf("teams action = %+v; want Action.OpenUrl to %s", a, hookLink)
	}
	for name, body := range map[string][]byte{"slack": slack, "teams": teams} {
		if bytes.Contains(body, []byte("<script")) {
			t.Errorf("the %s body carries a raw <script", name)
		}
	}
}

func TestVerifySignature(t *testing.T) {
	secret := []byte("whsec-1")
	body := []byte(`{"event":"request.created"}`)
	now := time.Unix(1_770_000_000, 0)
	good := notify.Sign(secret, now, body)
	tests := []struct {
		name   string
		header string
		body   []byte
		at     time.Time
		want   error
	}{
		{"fresh", good, body, now, nil},
		{"4m59s old", good, body, now.Add(4*time.Minute + 59*time.Second), nil},
		{"6 minutes old", good, body, now.Add(6 * time.Minute), notify.ErrSignatureStale},
		{"from 6 minutes ahead", good, body, now.Add(-6 * time.Minute), notify.ErrSignatureStale},
		{"another body", good, []byte(`{"event":"request.approved"}`), now, notify.ErrSignatureMismatch},
		{"another secret", notify.Sign([]byte("whsec-2"), now, body), body, now, notify.ErrSignatureMismatch},
		{"a second v1 that matches (rotation)", strings.Replace(good, "v1=", "v1=00,v1=", 1), body, now, nil},
		{"the timestamp changed", strings.Replace(good, fmt.Sprint(now.Unix()), fmt.Sprint(now.Unix()+1), 1), body, now, notify.ErrSignatureMismatch},
		{"empty", "", body, now, notify.ErrSignatureMalformed},
		{"no v1", fmt.Sprintf("t=%d", now.Unix()), body, now, notify.ErrSignatureMalformed},
		{"no t", "v1=abcd", body, now, notify.ErrSignatureMalformed},
		{"garbage", "sha256=abcd", body, now, notify.ErrSignatureMalformed},
	}
	for _, tt := range tests {
		err := notify.VerifySignature(secret, tt.header, tt.body, tt.at, notify.SignatureTolerance)
		if !errors.Is(err, tt.want) {
			t.Errorf("VerifySignature(%s: %q) = %v; want %v", tt.name, tt.header, err, tt.want)
		}
	}
	if !strings.HasPrefix(good, fmt.Sprintf("t=%d,v1=", now.Unix())) || len(good) != len(fmt.Sprintf("t=%d,v1=", now.Unix()))+64 {
		t.Errorf("Sign = %q; want t=<unix>,v1=<64 hex digits>", good)
	}
}

func TestNewWebhooksRefusesABadSetting(t *testing.T) {
	tests := []struct {
		cfg  notify.WebhookConfig
		want string
	}{
		{notify.WebhookConfig{URLs: []string{"https://chat.example.com/x"}, Format: "xml", Secret: "s"}, "json, slack or teams"},
		{notify.WebhookConfig{URLs: []string{"https://chat.example.com/x"}}, "secret"},
		{notify.WebhookConfig{URLs: []string{"ftp://chat.example.com/x"}, Secret: "s"}, "http(s) URL"},
	}
	for _, tt := range tests {
		_, err := notify.NewWebhooks(tt.cfg)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewWebhooks(%q, %q) = %v; want an error about %s", tt.cfg.URLs, tt.cfg.Format, err, tt.want)
		}
	}
}

func TestAWebhookIsKnownByItsHostNeverItsURL(t *testing.T) {
	secretURL := "https://hooks.example.com" + testWebhookPath + "?token=querytoken-never-shown"
	w, err := notify.NewWebhooks(notify.WebhookConfig{URLs: []string{secretURL, secretURL}, Secret: "s"})
	if err != nil {
		t.Fatal(err)
	}
	targets := w.Targets()
	if len(targets) != 1 {
		t.Fatalf("Targets = %v; want the duplicate URL once", targets)
	}
	for _, s := range []string{targets[0].ID, targets[0].Label} {
		if strings.Contains(s, "hooktoken") || strings.Contains(s, "querytoken") || strings.Contains(s, "/services") {
			t.Errorf("target %q shows the URL's secret part", s)
		}
	}
	if !strings.HasPrefix(targets[0].Label, "webhook https://hooks.example.com (") {
		t.Errorf("Label = %q; want it to name the scheme and host", targets[0].Label)
	}

	// A transport error does not carry the URL either.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := "http://" + ln.Addr().String() + testWebhookPath
	ln.Close()
	w, _ = notify.NewWebhooks(notify.WebhookConfig{URLs: []string{closed}, Secret: "s", Client: &http.Client{Timeout: time.Second}})
	n := &rolegate.Notification{ID: 1, Recipient: w.Targets()[0].ID, Facts: hostileFacts}
	err = w.Post(context.Background(), n, hookLink)
	if err == nil || strings.Contains(err.Error(), "hooktoken") {
		t.Errorf("Post to a closed port = %v; want an error without the URL's secret", err)
	}
	// A notification for a webhook no longer configured fails for good.
	n.Recipient = "webhook:ffffffffffffffff"
	if err := w.Post(context.Background(), n, hookLink); err == nil || !strings.Contains(err.Error(), "no longer configured") {
		t.Errorf("Post to a removed webhook = %v; want it refused", err)
	}
}

func TestATooManyRequestsAnswerIsRetried(t *testing.T) {
	hooks := newReceiver(t)
	hooks.setAnswer(func(n int, _ delivery, _ *http.Request) int {
		if n == 1 {
			return http.StatusTooManyRequests
		}
		return http.StatusOK
	})
	r := newRig(t, rigOptions{Hooks: []string{hooks.URL}})
	r.start(r.open())
	r.file(rigRiley, "finance-reader", "Needed for the quarterly close.")
	r.settled()
	if n := hooks.Posts(); n != 2 {
		t.Errorf("POSTs = %d; want 2 (a 429, then the retry)", n)
	}
	if d := hooks.Deliveries(); len(d) != 1 || d[0].Event != rolegate.ActionRequestCreated {
		t.Errorf("deliveries = %+v; want request.created once", d)
	}
}

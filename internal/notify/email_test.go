package notify_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/notify"
	"github.com/rolegate/rolegate/internal/rolegate"
)

const hostileJustification = `<script>alert("justification")</script> & <img src=x onerror=alert(1)>
[Approve here](https://evil.example/approve) "quoted" 'single'`

func TestHostileRequestTextIsEscapedInHTMLMail(t *testing.T) {
	mail := newMailServer(t, mailServerOptions{})
	r := newRig(t, rigOptions{Mail: mail})
	r.start(r.open())
	req := r.file(rigMallory, "finance-reader", hostileJustification)
	r.settled()

	msgs := mail.Messages()
	if len(msgs) != 2 {
		t.Fatalf("received %d messages; want 2 (one per approver)", len(msgs))
	}
	m := parseMail(t, msgs[0].Data)
	link := fmt.Sprintf("%s/requests/%d", testBaseURL, req.ID)

	for _, bad := range []string{"<script", "<img", `href="https://evil`} {
		if strings.Contains(m.HTML, bad) {
			t.Errorf("the HTML part contains %q unescaped", bad)
		}
	}
	for _, escaped := range []string{
		`&lt;script&gt;alert(&#34;justification&#34;)&lt;/script&gt; &amp; &lt;img src=x onerror=alert(1)&gt;`,
		`Mallory &lt;script&gt;alert(&#34;name&#34;)&lt;/script&gt;`,
	} {
		if !strings.Contains(m.HTML, escaped) {
			t.Errorf("the HTML part lacks %q", escaped)
		}
	}
	// The one link in the message is the request's page in the portal.
	hrefs := regexp.MustCompile(`href="([^"]*)"`).FindAllStringSubmatch(m.HTML, -1)
	if len(hrefs) != 1 || hrefs[0][1] != link {
		t.Errorf("links in the HTML part = %q; want only %q", hrefs, link)
	}
	// The plain part shows the text as written, set apart under its label.
	for _, line := range strings.Split(hostileJustification, "\n") {
		if !strings.Contains(m.Text, "    | "+line+"\n") {
			t.Errorf("the text part lacks the quoted line %q:\n%s", line, m.Text)
		}
	}
	if !strings.Contains(m.Text, "\n"+link+"\n") {
		t.Errorf("the text part lacks the link %s", link)
	}

	wantSubject := fmt.Sprintf(`[rolegate] Request #%d for the role "finance-reader" needs your review`, req.ID)
	if m.Subject != wantSubject {
		t.Errorf("Subject = %q; want %q", m.Subject, wantSubject)
	}
	for k, want := range map[string]string{
		"From":           `"rolegate" <rolegate@example.com>`,
		"Auto-Submitted": "auto-generated",
		"MIME-Version":   "1.0",
	} {
		if got := m.Header.Get(k); got != want {
			t.Errorf("%s = %q; want %q", k, got, want)
		}
	}
	if id := m.Header.Get("Message-ID"); !regexp.MustCompile(`^<rolegate\.notification\.\d+\.\d+@example\.com>$`).MatchString(id) {
		t.Errorf("Message-ID = %q; want <rolegate.notification.ID.SEQ@example.com>", id)
	}
	if msgs[0].From != "rolegate@example.com" {
		t.Errorf("envelope sender = %q; want rolegate@example.com", msgs[0].From)
	}
}

// send sends one message directly with a mailer configured by cfg.
func send(t *testing.T, cfg notify.MailerConfig, to string) error {
	t.Helper()
	m, err := notify.NewMailer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return m.Send(ctx, to, notify.Email{Subject: "Hello", Text: "Hi.\n", HTML: "<p>Hi.</p>"}, "<test.1@example.com>")
}

func TestThePasswordIsSentOnlyOverTLSOrToLoopback(t *testing.T) {
	t.Run("STARTTLS to a named server", func(t *testing.T) {
		mail := newMailServer(t, mailServerOptions{TLS: true, Username: "rolegate", Password: testSMTPPassword})
		err := send(t, notify.MailerConfig{
			Addr: "mail.example.test:587", From: "rolegate@example.com", Username: "rolegate", Password: testSMTPPassword,
			TLS:  &tls.Config{RootCAs: mail.Roots},
			Dial: redirectTo(mail.Addr),
		}, "avery@example.com")
		if err != nil {
			t.Fatalf("Send = %v; want delivered", err)
		}
		if got := mail.Messages(); len(got) != 1 || !got[0].TLS || !got[0].Authed {
			t.Errorf("received %+v; want one message over TLS, authenticated", got)
		}
	})
	t.Run("no STARTTLS from a named server", func(t *testing.T) {
		mail := newMailServer(t, mailServerOptions{InsecureAuth: true, Username: "rolegate", Password: testSMTPPassword})
		err := send(t, notify.MailerConfig{
			Addr: "mail.example.test:587", From: "rolegate@example.com", Username: "rolegate", Password: testSMTPPassword,
			Dial: redirectTo(mail.Addr),
		}, "avery@example.com")
		if err == nil || !strings.Contains(err.Error(), "did not offer STARTTLS") {
			t.Errorf("Send = %v; want a refusal to send the password in the clear", err)
		}
		if err != nil && strings.Contains(err.Error(), testSMTPPassword) {
			t.Errorf("the error shows the password: %v", err)
		}
		if n := mail.AuthAttempts(); n != 0 || len(mail.Messages()) != 0 {
			t.Errorf("the server saw %d AUTH attempts and %d messages; want none", n, len(mail.Messages()))
		}
	})
	t.Run("plain AUTH to a relay on loopback", func(t *testing.T) {
		mail := newMailServer(t, mailServerOptions{InsecureAuth: true, Username: "rolegate", Password: testSMTPPassword})
		err := send(t, notify.MailerConfig{Addr: mail.Addr, From: "rolegate@example.com", Username: "rolegate", Password: testSMTPPassword}, "avery@example.com")
		if err != nil {
			t.Fatalf("Send = %v; want delivered", err)
		}
		if got := mail.Messages(); len(got) != 1 || got[0].TLS || !got[0].Authed {
			t.Errorf("received %+v; want one authenticated message without TLS", got)
		}
	})
	t.Run("a certificate nobody vouches for", func(t *testing.T) {
		mail := newMailServer(t, mailServerOptions{TLS: true})
		err := send(t, notify.MailerConfig{Addr: mail.Addr, From: "rolegate@example.com"}, "avery@example.com")
		if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
			t.Errorf("Send = %v; want the STARTTLS handshake refused", err)
		}
		if len(mail.Messages()) != 0 {
			t.Error("a message went out over an unverified connection")
		}
	})
	t.Run("a wrong password", func(t *testing.T) {
		mail := newMailServer(t, mailServerOptions{TLS: true, Username: "rolegate", Password: testSMTPPassword})
		err := send(t, notify.MailerConfig{Addr: mail.Addr, From: "rolegate@example.com", Username: "rolegate",
			Password: "wrong-password-xyz", TLS: &tls.Config{RootCAs: mail.Roots}}, "avery@example.com")
		if err == nil || !strings.Contains(err.Error(), "535") || strings.Contains(err.Error(), "wrong-password-xyz") {
			t.Errorf("Send = %v; want the server's 535 without the password", err)
		}
	})
}

// redirectTo dials addr whatever address is asked for: a server known by a
// name that resolves nowhere in the test.
func redirectTo(addr string) func(ctx context.Context, network, _ string) (net.Conn, error) {
	return func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
}

func TestNewMailerRefusesABadSetting(t *testing.T) {
	tests := []struct {
		cfg  notify.MailerConfig
		want string
	}{
		{notify.MailerConfig{Addr: "mail.example.com", From: "rolegate@example.com"}, "host:port"},
		{notify.MailerConfig{Addr: "mail.example.com:25", From: "not an address"}, "email address"},
	}
	for _, tt := range tests {
		_, err := notify.NewMailer(tt.cfg)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewMailer(%q, %q) = %v; want an error about %s", tt.cfg.Addr, tt.cfg.From, err, tt.want)
		}
	}
}

func TestAnAddressThatIsNotOneFailsAtOnce(t *testing.T) {
	mail := newMailServer(t, mailServerOptions{})
	err := send(t, notify.MailerConfig{Addr: mail.Addr, From: "rolegate@example.com"}, "avery@example.com\r\nBcc: all@example.com")
	if err == nil || !strings.Contains(err.Error(), "not a valid email address") {
		t.Errorf("Send to a header injection = %v; want it refused", err)
	}
	if len(mail.Messages()) != 0 {
		t.Error("a message went out")
	}
}

func TestEachMessageSaysWhatHappenedToItsReader(t *testing.T) {
	base := rolegate.NotificationFacts{
		RequestID: 12, RoleName: "finance-reader", Status: rolegate.StatusPending,
		Actor:     rolegate.NoticePerson{Name: "Avery Approver", Email: "avery@example.com"},
		Requester: &rolegate.NoticePerson{Name: "Riley Requester", Email: "riley@example.com"},
		At:        time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC), SubmittedAt: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC),
		Permissions: []string{"api.groups.read"}, Justification: "Quarterly close.", RequiredApprovals: 2,
	}
	with := func(kind string, status rolegate.Status, edit func(*rolegate.NotificationFacts)) rolegate.NotificationFacts {
		f := base
		f.Kind, f.Status = kind, status
		if edit != nil {
			edit(&f)
		}
		return f
	}
	tests := []struct {
		facts    rolegate.NotificationFacts
		audience rolegate.Audience
		subject  string
		has      []string
		hasNot   []string
	}{
		{with(rolegate.NoticeSubmitted, rolegate.StatusPending, nil), rolegate.AudienceApprover,
			`Request #12 for the role "finance-reader" needs your review`,
			[]string{"Riley Requester asks for a new custom role", "It needs 2 approvals", "Review request #12", "api.groups.read", "Quarterly close.", "you are an approver"}, nil},
		{with(rolegate.NoticeApproved, rolegate.StatusApproved, func(f *rolegate.NotificationFacts) {
			f.Approvals = []rolegate.NoticeApproval{{Name: "Avery Approver", Comment: "Fine."}, {Name: "Blake Approver"}}
		}), rolegate.AudienceRequester,
			`Your request #12 for the role "finance-reader" was approved`,
			[]string{"Avery Approver: Fine.", "Blake Approver", "you will get another message", "you filed this request"}, nil},
		{with(rolegate.NoticeRejected, rolegate.StatusRejected, func(f *rolegate.NotificationFacts) { f.Comment = "Too broad." }), rolegate.AudienceRequester,
			`Your request #12 for the role "finance-reader" was rejected`,
			[]string{"Avery Approver rejected your request", "Too broad."}, nil},
		{with(rolegate.NoticeExpired, rolegate.StatusExpired, nil), rolegate.AudienceRequester,
			`Your request #12 for the role "finance-reader" expired`,
			[]string{"expired without a decision", "2026-03-01 09:00 UTC"}, nil},
		{with(rolegate.NoticeProvisioned, rolegate.StatusProvisioned, func(f *rolegate.NotificationFacts) { f.RoleID = "role_abc" }), rolegate.AudienceRequester,
			`The role "finance-reader" was created (request #12)`,
			[]string{"you asked for now exists", "role_abc"}, nil},
		{with(rolegate.NoticeProvisioned, rolegate.StatusProvisioned, func(f *rolegate.NotificationFacts) { f.RoleID = "role_abc" }), rolegate.AudienceApprover,
			`The role "finance-reader" was created (request #12)`,
			[]string{"you approved now exists", "role_abc"}, nil},
		{with(rolegate.NoticeFailed, rolegate.StatusFailed, func(f *rolegate.NotificationFacts) { f.Failure = "OpenAI answered 400 to create: bad permission" }), rolegate.AudienceRequester,
			`Creating the role "finance-reader" failed (request #12)`,
			[]string{"The admins have been told", "OpenAI answered 400 to create: bad permission"}, []string{"Retry request"}},
		{with(rolegate.NoticeFailed, rolegate.StatusFailed, func(f *rolegate.NotificationFacts) { f.Failure = "OpenAI answered 400 to create: bad permission" }), rolegate.AudienceAdmin,
			`Creating the role "finance-reader" failed (request #12)`,
			[]string{"Retry request #12", "retry provisioning", "Riley Requester", "OpenAI answered 400 to create: bad permission", "you are an admin"}, nil},
		{with(rolegate.NoticeAbandoned, rolegate.StatusFailed, func(f *rolegate.NotificationFacts) {
			f.Actor = rolegate.NoticePerson{Name: "Drew Admin"}
			f.Comment = "The permission no longer exists."
		}), rolegate.AudienceRequester,
			`The role "finance-reader" will not be created (request #12)`,
			[]string{"Drew Admin stopped the attempts", "The permission no longer exists."}, nil},
		{with(rolegate.NoticeReminder, rolegate.StatusPending, func(f *rolegate.NotificationFacts) {
			f.Approvals = []rolegate.NoticeApproval{{Name: "Avery Approver"}}
		}), rolegate.AudienceApprover,
			`Reminder: request #12 for the role "finance-reader" is waiting for review`,
			[]string{"waiting for a decision since 2026-03-01 09:00 UTC", "It has 1 of 2 approvals (Avery Approver)", "Review request #12"}, nil},
	}
	const link = "https://rolegate.example.com/requests/12"
	for _, tt := range tests {
		name := tt.facts.Kind + "/" + string(tt.audience)
		msg, err := notify.RenderEmail(tt.facts, tt.audience, link)
		if err != nil {
			t.Fatalf("RenderEmail(%s): %v", name, err)
		}
		if want := "[rolegate] " + tt.subject; msg.Subject != want {
			t.Errorf("RenderEmail(%s).Subject = %q; want %q", name, msg.Subject, want)
		}
		for _, part := range []struct{ name, body string }{{"text", msg.Text}, {"HTML", msg.HTML}} {
			body := strings.ReplaceAll(part.body, "&#34;", `"`)
			for _, s := range append(tt.has, link) {
				if !strings.Contains(body, s) {
					t.Errorf("RenderEmail(%s) %s part lacks %q:\n%s", name, part.name, s, part.body)
				}
			}
			for _, s := range tt.hasNot {
				if strings.Contains(body, s) {
					t.Errorf("RenderEmail(%s) %s part contains %q", name, part.name, s)
				}
			}
			if !strings.Contains(body, "Nothing is decided from this message") {
				t.Errorf("RenderEmail(%s) %s part does not say that links only open the portal", name, part.name)
			}
		}
	}
}

// A project request's mail names its project (its name and id) in every
// message, and the organization's never speaks of a project.
func TestAProjectRequestsMailNamesItsProject(t *testing.T) {
	const link = "https://rolegate.example.com/requests/12"
	for _, tc := range []struct {
		kind     string
		status   rolegate.Status
		audience rolegate.Audience
	}{
		{rolegate.NoticeSubmitted, rolegate.StatusPending, rolegate.AudienceApprover},
		{rolegate.NoticeApproved, rolegate.StatusApproved, rolegate.AudienceRequester},
		{rolegate.NoticeProvisioned, rolegate.StatusProvisioned, rolegate.AudienceRequester},
		{rolegate.NoticeFailed, rolegate.StatusFailed, rolegate.AudienceAdmin},
	} {
		for _, scope := range []string{"proj_pay", rolegate.ScopeLabelOrganization} {
			f := rolegate.NotificationFacts{Kind: tc.kind, Status: tc.status, RequestID: 12, RoleName: "key-readers",
				Actor:     rolegate.NoticePerson{Name: "Avery Approver"},
				Requester: &rolegate.NoticePerson{Name: "Riley Requester"}, RoleID: "role_abc", Failure: "OpenAI answered 400.",
				Permissions: []string{"api.organization.projects.api_keys.read"}, Justification: "Key review.", RequiredApprovals: 1,
				Scope: scope}
			if scope != rolegate.ScopeLabelOrganization {
				f.ScopeName = "Payments"
			}
			msg, err := notify.RenderEmail(f, tc.audience, link)
			if err != nil {
				t.Fatalf("RenderEmail(%s, %s): %v", tc.kind, scope, err)
			}
			for _, part := range []struct{ name, body string }{{"text", msg.Text}, {"HTML", msg.HTML}} {
				named := strings.Contains(part.body, "Project Payments (proj_pay)")
				if scope == "proj_pay" && !named {
					t.Errorf("RenderEmail(%s) of a project request: the %s part does not name the project:\n%s", tc.kind, part.name, part.body)
				}
				if scope != "proj_pay" && (named || strings.Contains(part.body, "in the project") || strings.Contains(part.body, "Scope")) {
					t.Errorf("RenderEmail(%s) of an organization request: the %s part speaks of a project:\n%s", tc.kind, part.name, part.body)
				}
			}
		}
	}
}

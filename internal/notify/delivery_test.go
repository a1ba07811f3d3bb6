package notify_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/notify"
	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/testkit"
)

func TestEachEventReachesEachRecipientOnce(t *testing.T) {
	mail := newMailServer(t, mailServerOptions{TLS: true, Username: "rolegate", Password: testSMTPPassword})
	hooks := newReceiver(t)
	r := newRig(t, rigOptions{Mail: mail, MailConfig: func(c *notify.MailerConfig) {
		c.Username, c.Password = "rolegate", testSMTPPassword
	}, Hooks: []string{hooks.URL + testWebhookPath}})
	r.start(r.open())

	granted := r.file(rigRiley, "finance-reader", "Needed for the quarterly close.")
	r.approve(rigAvery, granted, "OK for Q3.")
	r.provision("role_fin123")
	rejected := r.file(rigRiley, "too-broad", "Everything, for convenience.")
	if _, err := r.requests.Reject(r.ctx, rigBlake, rejected.ID, "Ask for less."); err != nil {
		t.Fatal(err)
	}
	failed := r.file(rigRiley, "will-fail", "Testing the failure path.")
	r.approve(rigBlake, failed, "")
	r.failProvisioning("OpenAI answered 400 to create: unknown permission")
	r.settled()

	var got []string
	for _, m := range mail.Messages() {
		if !m.TLS || !m.Authed {
			t.Errorf("mail to %s: TLS %v, authenticated %v; want both", m.To, m.TLS, m.Authed)
		}
		got = append(got, m.To+" | "+parseMail(t, m.Data).Subject)
	}
	slices.Sort(got)
	want := []string{
		fmt.Sprintf(`avery@example.com | [rolegate] Request #%d for the role "finance-reader" needs your review`, granted.ID),
		fmt.Sprintf(`avery@example.com | [rolegate] Request #%d for the role "too-broad" needs your review`, rejected.ID),
		fmt.Sprintf(`avery@example.com | [rolegate] Request #%d for the role "will-fail" needs your review`, failed.ID),
		fmt.Sprintf(`avery@example.com | [rolegate] The role "finance-reader" was created (request #%d)`, granted.ID),
		fmt.Sprintf(`blake@example.com | [rolegate] Request #%d for the role "finance-reader" needs your review`, granted.ID),
		fmt.Sprintf(`blake@example.com | [rolegate] Request #%d for the role "too-broad" needs your review`, rejected.ID),
		fmt.Sprintf(`blake@example.com | [rolegate] Request #%d for the role "will-fail" needs your review`, failed.ID),
		fmt.Sprintf(`drew@example.com | [rolegate] Creating the role "will-fail" failed (request #%d)`, failed.ID),
		fmt.Sprintf(`riley@example.com | [rolegate] Creating the role "will-fail" failed (request #%d)`, failed.ID),
		fmt.Sprintf(`riley@example.com | [rolegate] The role "finance-reader" was created (request #%d)`, granted.ID),
		fmt.Sprintf(`riley@example.com | [rolegate] Your request #%d for the role "finance-reader" was approved`, granted.ID),
		fmt.Sprintf(`riley@example.com | [rolegate] Your request #%d for the role "too-broad" was rejected`, rejected.ID),
		fmt.Sprintf(`riley@example.com | [rolegate] Your request #%d for the role "will-fail" was approved`, failed.ID),
	}
	if !slices.Equal(got, want) {
		t.Errorf("mail received:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	var events []string
	for _, d := range hooks.Deliveries() {
		var body struct {
			Event   string
			Request struct{ ID int64 }
		}
		if err := json.Unmarshal(d.Body, &body); err != nil {
			t.Fatalf("webhook body: %v", err)
		}
		events = append(events, fmt.Sprintf("#%d %s", body.Request.ID, body.Event))
	}
	slices.Sort(events)
	wantEvents := []string{
		fmt.Sprintf("#%d provisioning.succeeded", granted.ID),
		fmt.Sprintf("#%d request.approved", granted.ID),
		fmt.Sprintf("#%d request.created", granted.ID),
		fmt.Sprintf("#%d request.created", rejected.ID),
		fmt.Sprintf("#%d request.rejected", rejected.ID),
		fmt.Sprintf("#%d provisioning.failed", failed.ID),
		fmt.Sprintf("#%d request.approved", failed.ID),
		fmt.Sprintf("#%d request.created", failed.ID),
	}
	slices.Sort(wantEvents)
	if !slices.Equal(events, wantEvents) {
		t.Errorf("webhook events:\n%s\nwant:\n%s", strings.Join(events, "\n"), strings.Join(wantEvents, "\n"))
	}
	if rej := hooks.Rejected(); len(rej) != 0 {
		t.Errorf("the receiver rejected %q; want every signature valid", rej)
	}

	// Every delivery is in the audit trail, once.
	lines, errs := r.outcomes(granted.ID, rejected.ID, failed.ID)
	if len(lines) != len(want)+len(wantEvents) || len(errs) != 0 {
		t.Errorf("audit outcomes = %d lines %q (errors %q); want %d notification.sent", len(lines), lines, errs, len(want)+len(wantEvents))
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "notification.sent ") {
			t.Errorf("audit outcome %q; want notification.sent", l)
		}
	}
	assertNoSecrets(t, r)
}

func TestAFailingReceiverIsRetriedThenRecordedAsFailed(t *testing.T) {
	hooks := newReceiver(t)
	hooks.setAnswer(func(int, delivery, *http.Request) int { return http.StatusBadGateway })
	// A mail server that is down: a port nothing listens on.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	downAddr := ln.Addr().String()
	ln.Close()
	r := newRig(t, rigOptions{Mail: &mailServer{Addr: downAddr}, Hooks: []string{hooks.URL + testWebhookPath}, MaxAttempts: 3})
	r.start(r.open())

	req := r.file(rigRiley, "finance-reader", "Needed for the quarterly close.")
	r.settled()

	if n := hooks.Posts(); n != 3 {
		t.Errorf("the receiver got %d POSTs; want 3 (MaxAttempts)", n)
	}
	lines, errs := r.outcomes(req.ID)
	want := []string{
		"notification.failed email avery@example.com request.created",
		"notification.failed email blake@example.com request.created",
	}
	for _, l := range lines {
		if strings.Contains(l, " webhook ") {
			want = append(want, l) // the label is checked below
		}
	}
	slices.Sort(lines)
	slices.Sort(want)
	if len(lines) != 3 || !slices.Equal(lines, want) {
		t.Errorf("audit outcomes = %q; want two failed emails and one failed webhook", lines)
	}
	for _, e := range errs {
		if !strings.HasPrefix(e, "Gave up after 3 attempts. Last error: ") {
			t.Errorf("failure reason %q; want it to say it gave up after 3 attempts", e)
		}
	}
	if !slices.ContainsFunc(errs, func(e string) bool { return strings.Contains(e, "the receiver answered 502") }) {
		t.Errorf("failure reasons %q; want the receiver's 502", errs)
	}
	assertNoSecrets(t, r)
}

func TestAPermanentRefusalIsNotRetried(t *testing.T) {
	mail := newMailServer(t, mailServerOptions{RejectRcpt: []string{"blake@example.com"}})
	hooks := newReceiver(t)
	hooks.setAnswer(func(int, delivery, *http.Request) int { return http.StatusGone })
	r := newRig(t, rigOptions{Mail: mail, Hooks: []string{hooks.URL + "/gone"}, MaxAttempts: 5})
	r.start(r.open())
	req := r.file(rigRiley, "finance-reader", "Needed for the quarterly close.")
	r.settled()

	if n := hooks.Posts(); n != 1 {
		t.Errorf("a 410 was retried: %d POSTs; want 1", n)
	}
	all, _ := r.db.Outbox.NotificationsOf(r.ctx, req.ID)
	for _, n := range all {
		want := "sent"
		if n.Recipient == "blake@example.com" || n.Channel == rolegate.ChannelWebhook {
			want = "failed"
		}
		if n.State != want || n.Attempts != 1 {
			t.Errorf("%s: state %s after %d attempts; want %s after 1 (%s)", n.Label, n.State, n.Attempts, want, n.LastError)
		}
		if n.Recipient == "blake@example.com" && !strings.Contains(n.LastError, "550") {
			t.Errorf("blake's failure %q; want the server's 550", n.LastError)
		}
	}
}

func TestADownMailServerNeverDelaysAnApproval(t *testing.T) {
	// A mail server that accepts connections and never says a word.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	hooks := newReceiver(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	hooks.setAnswer(func(_ int, _ delivery, r *http.Request) int {
		select { // a webhook that hangs too
		case <-release:
		case <-r.Context().Done():
		}
		return http.StatusOK
	})
	r := newRig(t, rigOptions{Mail: &mailServer{Addr: ln.Addr().String()}, Hooks: []string{hooks.URL},
		MailConfig: func(c *notify.MailerConfig) { c.Timeout = time.Minute }})
	r.start(r.open())

	req := r.file(rigRiley, "finance-reader", "Needed for the quarterly close.")
	// The worker is stuck on both channels once the mail server holds its
	// connection and the webhook its POST.
	testkit.WaitFor(t, "the worker stuck on the mail server and the webhook", func() bool {
		mu.Lock()
		n := len(conns)
		mu.Unlock()
		return n >= 1 && hooks.Posts() >= 1
	}, r.logs.String)
	start := time.Now()
	r.approve(rigAvery, req, "")
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("approving took %v while the mail server hung (for a minute); want it independent of delivery", took)
	}
	got, err := r.requests.Get(r.ctx, req.ID)
	if err != nil || got.Status != rolegate.StatusApproved {
		t.Fatalf("request after approval = %v, %v; want approved", got, err)
	}
	all, _ := r.db.Outbox.NotificationsOf(r.ctx, req.ID)
	var queued int
	for _, n := range all {
		if n.Facts.Event == rolegate.ActionRequestApproved && (n.State == "queued" || n.State == "sending") {
			queued++
		}
	}
	if queued != 2 {
		t.Errorf("%d notifications of the approval waiting; want 2 (the requester's email and the webhook)", queued)
	}
}

func TestARestartMidDeliveryNeitherLosesNorDuplicatesBeyondAtLeastOnce(t *testing.T) {
	mail := newMailServer(t, mailServerOptions{})
	hooks := newReceiver(t)
	inFlight := make(chan string, 10)
	hooks.setAnswer(func(n int, d delivery, r *http.Request) int {
		if n == 1 { // the first delivery hangs until the process goes away
			inFlight <- d.ID
			<-r.Context().Done()
			return http.StatusOK // recorded by the receiver: it did get it
		}
		return http.StatusOK
	})
	r := newRig(t, rigOptions{Mail: mail, Hooks: []string{hooks.URL + testWebhookPath}})
	r.start(r.open())

	first := r.file(rigRiley, "finance-reader", "Needed for the quarterly close.")
	var hung string
	select {
	case hung = <-inFlight:
	case <-time.After(10 * time.Second):
		t.Fatal("the first webhook delivery never arrived")
	}
	// Both review emails are out and recorded; the webhook is in flight when
	// the process stops. More happens before the next one starts: it waits
	// in the queue.
	testkit.WaitFor(t, "both review emails recorded as sent", func() bool {
		ns, _ := r.db.Outbox.NotificationsOf(r.ctx, first.ID)
		sent := 0
		for _, n := range ns {
			if n.Channel == rolegate.ChannelEmail && n.State == "sent" {
				sent++
			}
		}
		return sent >= 2
	}, r.logs.String)
	r.stop()
	r.db.Close()
	w := r.open()
	second := r.file(rigRiley, "payroll-reader", "Needed for the payroll audit.")
	r.approve(rigAvery, first, "")
	r.start(w)
	r.settled()

	// Every email went out exactly once.
	perRecipient := map[string]int{}
	for _, m := range mail.Messages() {
		perRecipient[m.To+" "+parseMail(t, m.Data).Subject]++
	}
	if len(perRecipient) != 5 {
		t.Errorf("distinct emails = %d; want 5 (2 reviews × 2 requests + the approval)", len(perRecipient))
	}
	for k, n := range perRecipient {
		if n != 1 {
			t.Errorf("%q received %d times; want once", k, n)
		}
	}
	// Every webhook event arrived; only the one in flight at the stop twice,
	// with the same delivery id so the receiver can tell.
	seen := map[string]int{}
	for _, d := range hooks.Deliveries() {
		seen[d.ID]++
	}
	all, _ := r.db.Outbox.NotificationsOf(r.ctx, first.ID)
	more, _ := r.db.Outbox.NotificationsOf(r.ctx, second.ID)
	var hookIDs []string
	for _, n := range append(all, more...) {
		if n.State != "sent" {
			t.Errorf("%s %s: state %s; want sent", n.Label, n.Facts.Event, n.State)
		}
		if n.Channel == rolegate.ChannelWebhook {
			hookIDs = append(hookIDs, fmt.Sprint(n.ID))
		}
	}
	if len(hookIDs) != 3 {
		t.Fatalf("webhook notifications = %d; want 3", len(hookIDs))
	}
	for _, id := range hookIDs {
		want := 1
		if id == hung {
			want = 2
		}
		if seen[id] != want {
			t.Errorf("delivery %s received %d times; want %d", id, seen[id], want)
		}
	}
}

func TestReceiversRejectAStaleSignature(t *testing.T) {
	hooks := newReceiver(t)
	r := newRig(t, rigOptions{Hooks: []string{hooks.URL}, MaxAttempts: 2,
		WebhookNow: func() time.Time { return time.Now().Add(-6 * time.Minute) }})
	r.start(r.open())
	req := r.file(rigRiley, "finance-reader", "Needed for the quarterly close.")
	r.settled()
	if rej := hooks.Rejected(); !slices.Equal(rej, []string{"signature too old"}) {
		t.Errorf("receiver rejections = %q; want one stale signature", rej)
	}
	_, errs := r.outcomes(req.ID)
	if len(errs) != 1 || !strings.Contains(errs[0], "401") {
		t.Errorf("failure reasons %q; want the receiver's 401, not retried", errs)
	}
}

func TestApproversAreRemindedOfAPendingRequest(t *testing.T) {
	mail := newMailServer(t, mailServerOptions{})
	r := newRig(t, rigOptions{Mail: mail, Reminder: 300 * time.Millisecond})
	r.start(r.open())
	req := r.file(rigRiley, "finance-reader", "Needed for the quarterly close.")
	want := fmt.Sprintf(`[rolegate] Reminder: request #%d for the role "finance-reader" is waiting for review`, req.ID)
	reminded := map[string]bool{}
	testkit.WaitFor(t, "reminders to both approvers", func() bool {
		for _, m := range mail.Messages() {
			if parseMail(t, m.Data).Subject == want {
				reminded[m.To] = true
			}
		}
		return len(reminded) >= 2
	}, func() string { return fmt.Sprintf("reminded %v", reminded) })
	if !reminded["avery@example.com"] || !reminded["blake@example.com"] || len(reminded) != 2 {
		t.Errorf("reminded %v; want avery and blake", reminded)
	}
	// Decided requests are not reminded of.
	r.approve(rigAvery, req, "")
	r.stop()
	n, err := r.requests.RemindPending(r.ctx, time.Nanosecond)
	if err != nil || n != 0 {
		t.Errorf("RemindPending after the decision = %d, %v; want 0", n, err)
	}
}

// assertNoSecrets checks the database file, its WAL, the audit trail and
// the logs for the SMTP password, the webhook secret and the webhook URL's
// secret path.
func assertNoSecrets(t *testing.T, r *rig) {
	t.Helper()
	secrets := []string{testSMTPPassword, testWebhookSecret, "hooktoken-never-shown"}
	places := map[string]string{"the logs": r.logs.String()}
	for _, p := range []string{r.path, r.path + "-wal"} {
		if b, err := os.ReadFile(p); err == nil {
			places[filepath.Base(p)] = string(b)
		}
	}
	for _, s := range secrets {
		for where, text := range places {
			if strings.Contains(text, s) {
				t.Errorf("secret %q found in %s", s, where)
			}
		}
	}
}

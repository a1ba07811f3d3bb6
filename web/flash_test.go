package web_test

import (
	"github.com/rolegate/rolegate/internal/rolegate"

	"net/http"
	"net/url"
	"strings"
	"testing"
)

// flashOf returns the text of the page's flash, "" when it has none.
func flashOf(p page) string {
	const open = `<div class="flash ok" role="status">`
	i := strings.Index(p.Body, open)
	if i < 0 {
		return ""
	}
	rest := p.Body[i+len(open):]
	return rest[:strings.Index(rest, "</div>")]
}

// The flash after a post is said once, to the person who acted: not to
// someone else opening the same link, not again on reload, and never
// because of something in the URL.
func TestFlashIsShownOnceToTheActor(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	riley := h.signInAs("requester")
	avery := h.signInAs("approver1")

	id := h.fileRequest(riley, "Flash Reader")
	const want = "Your request was submitted. No notification was sent: Approvers will see it under Reviews."
	if got := flashOf(avery.get(requestURL(id))); got != "" {
		t.Errorf("an approver opening the requester's link sees the flash %q; want none", got)
	}
	if got := flashOf(riley.get(requestURL(id))); got != want {
		t.Errorf("the requester's page after submitting says %q; want %q", got, want)
	}
	if got := flashOf(riley.get(requestURL(id))); got != "" {
		t.Errorf("after a reload the page still says %q; want no flash", got)
	}
	for _, old := range []string{"?done=created", "?done=retried", "?done=approved"} {
		if got := flashOf(avery.get(requestURL(id) + old)); got != "" {
			t.Errorf("%s%s shows the flash %q; the URL must not make a page say anything", requestURL(id), old, got)
		}
	}

	// A decision's flash is the approver's alone, once, on that request.
	page := avery.get(requestURL(id))
	res := avery.postWithToken(requestURL(id)+"/approve", url.Values{"payload_hash": {regexpFind(t, page.Body, `name="payload_hash" value="([0-9a-f]{64})"`)}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != requestURL(id) {
		t.Fatalf("approve = %d to %q; want 303 to %s", res.StatusCode, res.Header.Get("Location"), requestURL(id))
	}
	if got := flashOf(riley.get(requestURL(id))); got != "" {
		t.Errorf("the requester sees the approver's flash %q", got)
	}
	if got := flashOf(avery.get(requestURL(id))); got != "Your approval was recorded." {
		t.Errorf("the approver's page after approving says %q; want the approval recorded", got)
	}
	if got := flashOf(avery.get(requestURL(id))); got != "" {
		t.Errorf("after a reload the approver's page still says %q", got)
	}
}

// A flash waits for its own page: another page opened in between neither
// shows nor spends it.
func TestFlashWaitsForItsPage(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	riley := h.signInAs("requester")
	id := h.fileRequest(riley, "Patient Reader")
	if got := flashOf(riley.get("/requests")); got != "" {
		t.Errorf("My requests shows the flash %q meant for the request page", got)
	}
	if got := flashOf(riley.get(requestURL(id))); !strings.HasPrefix(got, "Your request was submitted.") {
		t.Errorf("the request page says %q; want the submission flash", got)
	}
}

// A flash left for one person is not shown to the next person who signs in
// on the same browser.
func TestFlashDoesNotOutliveTheSession(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	b := h.signInAs("requester")
	id := h.fileRequest(b, "Shared Browser Reader")
	if res := b.post("/auth/dev", url.Values{"persona": {"auditor"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("second sign-in on the browser = %d; want 303", res.StatusCode)
	}
	if got := flashOf(b.get(requestURL(id))); got != "" {
		t.Errorf("the next person on the browser sees %q; want no flash", got)
	}
}

// After submitting, the flash says what was really done to tell approvers:
// the emails queued (one per approver who may decide; never the requester
// themself) and the webhook messages.
func TestSubmittedFlashCountsTheNotificationsQueued(t *testing.T) {
	h := newHarness(t, harnessOptions{Notify: &rolegate.NotificationTargets{
		Email: true, Webhooks: []rolegate.WebhookTarget{{ID: "w1", Label: "https://chat.example"}},
	}})
	riley := h.signInAs("requester")
	h.signInAs("approver1")
	h.signInAs("approver2")
	id := h.fileRequest(riley, "Announced Reader")
	const want = "Your request was submitted. Email notifications were queued to 2 approvers and a message to 1 webhook. Approvers will see it under Reviews."
	if got := flashOf(riley.get(requestURL(id))); got != want {
		t.Errorf("flash = %q; want %q", got, want)
	}
}

package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func fmtSscanf(s, format string, args ...any) (int, error) { return fmt.Sscanf(s, format, args...) }

// The walking skeleton: health, the layout with its navigation, and one
// request filed and approved through real HTTP.
func TestSkeletonJourney(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	anon := h.newBrowser()
	if p := anon.get("/healthz"); p.StatusCode != http.StatusOK {
		t.Fatalf("GET /healthz = %d; want 200", p.StatusCode)
	}
	if p := anon.get("/readyz"); p.StatusCode != http.StatusOK {
		t.Fatalf("GET /readyz = %d; want 200", p.StatusCode)
	}
	if p := anon.get("/requests"); p.StatusCode != http.StatusSeeOther || !strings.HasPrefix(p.Header.Get("Location"), "/auth/login") {
		t.Fatalf("GET /requests signed out = %d %q; want a redirect to sign in", p.StatusCode, p.Header.Get("Location"))
	}

	requester := h.signInAs("requester")
	home := requester.get("/")
	for _, word := range []string{"New request", "My requests", "Sign out"} {
		if !strings.Contains(home.Body, word) {
			t.Errorf("home page lacks %q", word)
		}
	}
	if strings.Contains(home.Body, ">Reviews<") {
		t.Errorf("a requester sees the Reviews link")
	}
	id := h.fileRequest(requester, "Group Reader")

	approver := h.signInAs("approver1")
	p := approver.get(fmt.Sprintf("/requests/%d", id))
	if !strings.Contains(p.Body, "Pending") || !strings.Contains(p.Body, ">Approve<") {
		t.Fatalf("request page for approver lacks Pending/Approve:\n%s", p.Body)
	}
	hash := regexpFind(t, p.Body, `name="payload_hash" value="([0-9a-f]{64})"`)
	res := approver.postWithToken(fmt.Sprintf("/requests/%d/approve", id), url.Values{"payload_hash": {hash}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("approve = %d; want 303\n%s", res.StatusCode, res.Body)
	}
	if got := <-h.HandedOff; got != id {
		t.Errorf("handed off %d; want %d", got, id)
	}
	if p := approver.get(fmt.Sprintf("/requests/%d", id)); !strings.Contains(p.Body, "Approved") {
		t.Errorf("after approval the page does not say Approved")
	}
}

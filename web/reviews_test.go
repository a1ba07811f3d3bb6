package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// Reviewing requests through the portal: the Reviews queue, Approve and
// Reject bound to the payload, and an admin's retry or abandon.

var averyActor = devActor("approver1", "Avery Approver", rolegate.RoleRequester, rolegate.RoleApprover)

// payloadHash reads the hash an approval form binds to.
func payloadHash(t *testing.T, body string) string {
	t.Helper()
	return regexpFind(t, body, `name="payload_hash" value="([0-9a-f]{64})"`)
}

func TestReviewsListsWhatWaitsForTheApproverOldestFirst(t *testing.T) {
	h := newHarness(t, harnessOptions{Env: map[string]string{"ROLEGATE_REQUIRED_APPROVALS": "2"}})
	first := h.seedRequest(rileyActor, "First Role")
	h.seedRequest(averyActor, "Avery Own Role")
	second := h.seedRequest(someoneElse, "Second Role")
	done := h.seedRequest(rileyActor, "Cancelled Role")
	if _, err := h.Requests.Cancel(t.Context(), rileyActor, done.ID); err != nil {
		t.Fatal(err)
	}
	queue := func(b *browser) []string {
		t.Helper()
		p := b.get("/reviews")
		if p.StatusCode != http.StatusOK {
			t.Fatalf("GET /reviews = %d", p.StatusCode)
		}
		var names []string
		for _, m := range regexp.MustCompile(`<td class="wrap"><a href="/requests/\d+">([^<]+)</a>`).FindAllStringSubmatch(p.Body, -1) {
			names = append(names, m[1])
		}
		return names
	}
	avery, blake := h.signInAs("approver1"), h.signInAs("approver2")
	if got, want := fmt.Sprint(queue(avery)), "[First Role Second Role]"; got != want {
		t.Errorf("Avery's queue = %s; want %s (oldest first, not her own)", got, want)
	}
	if got, want := fmt.Sprint(queue(blake)), "[First Role Avery Own Role Second Role]"; got != want {
		t.Errorf("Blake's queue = %s; want %s", got, want)
	}
	// Once Avery approved First Role, it waits for someone else, not her.
	hash := payloadHash(t, avery.get(fmt.Sprintf("/requests/%d", first.ID)).Body)
	if p := avery.postWithToken(fmt.Sprintf("/requests/%d/approve", first.ID), url.Values{"payload_hash": {hash}}); p.StatusCode != http.StatusSeeOther {
		t.Fatalf("approve = %d", p.StatusCode)
	}
	if got, want := fmt.Sprint(queue(avery)), "[Second Role]"; got != want {
		t.Errorf("Avery's queue after approving = %s; want %s", got, want)
	}
	if got, want := fmt.Sprint(queue(blake)), "[First Role Avery Own Role Second Role]"; got != want {
		t.Errorf("Blake's queue after Avery approved = %s; want %s", got, want)
	}
	if p := avery.get("/"); !strings.Contains(p.Body, "1 waiting for your decision") {
		t.Errorf("Avery's start page does not count 1 waiting")
	}
	// Every page's navigation counts the queue beside Reviews: not the
	// approver's own requests, nor those they approved.
	for _, tt := range []struct {
		who  string
		b    *browser
		want string
	}{{"Avery", avery, "1 request waits for your review"}, {"Blake", blake, "3 requests wait for your review"}} {
		if got := text(element(tt.b.get("/requests").Body, "reviews-waiting")); got != tt.want {
			t.Errorf("%s's navigation counts %q; want %q", tt.who, got, tt.want)
		}
	}
	// A request that no longer waits leaves the count; with none, no count.
	if _, err := h.Requests.Cancel(t.Context(), someoneElse, second.ID); err != nil {
		t.Fatal(err)
	}
	if p := avery.get("/requests"); strings.Contains(p.Body, `id="reviews-waiting"`) || !strings.Contains(p.Body, `href="/reviews"`) {
		t.Errorf("Avery's navigation, nothing waiting, shows a count (or no Reviews link)")
	}
	if got := text(element(blake.get("/requests").Body, "reviews-waiting")); got != "2 requests wait for your review" {
		t.Errorf("Blake's navigation after a cancellation counts %q; want 2", got)
	}
	if p := h.signInAs("requester").get("/reviews"); p.StatusCode != http.StatusForbidden {
		t.Errorf("a requester opening Reviews = %d; want 403", p.StatusCode)
	}
}

// The approver sees the exact body and its SHA-256 beside it, and the
// plain forms work without JavaScript.
func TestApproverSeesThePayloadAndItsHash(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	req := h.seedRequest(rileyActor, "Group Reader", "api.groups.read", "api.users.read")
	p := h.signInAs("approver1").get(fmt.Sprintf("/requests/%d", req.ID))
	if got := text(element(p.Body, "payload-hash")); got != req.PayloadHash || got != rolegate.PayloadHash(req.Payload) {
		t.Errorf("shown hash %q; want %q", got, req.PayloadHash)
	}
	payload := text(element(p.Body, "payload"))
	for _, want := range []string{`"role_name": "Group Reader"`, `"api.groups.read"`, `"api.users.read"`} {
		if !strings.Contains(payload, want) {
			t.Errorf("shown payload %s lacks %s", payload, want)
		}
	}
	if got := payloadHash(t, p.Body); got != req.Binding() || got == req.PayloadHash {
		t.Errorf("the approval form binds to %s; want the whole call's %s", got, req.Binding())
	}
	for _, want := range []string{
		fmt.Sprintf(`<form method="post" action="/requests/%d/approve">`, req.ID),
		fmt.Sprintf(`formaction="/requests/%d/reject"`, req.ID),
		`<label for="comment">Comment</label>`, `name="csrf_token"`,
	} {
		if !strings.Contains(p.Body, want) {
			t.Errorf("the decision form lacks %s", want)
		}
	}
	// reader grants these two and many more: it is not offered.
	if overlap := text(element(p.Body, "overlap-check")); overlap != "" {
		t.Errorf("the approver is offered a far broader role: %q", overlap)
	}
	// A request for all but one of reader's permissions names reader, what
	// it adds and, behind a <details>, all it grants.
	reads := readPermissions(h)
	near := h.seedRequest(rileyActor, "Nearly Reader", reads[1:]...)
	overlap := element(h.signInAs("approver1").get(fmt.Sprintf("/requests/%d", near.ID)).Body, "overlap-check")
	if got, want := text(overlap), "The existing role reader already grants all of these permissions, and 1 more: "+reads[0]; !strings.HasPrefix(got, want) {
		t.Errorf("the approver is told %q; want it to start %q", got, want)
	}
	if !strings.Contains(overlap, "<details>") || !strings.Contains(text(overlap), "What reader grants ("+fmt.Sprint(len(reads))+")") {
		t.Errorf("reader's permissions are not shown behind a <details>: %s", overlap)
	}
}

func TestApprovalIsBoundToThePayloadShown(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	req := h.seedRequest(rileyActor, "Group Reader")
	other := h.seedRequest(rileyActor, "Group Writer", "api.groups.write")
	avery := h.signInAs("approver1")
	page := fmt.Sprintf("/requests/%d", req.ID)
	path := page + "/approve"
	// The body's hash alone no longer binds a request filed with binding version 2.
	for _, hash := range []string{"", other.Binding(), req.PayloadHash, strings.Repeat("0", 64), req.Binding()[:63] + "x"} {
		p := avery.refused(avery.postWithToken(path, url.Values{"payload_hash": {hash}}), page)
		if !strings.Contains(summary(p), "not the one on file") {
			t.Errorf("approve with hash %q: the request page says %q; want that the payload differs", hash, summary(p))
		}
	}
	if got, _ := h.Requests.Get(t.Context(), req.ID); got.ApprovalCount() != 0 || got.Status != rolegate.StatusPending {
		t.Errorf("after refused approvals: %s with %d approvals; want pending with none", got.Status, got.ApprovalCount())
	}
	p := avery.postWithToken(path, url.Values{"payload_hash": {req.Binding()}, "comment": {"Matches the access review."}})
	if p.StatusCode != http.StatusSeeOther {
		t.Fatalf("approve with the right hash = %d\n%s", p.StatusCode, p.Body)
	}
	if got := <-h.HandedOff; got != req.ID {
		t.Errorf("handed off %d; want %d", got, req.ID)
	}
	shown := avery.get(page)
	approvals := text(element(shown.Body, "approvals"))
	if !strings.Contains(approvals, "Avery Approver") || !strings.Contains(approvals, req.Binding()[:12]) ||
		!strings.Contains(approvals, "Matches the access review.") {
		t.Errorf("approvals table %q; want Avery, the hash and the comment", approvals)
	}
	if !strings.Contains(shown.Body, `data-status="approved">Approved<`) || !strings.Contains(text(element(shown.Body, "timeline")), "Handed to provisioning") {
		t.Errorf("the page does not say Approved and handed to provisioning")
	}
	if p := avery.refused(avery.postWithToken(path, url.Values{"payload_hash": {req.Binding()}}), page); !strings.Contains(summary(p), "can no longer be decided") {
		t.Errorf("approving again: the request page says %q; want that it can no longer be decided", summary(p))
	}
}

// Nobody approves their own request, whatever their groups.
func TestSelfApprovalIsRefusedEvenForAnApprover(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	avery := h.signInAs("approver1")
	id := h.fileRequest(avery, "Avery Needs This")
	path := fmt.Sprintf("/requests/%d", id)
	p := avery.get(path)
	if strings.Contains(p.Body, ">Approve<") || strings.Contains(p.Body, ">Reject<") {
		t.Errorf("the requester is offered Approve or Reject on their own request")
	}
	req, _ := h.Requests.Get(t.Context(), id)
	for _, action := range []string{"approve", "reject"} {
		res := avery.postWithToken(path+"/"+action, url.Values{"payload_hash": {req.Binding()}, "comment": {"Looks fine to me."}})
		if res.StatusCode != http.StatusForbidden || !strings.Contains(res.Body, "your own request") {
			t.Errorf("%s of one's own request = %d; want 403 saying why", action, res.StatusCode)
		}
	}
	if got, _ := h.Requests.Get(t.Context(), id); got.Status != rolegate.StatusPending || got.ApprovalCount() != 0 {
		t.Errorf("after the refused self-decisions: %s with %d approvals; want pending with none", got.Status, got.ApprovalCount())
	}
	if p := h.signInAs("requester").postWithToken(path+"/approve", url.Values{"payload_hash": {req.Binding()}}); p.StatusCode != http.StatusForbidden {
		t.Errorf("a plain requester approving = %d; want 403", p.StatusCode)
	}
}

func TestRejectionNeedsAComment(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	req := h.seedRequest(rileyActor, "Group Reader")
	avery := h.signInAs("approver1")
	path := fmt.Sprintf("/requests/%d", req.ID)
	p := avery.refused(avery.postWithToken(path+"/reject", url.Values{"comment": {"   "}}), path)
	if got := text(element(p.Body, "comment-error")); !strings.Contains(got, "Say why you reject") {
		t.Errorf("beside Comment: %q; want the reason asked for", got)
	}
	if !strings.Contains(element(p.Body, "comment"), `aria-invalid="true"`) {
		t.Errorf("the Comment field is not marked invalid")
	}
	if got, _ := h.Requests.Get(t.Context(), req.ID); got.Status != rolegate.StatusPending {
		t.Errorf("after a refused rejection the request is %s; want pending", got.Status)
	}
	long := strings.Repeat("w", 1001)
	if p := avery.refused(avery.postWithToken(path+"/approve", url.Values{"payload_hash": {req.Binding()}, "comment": {long}}), path); !strings.Contains(p.Body, ">"+long+"</textarea>") {
		t.Errorf("approve with an overlong comment: the comment was not kept")
	}
	// A comment whose words a bidi override reorders is refused beside the field.
	p = avery.refused(avery.postWithToken(path+"/reject", url.Values{"comment": {"Fine \u202edevorppa ton"}}), path)
	if got := text(element(p.Body, "comment-error")); !strings.Contains(got, "found U+202E") {
		t.Errorf("reject with a bidi override: beside Comment %q; want U+202E named", got)
	}
	if p := avery.postWithToken(path+"/reject", url.Values{"comment": {"Use the reader role instead."}}); p.StatusCode != http.StatusSeeOther {
		t.Fatalf("reject with a comment = %d; want 303", p.StatusCode)
	}
	riley := h.signInAs("requester")
	page := riley.get(path)
	timeline := text(element(page.Body, "timeline"))
	if !strings.Contains(page.Body, `data-status="rejected">Rejected<`) || !strings.Contains(timeline, "Avery Approver") ||
		!strings.Contains(timeline, "Rejected the request") || !strings.Contains(timeline, "Use the reader role instead.") {
		t.Errorf("the requester's page: timeline %q; want Rejected by Avery with the comment", timeline)
	}
	blake := h.signInAs("approver2")
	if p := blake.refused(blake.postWithToken(path+"/approve", url.Values{"payload_hash": {req.Binding()}}), path); !strings.Contains(summary(p), "This request is Rejected") {
		t.Errorf("approving a rejected request: the request page says %q; want that it is rejected", summary(p))
	}
}

func TestSensitivePermissionNeedsOneMoreApproval(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	riley := h.signInAs("requester")
	id := h.fileRequest(riley, "User Manager", "api.users.write")
	path := fmt.Sprintf("/requests/%d", id)
	avery, blake := h.signInAs("approver1"), h.signInAs("approver2")
	p := avery.get(path)
	if !strings.Contains(p.Body, "0 of 2 needed") || !strings.Contains(p.Body, "sensitive permission") {
		t.Errorf("the page does not say 2 approvals are needed because of a sensitive permission")
	}
	if res := avery.postWithToken(path+"/approve", url.Values{"payload_hash": {payloadHash(t, p.Body)}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("first approval = %d", res.StatusCode)
	}
	p = blake.get(path)
	if !strings.Contains(p.Body, `data-status="pending"`) || !strings.Contains(p.Body, "1 of 2 needed") {
		t.Errorf("after one approval the page does not say Pending, 1 of 2")
	}
	select {
	case got := <-h.HandedOff:
		t.Fatalf("request %d handed off after one of two approvals", got)
	default:
	}
	if res := blake.postWithToken(path+"/approve", url.Values{"payload_hash": {payloadHash(t, p.Body)}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("second approval = %d", res.StatusCode)
	}
	if got := <-h.HandedOff; got != id {
		t.Errorf("handed off %d; want %d", got, id)
	}
	if p := riley.get(path); !strings.Contains(p.Body, `data-status="approved"`) || !strings.Contains(p.Body, "2 of 2 needed") {
		t.Errorf("after two approvals the page does not say Approved, 2 of 2")
	}
}

// failRequest takes a filed request through approval and a failed
// provisioning attempt, as the worker would record it.
func (h *harness) failRequest(id int64) {
	h.t.Helper()
	_, job := h.approveAndClaim(id)
	if err := h.App.Services.Provisioning.FailJob(h.t.Context(), job, rolegate.ActionProvisioningFailed, "400: Invalid permission 'api.groups.read'", (*rolegate.ProvisionedRole)(nil)); err != nil {
		h.t.Fatal(err)
	}
}

// approveAndClaim approves a filed request as Avery and claims its
// provisioning job, as the worker would: what the worker then records is
// the caller's.
func (h *harness) approveAndClaim(id int64) (*rolegate.Request, *rolegate.Job) {
	h.t.Helper()
	req, err := h.Requests.Get(h.t.Context(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.Requests.ApproveWith(h.t.Context(), averyActor, id, req.Binding(), "", rolegate.Reauth{}); err != nil {
		h.t.Fatal(err)
	}
	<-h.HandedOff
	job, err := h.App.Services.Provisioning.ClaimJob(h.t.Context(), "test-worker", time.Minute)
	if err != nil || job == nil || job.RequestID != id {
		h.t.Fatalf("ClaimJob = %+v, %v; want the job of %d", job, err, id)
	}
	return req, job
}

func TestAdminRetriesOrAbandonsFailedProvisioning(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	retried := h.seedRequest(rileyActor, "Retried Role")
	dropped := h.seedRequest(rileyActor, "Dropped Role")
	h.failRequest(retried.ID)
	h.failRequest(dropped.ID)

	drew, riley := h.signInAs("admin"), h.signInAs("requester")
	admin := drew.get("/admin")
	if !strings.Contains(admin.Body, "Retried Role") || !strings.Contains(admin.Body, "Dropped Role") || !strings.Contains(admin.Body, "Invalid permission") {
		t.Errorf("the admin page does not list both failures with their problem")
	}
	path := fmt.Sprintf("/requests/%d", dropped.ID)
	p := drew.get(path)
	for _, want := range []string{`data-status="failed">Failed<`, "Invalid permission", ">Retry provisioning<", ">Abandon provisioning<", `<label for="abandon-comment">Reason</label>`} {
		if !strings.Contains(p.Body, want) {
			t.Errorf("the admin's page of a failed request lacks %s", want)
		}
	}
	if p := riley.get(path); strings.Contains(p.Body, "Retry provisioning") || strings.Contains(p.Body, "Abandon provisioning") ||
		!strings.Contains(p.Body, "Invalid permission") {
		t.Errorf("the requester is offered admin actions, or not shown the problem")
	}
	if p := riley.postWithToken(path+"/abandon", url.Values{"comment": {"Mine."}}); p.StatusCode != http.StatusForbidden {
		t.Errorf("a requester abandoning = %d; want 403", p.StatusCode)
	}

	// Abandon needs a reason, then keeps the request Failed for good.
	p = drew.refused(drew.postWithToken(path+"/abandon", url.Values{"comment": {""}}), path)
	if !strings.Contains(text(element(p.Body, "abandon-error")), "Say why") {
		t.Errorf("abandon without a reason: beside Reason %q; want why asked for", text(element(p.Body, "abandon-error")))
	}
	if p := drew.postWithToken(path+"/abandon", url.Values{"comment": {"The permission was withdrawn upstream."}}); p.StatusCode != http.StatusSeeOther {
		t.Fatalf("abandon = %d", p.StatusCode)
	}
	p = riley.get(path)
	timeline := text(element(p.Body, "timeline"))
	if !strings.Contains(p.Body, `data-status="failed">Failed<`) || !strings.Contains(p.Body, "provisioning abandoned") ||
		!strings.Contains(timeline, "Abandoned provisioning") || !strings.Contains(timeline, "The permission was withdrawn upstream.") {
		t.Errorf("after abandon: timeline %q; want Failed, abandoned, with the reason", timeline)
	}
	if p := drew.get(path); strings.Contains(p.Body, ">Retry provisioning<") || strings.Contains(p.Body, ">Abandon provisioning<") {
		t.Errorf("an abandoned request still offers Retry or Abandon")
	}
	for _, action := range []string{"retry", "abandon"} {
		p := drew.refused(drew.postWithToken(path+"/"+action, url.Values{"comment": {"Again."}}), path)
		if !strings.Contains(summary(p), "abandoned") {
			t.Errorf("%s of an abandoned request: the request page says %q; want that it was abandoned", action, summary(p))
		}
		// The reason typed is not lost with the form that is gone.
		if got := text(element(p.Body, "unsent-comment")); action == "abandon" && !strings.Contains(got, "“Again.”") {
			t.Errorf("abandon of an abandoned request: the reason typed shows as %q; want it quoted", got)
		}
	}
	if p := drew.get("/admin"); strings.Contains(p.Body, "Dropped Role") || !strings.Contains(p.Body, "Retried Role") {
		t.Errorf("the admin page still lists the abandoned request, or lost the other")
	}
	// The abandoned request no longer holds its name.
	h.fileRequest(riley, "Dropped Role")

	// Retry puts the other one back in the queue.
	if p := drew.postWithToken(fmt.Sprintf("/requests/%d/retry", retried.ID), nil); p.StatusCode != http.StatusSeeOther {
		t.Fatalf("retry = %d", p.StatusCode)
	}
	if got := <-h.HandedOff; got != retried.ID {
		t.Errorf("retry handed off %d; want %d", got, retried.ID)
	}
	if p := riley.get(fmt.Sprintf("/requests/%d", retried.ID)); !strings.Contains(p.Body, `data-status="approved"`) ||
		!strings.Contains(p.Body, "Asked to retry provisioning") {
		t.Errorf("after retry the request is not Approved with the retry in its timeline")
	}
}

// readPermissions are the catalog's read permissions, those the simulated
// organization's reader role grants, in the form's order.
func readPermissions(h *harness) []string {
	var reads []string
	for _, a := range h.Catalog.Catalog().Areas() {
		for _, p := range a.Permissions {
			if strings.HasSuffix(p.Name, ".read") {
				reads = append(reads, p.Name)
			}
		}
	}
	return reads
}

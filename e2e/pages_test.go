package e2e

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rolegate/rolegate/internal/testkit"
)

// The pages the other journeys do not reach, visited the way people reach
// them, so that every page passes the accessibility check each step runs:
// error pages, a refused form, a cancelled request, the Roles page, the
// sign-out pages, the admin page with nothing failed, and dev mode's
// sign-in page.
func TestErrorAndOtherPagesAreAccessible(t *testing.T) {
	testkit.NeedsBrowser(t)
	t.Parallel()
	t.Run("signed in", func(t *testing.T) {
		t.Parallel()
		p := startPortal(t, nil)
		b := newBrowser(t)

		requester := p.signIn(t, b, riley)
		requester.visitStatus("/audit", http.StatusForbidden)
		requester.visitStatus("/requests/999999", http.StatusNotFound)
		requester.visitStatus("/no-such-page", http.StatusNotFound)

		// An empty form is refused, each field saying why.
		requester.follow(link("New request"))
		if status := requester.followStatus(button("Submit request")); status != http.StatusOK || requester.path() != "/requests/new" {
			t.Errorf("submitting an empty form led to %d at %s; want the form again (200 at /requests/new)", status, requester.path())
		}
		requester.see(field("Role name") + `[@aria-invalid='true']`)

		fileRequest(requester, requestForm{
			RoleName: "e2e moderation readers", Permissions: []string{"api.usage.read"}, Justification: "Checks the usage page.",
		})
		requester.follow(button("Cancel request"))
		if got := requester.status(); got != "Cancelled" {
			t.Errorf("after Cancel request the request shows %q; want Cancelled", got)
		}
		requester.follow(link("My requests"))
		requester.follow(button("Filter"))
		requester.follow(link("Roles"))
		requester.typeInto("Search", "reader")
		requester.follow(button("Search"))

		// Without JavaScript, Sign out is a page with a button.
		requester.visit("/auth/logout")
		requester.follow(button("Sign out"))
		requester.seeText("You are signed out")
		requester.visitStatus("/no-such-page", http.StatusNotFound)

		admin := p.signIn(t, b, drew)
		admin.follow(link("Admin"))
		admin.seeText("Nothing has failed")
		admin.follow(button("Resync the permission catalog"))
	})

	t.Run("too many sign-ins", func(t *testing.T) {
		t.Parallel()
		p := startPortal(t, nil)
		pe := p.openBrowser(t, newBrowser(t), "Someone")
		// Use up this address's sign-ins from the test, then open the
		// sign-in in the browser (the same loopback address). The bucket
		// refills once a second, so a slow browser may still get one:
		// then empty it again.
		for try := 0; ; try++ {
			exhaustSignIns(t, p.URL)
			ctx, cancel := context.WithTimeout(pe.ctx, stepTimeout)
			res, err := chromedp.Run(ctx, chromedp.NavigateResponse(p.URL+"/auth/login"))
			cancel()
			if err != nil {
				t.Fatalf("open /auth/login: %v", err)
			}
			if res != nil && res.Status == http.StatusTooManyRequests {
				break
			}
			if try == 4 {
				t.Fatalf("/auth/login never answered 429 to the browser after the test used up the sign-ins")
			}
		}
		pe.seeText("You are sending requests too quickly")
	})

	t.Run("dev mode", func(t *testing.T) {
		t.Parallel()
		// Dev mode: no identity provider, no admin key, the built-in
		// sign-in page and simulator.
		p := startPortal(t, map[string]string{
			"ROLEGATE_DEV": "1", "ROLEGATE_OIDC_ISSUER": "", "ROLEGATE_OIDC_CLIENT_ID": "", "ROLEGATE_OIDC_CLIENT_SECRET": "",
			"OPENAI_ADMIN_KEY": "", "OPENAI_BASE_URL": "",
			"ROLEGATE_REQUESTER_GROUPS": "", "ROLEGATE_APPROVER_GROUPS": "", "ROLEGATE_AUDITOR_GROUPS": "", "ROLEGATE_ADMIN_GROUPS": "",
		})
		pe := p.openBrowser(t, newBrowser(t), riley.Name)
		pe.visit("/")
		pe.follow(button("Sign in as " + riley.Name))
		pe.see(`//h1[starts-with(normalize-space(), 'Welcome')]`)
		pe.follow(link("New request"))
	})
}

// exhaustSignIns starts sign-ins from this process (a loopback address,
// as the browser's) until the portal answers 429.
func exhaustSignIns(t *testing.T, base string) {
	t.Helper()
	client := &http.Client{
		Timeout:       5 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	for i := 0; i < 1000; i++ {
		res, err := client.Get(base + "/auth/login")
		if err != nil {
			t.Fatalf("GET /auth/login: %v", err)
		}
		res.Body.Close()
		if res.StatusCode == http.StatusTooManyRequests {
			return
		}
	}
	t.Fatalf("1000 sign-ins from one address were never refused with 429")
}

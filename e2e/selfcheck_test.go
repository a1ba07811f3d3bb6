// These tests check the harness itself: its watches and helpers must see
// what they claim to, or the journeys prove nothing.

package e2e

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/testkit"
)

// The watch on every page must really see a violation, or "zero
// violations" in the journeys would prove nothing.
func TestWatchSeesCSPViolations(t *testing.T) {
	testkit.NeedsBrowser(t)
	t.Parallel()
	p := startPortal(t, nil)
	b := newBrowser(t)
	pe := p.signIn(t, b, riley)
	if got := pe.takeProblems(); len(got) > 0 {
		t.Fatalf("signing in: %q; want no CSP violations", got)
	}

	tests := []struct {
		name      string
		script    string
		directive string
	}{
		{"inline script", `(() => { const s = document.createElement('script'); s.textContent = 'window.x = 1'; document.body.append(s); })()`, "script-src"},
		{"inline style attribute", `document.body.setAttribute('style', 'color: red')`, "style-src"},
		{"image from another origin", `(() => { const i = document.createElement('img'); i.src = 'http://192.0.2.1/x.png'; document.body.append(i); })()`, "img-src"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			evalAsync[any](pe, tc.script)
			// Wait for this case's own violation from both witnesses, the
			// page's listener and the browser's console: they report at
			// their own pace, so a late report of the case before may come
			// first, and once both are in, nothing of this case is left to
			// spill into the next case or the end-of-test check.
			var got []string
			var byListener, byConsole bool
			testkit.Poll(testkit.Patience, 50*time.Millisecond, func() bool {
				for _, p := range pe.takeProblems() {
					got = append(got, p)
					mine := strings.Contains(p, tc.directive)
					byListener = byListener || mine && strings.HasPrefix(p, "CSP violation on ")
					byConsole = byConsole || mine && strings.HasPrefix(p, "browser reports a CSP violation")
				}
				return byListener && byConsole
			})
			t.Logf("seen: %q", got)
			if !byListener {
				t.Errorf("after %s: the page's listener saw %q; want a violation of %s", tc.name, got, tc.directive)
			}
			if !byConsole {
				t.Errorf("after %s: the browser's console reported %q; want a violation of %s", tc.name, got, tc.directive)
			}
		})
	}
}

// A link to a file really hands the test the file, the way the auditor's
// export is checked.
func TestDownloadGivesTheLinkedFile(t *testing.T) {
	testkit.NeedsBrowser(t)
	t.Parallel()
	const file = "seq,action\n1,request.created\n"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/export.csv" {
			w.Header().Set("Content-Type", "text/csv; charset=utf-8")
			w.Header().Set("Content-Disposition", `attachment; filename="audit.csv"`)
			io.WriteString(w, file)
			return
		}
		// Under a policy, as the portal's pages are: the end-of-test watch
		// raises its witness through it.
		w.Header().Set("Content-Security-Policy", "default-src 'none'")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, `<!doctype html><html lang="en"><title>Files</title><main><h1>Files</h1><a href="/export.csv">Export CSV</a></main></html>`)
	}))
	t.Cleanup(srv.Close)
	p := &portal{t: t, URL: srv.URL, adminKey: randomHex(16), clientSecret: randomHex(16)}
	pe := p.openBrowser(t, newBrowser(t), "Someone")
	pe.visit("/")
	if got := string(pe.download(link("Export CSV"))); got != file {
		t.Errorf("download(Export CSV) = %q; want %q", got, file)
	}
}

// The accessibility check must really see violations, under a CSP as
// strict as the portal's, at both widths, or "no violation" in the
// journeys would prove nothing; and a sound page must pass it.
func TestAccessibilityCheckSeesViolations(t *testing.T) {
	testkit.NeedsBrowser(t)
	t.Parallel()
	const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
	pages := map[string]string{
		"/sound": `<!doctype html><html lang="en"><head><meta name="viewport" content="width=device-width, initial-scale=1"><title>Sound</title><link rel="stylesheet" href="/page.css"></head>
<body><main><h1>Sound</h1><h2>Part</h2><p>Readable text.</p>
<form><label for="name">Name</label><input type="text" id="name"><button type="submit">Save</button></form></main></body></html>`,
		"/broken": `<!doctype html><html lang="en"><head><meta name="viewport" content="width=device-width, initial-scale=1"><title>Broken</title><link rel="stylesheet" href="/page.css"></head>
<body><main><h1>Broken</h1><h3>Skipped a level</h3><p class="faint" id="faint">Grey on white.</p><p class="narrow" id="narrow">Grey on a phone.</p>
<form><input type="text"><button type="submit"></button></form><a href="/sound"></a></main></body></html>`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", csp)
		if r.URL.Path == "/page.css" {
			w.Header().Set("Content-Type", "text/css")
			io.WriteString(w, "body { color: #1d2433; background: #fff; } .faint { color: #b0b0b0; } @media (max-width: 500px) { .narrow { color: #b0b0b0; } }")
			return
		}
		page, ok := pages[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, page)
	}))
	t.Cleanup(srv.Close)
	p := &portal{t: t, URL: srv.URL, adminKey: randomHex(16), clientSecret: randomHex(16)}
	pe := p.openBrowser(t, newBrowser(t), "Someone")
	var reports []string
	pe.axeChecked = new(sync.Map) // this test's pages are checked whatever ran before (-count)
	pe.onAccessibilityProblem = func(msg string) { reports = append(reports, msg) }

	pe.visit("/sound")
	if len(reports) != 0 {
		t.Fatalf("a sound page: the check reports %q; want nothing", reports)
	}
	pe.visit("/broken")
	if len(reports) != len(axeWidths) {
		t.Fatalf("a broken page: the check reports %d times; want once per width (%d):\n%s", len(reports), len(axeWidths), strings.Join(reports, "\n"))
	}
	for _, want := range []string{
		"color-contrast (serious)", "#faint",
		"heading-order (moderate)", // a moderate rule that fails the journeys all the same
		"label (critical)",
		"button-name (critical)",
		"link-name (serious)",
		"phone width (390 px)",
	} {
		if !strings.Contains(strings.Join(reports, "\n"), want) {
			t.Errorf("a broken page: the reports do not mention %q:\n%s", want, strings.Join(reports, "\n"))
		}
	}
	// The phone's width is really emulated, and the window given back.
	if desktop, phone := reports[0], reports[1]; strings.Contains(desktop, "#narrow") || !strings.Contains(phone, "#narrow") {
		t.Errorf("text grey only on a phone: reported at the desktop width %t, at the phone's %t; want only at the phone's",
			strings.Contains(desktop, "#narrow"), strings.Contains(phone, "#narrow"))
	}
	if w := evalAsync[int](pe, `window.innerWidth`); w < 1000 {
		t.Errorf("after the check the window is %d px wide; want the desktop's 1280 back", w)
	}
	t.Logf("the check reports:\n%s", strings.Join(reports, "\n"))
}

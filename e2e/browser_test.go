package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/rolegate/rolegate/internal/sso/ssotest"
	"github.com/rolegate/rolegate/internal/testkit"
)

// stepTimeout bounds one step of a journey (a click and the page it
// loads, a wait for an element); a missing element fails the test rather
// than hanging it.
const stepTimeout = 15 * time.Second

// newBrowser starts a fresh headless Chromium (its own temporary profile)
// for the test and closes it when the test ends.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	testkit.NeedsBrowser(t)
	path := chromiumPath(t)
	output := &testkit.SyncBuffer{}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		// This machine may have no network: keep Chromium from calling home.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1280, 1024),
		chromedp.CombinedOutput(output),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
		if t.Failed() {
			if dir := artifactDir(t); dir != "" {
				_ = os.WriteFile(filepath.Join(dir, "chromium.log"), []byte(output.String()), 0o644)
			}
		}
	})
	// The first run binds the browser's life to its context: not a timeout's.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(browserCtx) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("start Chromium (%s): %v\n%s", path, err, output.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("Chromium (%s) did not start within 30s\n%s", path, output.String())
	}
	return browserCtx
}

// person is someone using the portal in their own browser context (their
// own cookies), with a watch on every page they see for violations of the
// Content-Security-Policy and for uncaught script errors.
type person struct {
	t    *testing.T
	name string
	p    *portal
	ctx  context.Context

	mu       sync.Mutex
	problems []string // CSP violations and uncaught exceptions, with their page
	shots    int

	// axeChecked is the pages already checked by checkAccessible: the
	// run's, axeChecked, except in the harness's self-check, which also
	// sets onAccessibilityProblem to receive what is found instead of
	// failing the test.
	axeChecked             *sync.Map
	onAccessibilityProblem func(string)

	// scriptsOff: the page's scripts do not run (setScripts), nor then
	// does axe-core, which needs its timers: pages are checked for
	// secrets only.
	scriptsOff bool
}

// setScripts turns the page's JavaScript on or off, as a person who has
// switched it off in their browser (DevTools' own evaluations still run).
func (pe *person) setScripts(on bool) {
	pe.t.Helper()
	pe.do(fmt.Sprintf("turn JavaScript on: %v", on), chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: !on})
		return err
	}))
	pe.scriptsOff = !on
}

// signIn gives u a new browser context in b and signs them in through the
// identity provider's page, clicking "Sign in as <Name>". t is the test (or
// subtest) the person acts in.
func (p *portal) signIn(t *testing.T, b context.Context, u ssotest.User) *person {
	t.Helper()
	pe := p.openBrowser(t, b, u.Name)
	pe.visit("/")
	pe.follow(button("Sign in as " + u.Name))
	pe.see(`//h1[starts-with(normalize-space(), 'Welcome')]`)
	pe.seeText(u.Name)
	return pe
}

// openBrowser gives name a new browser context in b, signed out.
func (p *portal) openBrowser(t *testing.T, b context.Context, name string) *person {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b, chromedp.WithNewBrowserContext())
	// A person answers yes to the questions the portal asks before it acts
	// (hx-confirm on Cancel request), as someone who clicked it meant to.
	if err := chromedp.Listen(ctx, func(ev any) {
		if _, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			go func() {
				_ = chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
					_, err := cdp.Call(ctx, t, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
					return err
				}))
			}()
		}
	}); err != nil {
		cancel()
		t.Fatalf("open a browser for %s: %v", name, err)
	}
	pe := &person{t: t, name: name, p: p, ctx: ctx, axeChecked: &axeChecked}
	// Cleanups run last-registered first: check, then save, then close.
	t.Cleanup(cancel)
	t.Cleanup(pe.saveArtifactsIfFailed)
	t.Cleanup(pe.checkClean)

	// The first run opens the tab and binds its life to ctx, so it gets ctx
	// itself; later steps get timeouts.
	err := chromedp.Do(ctx,
		chromedp.ExposeFunc("rolegateE2EViolation", func(_ context.Context, v cspViolation) (chromedp.Void, error) {
			pe.problem(fmt.Sprintf("CSP violation on %s: directive %s blocked %q (sample %q, source %s:%d)",
				v.Page, v.Directive, v.Blocked, v.Sample, v.Source, v.Line))
			return chromedp.Void{}, nil
		}),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspListener})
			return err
		}),
	)
	if err != nil {
		t.Fatalf("open a browser for %s: %v", name, err)
	}
	// Subscribe now, before any page loads; read on another goroutine.
	go pe.watchConsole(chromedp.Console(ctx))
	return pe
}

// fail saves the page as evidence and stops the test.
func (pe *person) fail(format string, args ...any) {
	pe.t.Helper()
	msg := fmt.Sprintf(format, args...)
	pe.saveArtifacts("failure")
	pe.t.Fatalf("%s (at %s): %s", pe.name, pe.location(), msg)
}

// location is the current page's URL, for messages.
func (pe *person) location() string {
	ctx, cancel := context.WithTimeout(pe.ctx, 2*time.Second)
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return "?"
	}
	return loc
}

// path is the current page's path and query.
func (pe *person) path() string {
	loc := pe.location()
	return strings.TrimPrefix(loc, pe.p.URL)
}

// do runs steps within the step timeout.
func (pe *person) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	pe.t.Helper()
	ctx, cancel := context.WithTimeout(pe.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		pe.fail("%s: %v", what, err)
	}
}

// visit opens a page of the portal by its path, as if typed in the
// address bar, and expects it to answer without an error.
func (pe *person) visit(path string) {
	pe.t.Helper()
	pe.visitURL(pe.p.URL + path)
}

// visitURL opens any address, and expects it to answer without an error.
func (pe *person) visitURL(url string) {
	pe.t.Helper()
	ctx, cancel := context.WithTimeout(pe.ctx, stepTimeout)
	defer cancel()
	res, err := chromedp.Run(ctx, chromedp.NavigateResponse(url))
	if err != nil {
		pe.fail("open %s: %v", url, err)
	}
	if res != nil && res.Status >= 400 {
		pe.fail("open %s: status %d", url, res.Status)
	}
	pe.checkPage()
}

// visitStatus opens a page of the portal by its path, as if typed in the
// address bar, and expects it to answer with status (an error page).
func (pe *person) visitStatus(path string, status int64) {
	pe.t.Helper()
	ctx, cancel := context.WithTimeout(pe.ctx, stepTimeout)
	defer cancel()
	res, err := chromedp.Run(ctx, chromedp.NavigateResponse(pe.p.URL+path))
	if err != nil {
		pe.fail("open %s: %v", path, err)
	}
	if res == nil || res.Status != status {
		var got int64
		if res != nil {
			got = res.Status
		}
		pe.fail("open %s: status %d; want %d", path, got, status)
	}
	pe.checkPage()
}

// reload reloads the page, as a person pressing F5 would.
func (pe *person) reload() {
	pe.t.Helper()
	pe.do("reload", chromedp.Reload())
	pe.checkPage()
}

// checkPage checks every page the journeys load or wait for: no secret on
// it, and no serious accessibility violation.
func (pe *person) checkPage() {
	pe.t.Helper()
	pe.checkNoSecrets()
	if !pe.scriptsOff {
		pe.checkAccessible()
	}
}

// checkNoSecrets fails when the page shows the admin key or the OIDC
// client secret.
func (pe *person) checkNoSecrets() {
	pe.t.Helper()
	ctx, cancel := context.WithTimeout(pe.ctx, stepTimeout)
	defer cancel()
	html, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`))
	if err != nil {
		pe.fail("read the page: %v", err)
	}
	for name, secret := range map[string]string{"the admin key": pe.p.adminKey, "the OIDC client secret": pe.p.clientSecret} {
		if strings.Contains(html, secret) {
			pe.fail("the page shows %s", name)
		}
	}
}

// follow clicks what sel finds (a link or a button that loads a page) and
// waits for the page it leads to, which must not be an error.
func (pe *person) follow(sel string) {
	pe.t.Helper()
	if status := pe.followStatus(sel); status >= 400 {
		pe.fail("clicking %s led to a page with status %d", sel, status)
	}
}

// followStatus clicks and waits like follow, and returns the status of the
// page it led to.
func (pe *person) followStatus(sel string) int64 {
	pe.t.Helper()
	ctx, cancel := context.WithTimeout(pe.ctx, stepTimeout)
	defer cancel()
	res, err := chromedp.RunResponse(ctx, chromedp.Click(sel))
	if err != nil {
		pe.fail("click %s and wait for the next page: %v", sel, err)
	}
	pe.checkPage()
	if res == nil {
		return 0
	}
	return res.Status
}

// click clicks what sel finds without waiting for a new page (a checkbox,
// an htmx link).
func (pe *person) click(sel string) {
	pe.t.Helper()
	pe.do("click "+sel, chromedp.Click(sel))
}

// typeInto types text into the field labelled label, key by key.
func (pe *person) typeInto(label, text string) {
	pe.t.Helper()
	pe.do(fmt.Sprintf("type %q into %s", text, label), chromedp.SendKeys(field(label), text))
}

// clearField empties the field labelled label, with the keyboard, as a
// person would (select all, delete), so the page sees the input.
func (pe *person) clearField(label string) {
	pe.t.Helper()
	sel := field(label)
	pe.do("clear "+label,
		chromedp.Focus(sel),
		chromedp.KeyEvent("a", chromedp.KeyModifiers(chromedp.ModifierCtrl)),
		chromedp.KeyEvent("\b"),
	)
}

// see waits until sel finds a visible element. What the journey waited
// for is checked like a loaded page: htmx may have changed the page.
func (pe *person) see(sel string) {
	pe.t.Helper()
	pe.do("wait for "+sel, chromedp.WaitVisible(sel))
	pe.checkPage()
}

// seeText waits until the page shows text.
func (pe *person) seeText(text string) {
	pe.t.Helper()
	pe.see(containing(text))
}

// waitUntil polls cond on the current page (without reloading) until it
// holds or the step timeout passes.
func (pe *person) waitUntil(what string, cond func() bool) {
	pe.t.Helper()
	if !testkit.Poll(stepTimeout, 100*time.Millisecond, cond) {
		pe.fail("waited %s for %s", stepTimeout, what)
	}
	pe.checkPage()
}

// texts returns the visible text of every element the XPath finds, now.
func (pe *person) texts(xpath string) []string {
	pe.t.Helper()
	ctx, cancel := context.WithTimeout(pe.ctx, stepTimeout)
	defer cancel()
	js := fmt.Sprintf(`(() => {
		const r = document.evaluate(%s, document, null, XPathResult.ORDERED_NODE_SNAPSHOT_TYPE, null);
		const out = [];
		for (let i = 0; i < r.snapshotLength; i++) {
			const n = r.snapshotItem(i);
			out.push(((n.innerText !== undefined ? n.innerText : n.textContent) || '').trim());
		}
		return out;
	})()`, jsString(xpath))
	out, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](js))
	if err != nil {
		pe.fail("read %s: %v", xpath, err)
	}
	return out
}

// count is how many elements the XPath finds now.
func (pe *person) count(xpath string) int { return len(pe.texts(xpath)) }

// bodyText is the page's visible text.
func (pe *person) bodyText() string {
	t := pe.texts("/html/body")
	if len(t) == 0 {
		return ""
	}
	return t[0]
}

// statusWords are the request statuses as a request page shows them
// (rolegate.Status.Label; Revoked once an access request's access ended).
var statusWords = []string{"Pending", "Approved", "Provisioning", "Provisioned", "Failed", "Rejected", "Cancelled", "Expired", "Revoked"}

// status is the status word a request page shows: the one element of the
// page whose whole text is a status word, outside the timeline, tables and
// menus.
func (pe *person) status() string {
	pe.t.Helper()
	conds := make([]string, len(statusWords))
	for i, w := range statusWords {
		conds[i] = "normalize-space()=" + xpathString(w)
	}
	xp := `//main//*[not(*)][not(ancestor::ol or ancestor::table or ancestor::select or ancestor::form)][` + strings.Join(conds, " or ") + `]`
	found := pe.texts(xp)
	if len(found) == 0 {
		return ""
	}
	return found[0]
}

// waitForStatus reloads the request page until it shows the status word,
// as a person waiting for the portal would.
func (pe *person) waitForStatus(want string, within time.Duration) {
	pe.t.Helper()
	var got string
	if !testkit.Poll(within, 200*time.Millisecond, func() bool {
		if got = pe.status(); got == want {
			return true
		}
		pe.do("reload", chromedp.Reload())
		return false
	}) {
		pe.fail("the request shows %q after %s; want %q", got, within, want)
	}
	pe.checkPage()
}

var requestPath = regexp.MustCompile(`/requests/(\d+)`)

// requestID is the id of the request whose page is open.
func (pe *person) requestID() int64 {
	pe.t.Helper()
	m := requestPath.FindStringSubmatch(pe.location())
	if m == nil {
		pe.fail("not on a request's page")
	}
	id, _ := strconv.ParseInt(m[1], 10, 64)
	return id
}

// evalAsync runs an async script in the page (the DevTools console of a
// person poking at the portal) and returns its result.
func evalAsync[T any](pe *person, js string) T {
	pe.t.Helper()
	ctx, cancel := context.WithTimeout(pe.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		pe.fail("run a script in the page: %v", err)
	}
	return v
}

// download clicks the link sel and returns the file the browser saved.
func (pe *person) download(sel string) []byte {
	pe.t.Helper()
	dir := pe.t.TempDir()
	c := chromedp.FromContext(pe.ctx)
	ctx, cancel := context.WithTimeout(pe.ctx, stepTimeout)
	defer cancel()
	progress := chromedp.BrowserEvents(ctx, browser.DownloadProgress)
	_, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, BrowserContextID: c.BrowserContextID,
		DownloadPath: dir, EventsEnabled: new(true),
	})
	if err != nil {
		pe.fail("allow downloads: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(sel)); err != nil {
		pe.fail("click %s: %v", sel, err)
	}
	for ev, err := range progress {
		if err != nil {
			pe.fail("wait for the download of %s: %v", sel, err)
		}
		switch ev.State {
		case browser.DownloadProgressStateCompleted:
			b, err := os.ReadFile(filepath.Join(dir, ev.GUID))
			if err != nil {
				pe.fail("read the downloaded file: %v", err)
			}
			return b
		case browser.DownloadProgressStateCanceled:
			pe.fail("the browser cancelled the download of %s", sel)
		}
	}
	pe.fail("no download from %s", sel)
	return nil
}

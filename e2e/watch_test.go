package e2e

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rolegate/rolegate/internal/testkit"
)

// cspViolation is what the page's securitypolicyviolation listener reports.
type cspViolation struct {
	Page      string `json:"page"`
	Directive string `json:"directive"`
	Blocked   string `json:"blocked"`
	Sample    string `json:"sample"`
	Source    string `json:"source"`
	Line      int    `json:"line"`
}

// cspListener runs in every document before the page's own scripts (it is
// injected by DevTools, so the page's CSP does not apply to it) and reports
// each violation to the test.
const cspListener = `document.addEventListener('securitypolicyviolation', function (e) {
	window.rolegateE2EViolation({
		page: String(document.location.href), directive: e.effectiveDirective || e.violatedDirective,
		blocked: e.blockedURI || '', sample: e.sample || '', source: e.sourceFile || '', line: e.lineNumber || 0,
	});
}, true);`

// watchConsole records uncaught exceptions and the browser's own reports
// of CSP violations (a second witness beside the page's listener).
func (pe *person) watchConsole(messages iter.Seq2[chromedp.ConsoleMessage, error]) {
	for m, err := range messages {
		if err != nil {
			return
		}
		text := m.Text
		switch {
		case m.IsException():
			pe.problem(fmt.Sprintf("uncaught script error on %s: %s", m.URL, text))
		case strings.Contains(text, "Content Security Policy") || strings.Contains(text, "Content-Security-Policy"):
			pe.problem(fmt.Sprintf("browser reports a CSP violation on %s: %s", m.URL, text))
		case strings.Contains(text, witnessMark):
			pe.problem("console witness: " + text)
		}
	}
}

func (pe *person) problem(s string) {
	pe.mu.Lock()
	defer pe.mu.Unlock()
	pe.problems = append(pe.problems, s)
}

// seen returns what the watch has seen so far.
func (pe *person) seen() []string {
	pe.mu.Lock()
	defer pe.mu.Unlock()
	return slices.Clone(pe.problems)
}

// takeProblems returns what the watch has seen so far and forgets it.
func (pe *person) takeProblems() []string {
	pe.mu.Lock()
	defer pe.mu.Unlock()
	p := pe.problems
	pe.problems = nil
	return p
}

// checkClean fails the test for every CSP violation or script error seen
// on any page this person visited. Reports travel from the page at their
// own pace, so it first waits for its witness (awaitWitness): once that is
// in, every report made before it is in too.
func (pe *person) checkClean() {
	if !pe.t.Failed() {
		pe.awaitWitness()
	}
	for _, s := range pe.seen() {
		if !strings.Contains(s, witnessMark) {
			pe.t.Errorf("%s's browser: %s", pe.name, s)
		}
	}
}

// witnessMark names what the witness reports.
const witnessMark = "rolegate-e2e-witness"

// awaitWitness makes the current page report something of its own through
// both watches, after everything it reported before, and waits until both
// watches have it: each delivers its reports in order. On the portal's
// pages, which all carry its CSP, the witness is a violation of that
// policy (an image from another origin), so it travels exactly as a real
// one does; on a page of another origin, which may have no policy, it is a
// console line and a report made directly.
func (pe *person) awaitWitness() {
	loc := pe.location()
	if !strings.HasPrefix(loc, "http") {
		return // no page was visited: nothing can have been reported
	}
	script := `(() => { const i = document.createElement('img'); i.alt = ''; i.src = 'http://192.0.2.1/` + witnessMark + `.png'; document.body.append(i); return true; })()`
	if !strings.HasPrefix(loc, pe.p.URL+"/") {
		script = `(() => { console.info('` + witnessMark + `'); window.rolegateE2EViolation({page: String(document.location.href), directive: 'none', blocked: '` + witnessMark + `'}); return true; })()`
	}
	ctx, cancel := context.WithTimeout(pe.ctx, stepTimeout)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](script)); err != nil {
		pe.t.Errorf("%s's browser: cannot raise the witness on %s, so its reports may be incomplete: %v", pe.name, loc, err)
		return
	}
	var byListener, byConsole bool
	if !testkit.Poll(testkit.Patience, 10*time.Millisecond, func() bool {
		for _, s := range pe.seen() {
			if strings.Contains(s, witnessMark) {
				byListener = byListener || strings.HasPrefix(s, "CSP violation on ")
				byConsole = byConsole || !strings.HasPrefix(s, "CSP violation on ")
			}
		}
		return byListener && byConsole
	}) {
		pe.t.Errorf("%s's browser: the witness on %s was not reported (by the page's listener: %t, by the console: %t) within %s, so its reports may be incomplete",
			pe.name, loc, byListener, byConsole, testkit.Patience)
	}
}

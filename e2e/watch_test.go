package e2e

import (
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
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
// on any page this person visited.
func (pe *person) checkClean() {
	// Reports travel asynchronously from the page; give the last ones a moment.
	time.Sleep(150 * time.Millisecond)
	for _, s := range pe.seen() {
		pe.t.Errorf("%s's browser: %s", pe.name, s)
	}
}

package e2e

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// axeSource is axe-core, pinned (testdata/axe-core/README.md says where it
// comes from). The test injects it into the page through the DevTools
// protocol, which the page's Content-Security-Policy does not govern;
// rolegate never serves it.
//
//go:embed testdata/axe-core/axe.min.js
var axeSource string

const axeVersion = "4.14.1"

// axeTimeout bounds one run of axe (injecting it, laying the page out at
// the width, running the rules). It takes well under a second on an idle
// machine, but much longer on one shared by many test runs; a hang still
// fails the test rather than blocking it.
const axeTimeout = 90 * time.Second

// axeWidths are the viewport widths every page is checked at: the
// browser's desktop window, and a phone's (390 CSS pixels, as an iPhone 12
// to 15), where the header and the tables wrap.
var axeWidths = []int64{0, 390} // 0: the window as it is (1280 px)

// axeRun runs axe over the whole document with the options (JSON) and
// returns what failed in a small shape (the full result is large and slow
// to ship).
const axeRun = `(async (options) => {
	const r = await axe.run(document, Object.assign({resultTypes: ['violations']}, options));
	return r.violations.map(v => ({
		id: v.id, impact: v.impact || '', help: v.help, helpUrl: v.helpUrl,
		nodes: v.nodes.map(n => ({target: n.target.map(String).join(' '), summary: n.failureSummary || ''})),
	}));
})`

// axeDesktop is every WCAG 2.0 and 2.1 level A and AA rule, and those of
// axe's best practices that judge structure (heading-order) or rate their
// findings serious.
const axeDesktop = `{
	runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']},
	rules: {
		'heading-order': {enabled: true}, 'tabindex': {enabled: true}, 'label-title-only': {enabled: true},
		'aria-text': {enabled: true}, 'accesskeys': {enabled: true},
	},
}`

// axePhone is the rules whose outcome depends on the layout: what wraps,
// overlaps or scrolls at a phone's width. The others judge the markup,
// which is the same at every width, and ran already.
const axePhone = `{runOnly: {type: 'rule', values: ['color-contrast', 'scrollable-region-focusable', 'meta-viewport']}}`

// axeViolation is one rule that failed on a page, with the elements
// where it failed.
type axeViolation struct {
	ID      string `json:"id"`
	Impact  string `json:"impact"`
	Help    string `json:"help"`
	HelpURL string `json:"helpUrl"`
	Nodes   []struct {
		Target  string `json:"target"`
		Summary string `json:"summary"`
	} `json:"nodes"`
}

// blocking reports whether v fails the journey: every serious or critical
// violation, and a skipped heading level (which axe rates moderate, but
// which leaves screen-reader users guessing at a page's structure).
func (v axeViolation) blocking() bool {
	return v.Impact == "serious" || v.Impact == "critical" || v.ID == "heading-order"
}

// axeChecked remembers the pages already checked, by their skeleton
// (pageSkeleton), across every test of the run: the same page seen again,
// by another person, in another test or with other data, is not checked
// again. axe takes a few hundred milliseconds a page (more on a loaded
// machine); the journeys load the same pages again and again.
var axeChecked sync.Map // hash of the skeleton and width → struct{}

// pageSkeleton is what axe judges of a page, without what changes between
// two views of it: every element with its attributes, where text is (not
// what it says: a person's name, a role name), numbers as 0, no values of
// fields (the CSRF token among them), links, titles or htmx endpoints, and
// a run of identical siblings (rows, timeline entries) as one. Two pages
// with one skeleton pass or fail axe alike.
const pageSkeleton = `(() => {
	const free = /^(value|content|title|href|action|formaction|hx-headers|hx-get|hx-post|data-.*)$/;
	const sig = (el) => {
		let s = el.tagName;
		for (const a of el.attributes) {
			s += ' ' + a.name + (free.test(a.name) ? '' : '=' + a.value.replace(/[0-9]+/g, '0'));
		}
		const parts = [];
		let last = null;
		for (const n of el.childNodes) {
			let p;
			if (n.nodeType === Node.ELEMENT_NODE) p = sig(n);
			else if (n.nodeType === Node.TEXT_NODE && n.nodeValue.trim() !== '') p = '#text';
			else continue;
			if (p !== last) parts.push(p);
			last = p;
		}
		return s + '{' + parts.join(',') + '}';
	};
	return sig(document.documentElement);
})()`

// checkAccessible runs axe-core over the open page, at each of axeWidths,
// unless a page with its skeleton was checked already, and reports every
// blocking violation. It checks only the portal's own pages: the identity
// provider's page and other sites the journeys visit are not rolegate's.
func (pe *person) checkAccessible() {
	pe.t.Helper()
	loc := pe.location()
	if !strings.HasPrefix(loc, pe.p.URL+"/") {
		return
	}
	ctx, cancel := context.WithTimeout(pe.ctx, stepTimeout)
	defer cancel()
	skeleton, err := chromedp.Run(ctx, chromedp.Evaluate[string](pageSkeleton))
	if err != nil {
		pe.fail("read the page's skeleton: %v", err)
	}
	pe.checkFits(skeleton)
	for _, width := range axeWidths {
		key := fmt.Sprintf("%d:%x", width, sha256.Sum256([]byte(skeleton)))
		if _, seen := pe.axeChecked.LoadOrStore(key, struct{}{}); seen {
			continue
		}
		ctx, cancel := context.WithTimeout(pe.ctx, axeTimeout)
		found, err := axeViolations(ctx, width)
		cancel()
		if err != nil {
			pe.fail("run axe-core: %v", err)
		}
		var blocking, other []axeViolation
		for _, v := range found {
			if v.blocking() {
				blocking = append(blocking, v)
			} else {
				other = append(other, v)
			}
		}
		path := strings.TrimPrefix(loc, pe.p.URL)
		if len(other) > 0 {
			pe.t.Logf("%s: accessibility notes (not failing) on %s at %s:\n%s", pe.name, path, widthName(width), formatViolations(other))
		}
		if len(blocking) == 0 {
			pe.t.Logf("%s: %s passes axe-core at %s", pe.name, path, widthName(width))
		} else {
			pe.accessibilityProblem(fmt.Sprintf("%s: axe-core %s finds %d accessibility violation(s) on %s at %s:\n%s",
				pe.name, axeVersion, len(blocking), path, widthName(width), formatViolations(blocking)))
		}
	}
}

// accessibilityProblem fails the test (after saving the page), and goes on:
// the next pages may show more to fix. The harness's self-check catches
// the report instead.
func (pe *person) accessibilityProblem(msg string) {
	pe.t.Helper()
	if pe.onAccessibilityProblem != nil {
		pe.onAccessibilityProblem(msg)
		return
	}
	pe.saveArtifacts("accessibility")
	pe.t.Error(msg)
}

// axeViolations injects axe-core into the page once (a page keeps it until
// it navigates away) and runs it at the viewport width (0: as it is).
func axeViolations(ctx context.Context, width int64) ([]axeViolation, error) {
	start := time.Now()
	defer func() { axeTime.add(time.Since(start)) }()
	loaded, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`typeof window.axe === 'object'`))
	if err != nil {
		return nil, err
	}
	if !loaded {
		if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](axeSource)); err != nil {
			return nil, fmt.Errorf("inject axe-core: %w", err)
		}
	}
	if width > 0 {
		// A phone's viewport: the page lays itself out again at that width
		// (its viewport meta tag applies), then goes back to the window.
		err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := cdp.Call(ctx, t, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{
				Width: width, Height: 844, DeviceScaleFactor: 1, Mobile: true,
			})
			return err
		}))
		if err != nil {
			return nil, fmt.Errorf("emulate a %d px viewport: %w", width, err)
		}
		defer func() {
			_ = chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
				_, err := cdp.Call(ctx, t, emulation.ClearDeviceMetricsOverride, cdp.Empty{})
				return err
			}))
		}()
	}
	options := axeDesktop
	if width > 0 {
		options = axePhone
	}
	return chromedp.Run(ctx, chromedp.Evaluate[[]axeViolation](axeRun+"("+options+")", chromedp.EvalAwaitPromise))
}

// axeTime adds up how long axe ran, for TestMain's summary (go test -v).
var axeTime axeStats

type axeStats struct {
	mu    sync.Mutex
	runs  int
	total time.Duration
}

func (a *axeStats) add(d time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.runs++
	a.total += d
}

func (a *axeStats) String() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return fmt.Sprintf("axe-core %s ran %d times, %s in all", axeVersion, a.runs, a.total.Round(time.Millisecond))
}

func widthName(width int64) string {
	if width == 0 {
		return "the desktop width"
	}
	return fmt.Sprintf("phone width (%d px)", width)
}

// formatViolations lists violations readably: rule, impact, what it asks,
// and each element that breaks it with axe's summary of why.
func formatViolations(vs []axeViolation) string {
	var b strings.Builder
	for _, v := range vs {
		fmt.Fprintf(&b, "  - %s (%s): %s\n    %s\n", v.ID, v.Impact, v.Help, v.HelpURL)
		for i, n := range v.Nodes {
			if i == 5 {
				fmt.Fprintf(&b, "      … and %d more elements\n", len(v.Nodes)-i)
				break
			}
			summary := strings.ReplaceAll(strings.TrimSpace(n.Summary), "\n", "\n        ")
			fmt.Fprintf(&b, "      %s\n        %s\n", n.Target, summary)
		}
	}
	return b.String()
}

package e2e

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strings"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// narrowestWidth is the narrowest phone the portal is laid out for: at
// 360 CSS pixels (and wider) no page may be wider than the screen.
const narrowestWidth = 360

// overflow measures the page as laid out now: the document's width and
// the viewport's, and the elements that reach past the viewport's right
// edge (the first few, outermost first), to say what to fix.
const overflow = `(() => {
	const doc = document.documentElement;
	const width = doc.clientWidth;
	const out = [];
	const walk = (el) => {
		if (out.length >= 5) return;
		const r = el.getBoundingClientRect();
		if (r.right > width + 0.5 && getComputedStyle(el).position !== 'absolute') {
			let name = el.tagName.toLowerCase();
			if (el.id) name += '#' + el.id;
			if (el.className && typeof el.className === 'string') name += '.' + el.className.trim().split(/\s+/).join('.');
			out.push(name + ' (right edge ' + Math.round(r.right) + ' px)');
		}
		// A region that scrolls sideways keeps its content inside.
		const style = getComputedStyle(el);
		if (style.overflowX === 'auto' || style.overflowX === 'scroll' || style.overflowX === 'hidden') return;
		for (const child of el.children) walk(child);
	};
	walk(document.body);
	return {scrollWidth: doc.scrollWidth, clientWidth: width, offenders: out};
})()`

type overflowReport struct {
	ScrollWidth int64    `json:"scrollWidth"`
	ClientWidth int64    `json:"clientWidth"`
	Offenders   []string `json:"offenders"`
}

// checkFits lays the open page out at narrowestWidth and fails the test
// when it scrolls sideways (document.scrollWidth > clientWidth), naming
// what sticks out. Like the axe check, a page with a skeleton already
// measured is not measured again.
func (pe *person) checkFits(skeleton string) {
	pe.t.Helper()
	key := fmt.Sprintf("fits:%d:%x", narrowestWidth, sha256.Sum256([]byte(skeleton)))
	if _, seen := pe.axeChecked.LoadOrStore(key, struct{}{}); seen {
		return
	}
	ctx, cancel := context.WithTimeout(pe.ctx, axeTimeout)
	defer cancel()
	r, err := measureAt(ctx, narrowestWidth)
	if err != nil {
		pe.fail("measure the page at %d px: %v", narrowestWidth, err)
	}
	path := strings.TrimPrefix(pe.location(), pe.p.URL)
	if r.ScrollWidth > r.ClientWidth {
		pe.accessibilityProblem(fmt.Sprintf("%s: %s is %d px wide at a %d px viewport (it scrolls sideways); sticking out: %s",
			pe.name, path, r.ScrollWidth, r.ClientWidth, strings.Join(r.Offenders, ", ")))
		return
	}
	pe.t.Logf("%s: %s fits %d px", pe.name, path, narrowestWidth)
}

// measureAt lays the page out as a phone width px wide, measures it and
// goes back to the window.
func measureAt(ctx context.Context, width int64) (overflowReport, error) {
	if err := emulatePhone(ctx, width); err != nil {
		return overflowReport{}, err
	}
	defer clearEmulation(ctx)
	return chromedp.Run(ctx, chromedp.Evaluate[overflowReport](overflow))
}

// emulatePhone lays the page out as a phone's viewport width px wide (its
// viewport meta tag applies).
func emulatePhone(ctx context.Context, width int64) error {
	return chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{
			Width: width, Height: 844, DeviceScaleFactor: 1, Mobile: true,
		})
		return err
	}))
}

// clearEmulation goes back to the browser window's own size.
func clearEmulation(ctx context.Context) {
	_ = chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.ClearDeviceMetricsOverride, cdp.Empty{})
		return err
	}))
}

package static

import (
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// cssRules reads rolegate.css into selector → declarations (property →
// value, var(--x) resolved against :root).
func cssRules(t *testing.T) map[string]map[string]string {
	t.Helper()
	b, err := files.ReadFile("rolegate.css")
	if err != nil {
		t.Fatal(err)
	}
	css := regexp.MustCompile(`(?s)/\*.*?\*/`).ReplaceAllString(string(b), "")
	rules := map[string]map[string]string{}
	for _, block := range strings.Split(css, "}") {
		sel, body, ok := strings.Cut(block, "{")
		if !ok {
			continue
		}
		if i := strings.LastIndex(body, "{"); i >= 0 { // inside @media: the last selector
			sel, body = body[:i], body[i+1:]
		}
		decls := map[string]string{}
		for _, d := range strings.Split(body, ";") {
			if k, v, ok := strings.Cut(d, ":"); ok {
				decls[strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
		}
		for _, s := range strings.Split(sel, ",") {
			s = strings.Join(strings.Fields(s), " ")
			if rules[s] == nil {
				rules[s] = map[string]string{}
			}
			for k, v := range decls {
				rules[s][k] = v
			}
		}
	}
	vars := rules[":root"]
	varRef := regexp.MustCompile(`var\((--[a-z-]+)\)`)
	for _, decls := range rules {
		for k, v := range decls {
			decls[k] = varRef.ReplaceAllStringFunc(v, func(ref string) string { return vars[varRef.FindStringSubmatch(ref)[1]] })
		}
	}
	return rules
}

// Text the stylesheet colours reads at WCAG AA's 4.5:1 at least, on every
// background it is shown on: the rules that set both a colour and a
// background, and the colours shown on a background set elsewhere. axe-core
// checks the pages the journeys reach; this checks the states they do not
// (every status badge, every kind of message).
func TestTextContrastIsAtLeastAA(t *testing.T) {
	rules := cssRules(t)
	color := func(sel, prop string) string {
		v := rules[sel][prop]
		if v == "" {
			t.Fatalf("rolegate.css: %s has no %s", sel, prop)
		}
		return v
	}
	type pair struct{ what, fg, bg string }
	var pairs []pair
	for sel, decls := range rules {
		bg := decls["background"]
		if bg == "" {
			bg = decls["background-color"]
		}
		if fg := decls["color"]; fg != "" && strings.HasPrefix(bg, "#") {
			pairs = append(pairs, pair{sel, fg, bg})
		}
	}
	white, page, header := color("input[type=text]", "background"), color("body", "background"), color("header.top", "background")
	pairs = append(pairs,
		pair{"links on a card", color("a", "color"), white},
		pair{"links on the page", color("a", "color"), page},
		pair{"muted text on a card", color(".muted", "color"), white},
		pair{"muted text on the page", color(".muted", "color"), page},
		pair{"table headers", color("body", "color"), color("th", "background")},
		pair{"navigation links in the header", color("header.top nav a", "color"), header},
		pair{"the signed-in person in the header", color("header.top .who", "color"), header},
		pair{"Sign out in the header", color("header.top .who a", "color"), header},
		pair{"a field's error", color(".field-error", "color"), white},
		pair{"a field's hint", color(".field-hint", "color"), white},
		pair{"a live check's warning", color(".check.warn", "color"), white},
		pair{"a live check's success", color(".check.ok", "color"), white},
		pair{"a danger button", color("button", "color"), color("button.danger", "background")},
	)
	for _, p := range pairs {
		r, err := contrast(p.fg, p.bg)
		if err != nil {
			t.Errorf("%s: %v", p.what, err)
			continue
		}
		if r < 4.5 {
			t.Errorf("%s: %s on %s has contrast %.2f:1; want at least 4.5:1", p.what, p.fg, p.bg, r)
		}
	}
}

// contrast is the WCAG 2 contrast ratio of two #rgb or #rrggbb colours.
func contrast(a, b string) (float64, error) {
	la, err := luminance(a)
	if err != nil {
		return 0, err
	}
	lb, err := luminance(b)
	if err != nil {
		return 0, err
	}
	return (math.Max(la, lb) + 0.05) / (math.Min(la, lb) + 0.05), nil
}

func luminance(hex string) (float64, error) {
	h := strings.TrimPrefix(hex, "#")
	if len(h) == 3 {
		h = string([]byte{h[0], h[0], h[1], h[1], h[2], h[2]})
	}
	n, err := strconv.ParseUint(h, 16, 32)
	if err != nil || len(h) != 6 {
		return 0, &strconv.NumError{Func: "luminance", Num: hex, Err: strconv.ErrSyntax}
	}
	channel := func(v uint64) float64 {
		c := float64(v) / 255
		if c <= 0.04045 {
			return c / 12.92
		}
		return math.Pow((c+0.055)/1.055, 2.4)
	}
	return 0.2126*channel(n>>16&0xff) + 0.7152*channel(n>>8&0xff) + 0.0722*channel(n&0xff), nil
}

func TestContrastOfKnownPairs(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want float64
	}{
		{"#000", "#fff", 21},
		{"#fff", "#fff", 1},
		{"#2952cc", "#111827", 2.68}, // the header's Sign out link before issue 12
		{"#767676", "#ffffff", 4.54},
	} {
		got, err := contrast(tt.a, tt.b)
		if err != nil || math.Abs(got-tt.want) > 0.01 {
			t.Errorf("contrast(%s, %s) = %.2f, %v; want %.2f", tt.a, tt.b, got, err, tt.want)
		}
	}
}

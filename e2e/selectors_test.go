// Selectors by what a person reads. All are XPath, found with Chromium's
// DOM search.

package e2e

import (
	"encoding/json"
	"strings"
)

// link is a link whose text is text.
func link(text string) string {
	return `//a[normalize-space()=` + xpathString(text) + `]`
}

// button is a button whose text is text.
func button(text string) string {
	q := xpathString(text)
	return `//button[normalize-space()=` + q + `] | //input[(@type='submit' or @type='button') and @value=` + q + `]`
}

// labelled is the condition on a label element that reads text, possibly
// followed by more words ("From (UTC)").
func labelled(text string) string {
	q := xpathString(text)
	return `normalize-space()=` + q + ` or starts-with(normalize-space(), concat(` + q + `, ' ')) or starts-with(normalize-space(), concat(` + q + `, ':'))`
}

// field is the form control whose label reads label.
func field(label string) string {
	cond := labelled(label)
	control := `(self::input or self::textarea or self::select)`
	return `//*[` + control + `][@id = //label[` + cond + `]/@for] | //label[` + cond + `]//*[` + control + `]`
}

// permissionBox is the checkbox labelled with the permission string perm.
func permissionBox(perm string) string {
	q := xpathString(perm)
	return `//label[.//*[normalize-space()=` + q + `] or normalize-space(text())=` + q + `]//input[@type='checkbox'] | //input[@type='checkbox'][@id = //label[normalize-space()=` + q + `]/@for]`
}

// containing is the innermost elements whose text contains text.
func containing(text string) string {
	q := xpathString(text)
	return `//body//*[contains(normalize-space(), ` + q + `)][not(*[contains(normalize-space(), ` + q + `)])]`
}

// xpathString quotes s as an XPath string literal.
func xpathString(s string) string {
	switch {
	case !strings.Contains(s, "'"):
		return "'" + s + "'"
	case !strings.Contains(s, `"`):
		return `"` + s + `"`
	}
	parts := strings.Split(s, "'")
	for i, p := range parts {
		parts[i] = "'" + p + "'"
	}
	return `concat(` + strings.Join(parts, `, "'", `) + `)`
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

package notify

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"strings"
	"unicode"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// Email is one rendered message: a subject, a plain-text part and an HTML
// part saying the same thing.
type Email struct {
	Subject string
	Text    string
	HTML    string
}

//go:embed templates/email.html
var templateFS embed.FS

// htmlTemplate escapes every value by context: request text written by
// anyone (a justification, a name from the identity provider, an upstream
// error) arrives in the mail reader as text, never as markup.
var htmlTemplate = template.Must(template.ParseFS(templateFS, "templates/email.html"))

// emailView is a message before it becomes text or HTML: the notice's
// words (rolegate.DescribeNotice) and the link they lead to.
type emailView struct {
	rolegate.Message
	Link string
}

// RenderEmail writes the message about f for a recipient of audience a; link
// is the request's page in the portal.
func RenderEmail(f rolegate.NotificationFacts, a rolegate.Audience, link string) (Email, error) {
	v := emailView{Message: rolegate.DescribeNotice(f, a), Link: link}
	var html bytes.Buffer
	if err := htmlTemplate.Execute(&html, v); err != nil {
		return Email{}, fmt.Errorf("notify: render the HTML part: %w", err)
	}
	return Email{Subject: "[rolegate] " + oneLine(v.Subject, 200), Text: plainText(v), HTML: html.String()}, nil
}

// plainText writes the text part. Text written by people is indented under
// its label, so it cannot pass for rolegate's own words or links.
func plainText(v emailView) string {
	var b strings.Builder
	b.WriteString(oneLine(v.Heading, 1000))
	b.WriteString("\n\n")
	for _, l := range v.Lines {
		b.WriteString(oneLine(l, 1000))
		b.WriteString("\n\n")
	}
	for _, f := range v.Fields {
		switch {
		case f.List != nil:
			fmt.Fprintf(&b, "%s:\n", f.Label)
			for _, item := range f.List {
				fmt.Fprintf(&b, "    - %s\n", oneLine(item, 200))
			}
		case f.Quoted:
			fmt.Fprintf(&b, "%s:\n", f.Label)
			for _, line := range strings.Split(textOnly(f.Value), "\n") {
				fmt.Fprintf(&b, "    | %s\n", line)
			}
		default:
			fmt.Fprintf(&b, "%s: %s\n", f.Label, oneLine(f.Value, 300))
		}
	}
	fmt.Fprintf(&b, "\n%s:\n%s\n\n-- \n%s Nothing is decided from this message: the link opens the request in rolegate, where you sign in to act.\n",
		v.Action, v.Link, v.Why)
	return b.String()
}

// textOnly drops control characters other than newlines and tabs.
func textOnly(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' {
			return r
		}
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return -1
		}
		return r
	}, s)
}

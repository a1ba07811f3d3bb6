package notify

import (
	"github.com/rolegate/rolegate/internal/rolegate"

	"bytes"
	"embed"
	"fmt"
	"html/template"
	"strings"
	"time"
	"unicode"
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

// emailView is a message before it becomes text or HTML.
type emailView struct {
	Subject  string
	Heading  string
	Lines    []string
	Fields   []emailField
	Link     string
	LinkText string
	Why      string
}

// emailField is one labelled value; Block marks free text written by a
// person, List a list of short values.
type emailField struct {
	Label string
	Value string
	List  []string
	Block bool
	Mono  bool
}

// RenderEmail writes the message about f for a recipient of audience a; link
// is the request's page in the portal.
func RenderEmail(f rolegate.NotificationFacts, a rolegate.Audience, link string) (Email, error) {
	v := emailFor(f, a, link)
	var html bytes.Buffer
	if err := htmlTemplate.Execute(&html, v); err != nil {
		return Email{}, fmt.Errorf("notify: render the HTML part: %w", err)
	}
	return Email{Subject: "[rolegate] " + oneLine(v.Subject, 200), Text: plainText(v), HTML: html.String()}, nil
}

func emailFor(f rolegate.NotificationFacts, a rolegate.Audience, link string) emailView {
	role := fmt.Sprintf("%q", f.RoleName)
	actor := f.Actor.Name
	if actor == "" {
		actor = f.Actor.Email
	}
	requester := ""
	if f.Requester != nil {
		requester = f.Requester.Name
		if f.Requester.Email != "" && f.Requester.Email != f.Requester.Name {
			requester += " <" + f.Requester.Email + ">"
		}
	}
	v := emailView{Link: link, LinkText: fmt.Sprintf("Open request #%d", f.RequestID)}
	switch a {
	case rolegate.AudienceRequester:
		v.Why = "You get this because you filed this request."
	case rolegate.AudienceApprover:
		v.Why = "You get this because you are an approver in rolegate."
	case rolegate.AudienceAdmin:
		v.Why = "You get this because you are an admin in rolegate."
	}
	field := func(label, value string) {
		if value != "" {
			v.Fields = append(v.Fields, emailField{Label: label, Value: value})
		}
	}
	block := func(label, value string) {
		if value != "" {
			v.Fields = append(v.Fields, emailField{Label: label, Value: value, Block: true})
		}
	}
	field("Request", fmt.Sprintf("#%d", f.RequestID))
	v.Fields = append(v.Fields, emailField{Label: "Role name", Value: f.RoleName, Mono: true})
	permissions := func() {
		if len(f.Permissions) > 0 {
			v.Fields = append(v.Fields, emailField{Label: "Permissions", List: f.Permissions})
		}
	}

	switch f.Kind {
	case rolegate.NoticeSubmitted:
		v.Subject = fmt.Sprintf("Request #%d for the role %s needs your review", f.RequestID, role)
		v.Heading = fmt.Sprintf("%s asks for a new custom role %s in the OpenAI organization.", nameOr(f.Requester, actor), role)
		v.Lines = []string{fmt.Sprintf("It needs %s. Review the exact request on its page, then approve or reject it there.", approvals(f.RequiredApprovals))}
		v.LinkText = fmt.Sprintf("Review request #%d", f.RequestID)
		field("Requested by", requester)
		permissions()
		block("Description", f.Description)
		block("Justification", f.Justification)
	case rolegate.NoticeApproved:
		v.Subject = fmt.Sprintf("Your request #%d for the role %s was approved", f.RequestID, role)
		v.Heading = fmt.Sprintf("Your request for the role %s was approved.", role)
		v.Lines = []string{"rolegate is creating the role in the OpenAI organization now; you will get another message when it exists."}
		var by []string
		for _, ap := range f.Approvals {
			s := ap.Name
			if ap.Comment != "" {
				s += ": " + ap.Comment
			}
			by = append(by, s)
		}
		if len(by) > 0 {
			v.Fields = append(v.Fields, emailField{Label: "Approved by", Value: strings.Join(by, "\n"), Block: true})
		}
	case rolegate.NoticeRejected:
		v.Subject = fmt.Sprintf("Your request #%d for the role %s was rejected", f.RequestID, role)
		v.Heading = fmt.Sprintf("%s rejected your request for the role %s.", actor, role)
		v.Lines = []string{"Nothing was created. If the reason below can be addressed, you can file a new request."}
		block("Comment", f.Comment)
	case rolegate.NoticeExpired:
		v.Subject = fmt.Sprintf("Your request #%d for the role %s expired", f.RequestID, role)
		v.Heading = fmt.Sprintf("Your request for the role %s expired without a decision.", role)
		v.Lines = []string{"Nothing was created. If you still need the role, file the request again."}
		field("Submitted", when(f.SubmittedAt))
	case rolegate.NoticeProvisioned:
		v.Subject = fmt.Sprintf("The role %s was created (request #%d)", role, f.RequestID)
		if a == rolegate.AudienceRequester {
			v.Heading = fmt.Sprintf("The role %s you asked for now exists in the OpenAI organization.", role)
		} else {
			v.Heading = fmt.Sprintf("The role %s you approved now exists in the OpenAI organization.", role)
		}
		v.Fields = append(v.Fields, emailField{Label: "Role id", Value: f.RoleID, Mono: true})
		permissions()
	case rolegate.NoticeFailed:
		v.Subject = fmt.Sprintf("Creating the role %s failed (request #%d)", role, f.RequestID)
		if a == rolegate.AudienceAdmin {
			v.Heading = fmt.Sprintf("rolegate could not create the role %s.", role)
			v.Lines = []string{"Check the error below, then retry provisioning (or abandon it) on the request page."}
			v.LinkText = fmt.Sprintf("Retry request #%d", f.RequestID)
			field("Requested by", requester)
		} else {
			v.Heading = fmt.Sprintf("rolegate could not create the role %s you asked for.", role)
			v.Lines = []string{"The admins have been told; they can retry once the cause is fixed."}
		}
		block("Error", f.Failure)
	case rolegate.NoticeAbandoned:
		v.Subject = fmt.Sprintf("The role %s will not be created (request #%d)", role, f.RequestID)
		v.Heading = fmt.Sprintf("%s stopped the attempts to create the role %s you asked for.", actor, role)
		v.Lines = []string{"Nothing more will be tried for this request, and its role name is free again. File a new request if you still need the role."}
		block("Reason", f.Comment)
	case rolegate.NoticeReminder:
		v.Subject = fmt.Sprintf("Reminder: request #%d for the role %s is waiting for review", f.RequestID, role)
		v.Heading = fmt.Sprintf("Request #%d for the role %s has been waiting for a decision since %s.", f.RequestID, role, when(f.SubmittedAt))
		var names []string
		for _, ap := range f.Approvals {
			names = append(names, ap.Name)
		}
		line := fmt.Sprintf("It has %d of %s.", len(f.Approvals), approvals(f.RequiredApprovals))
		if len(names) > 0 {
			line = fmt.Sprintf("It has %d of %s (%s).", len(f.Approvals), approvals(f.RequiredApprovals), strings.Join(names, ", "))
		}
		v.Lines = []string{line}
		v.LinkText = fmt.Sprintf("Review request #%d", f.RequestID)
		field("Requested by", requester)
		permissions()
		block("Justification", f.Justification)
	case rolegate.NoticeDrift:
		if f.Deleted {
			v.Subject = fmt.Sprintf("The role %s was deleted outside rolegate (request #%d)", role, f.RequestID)
			v.Heading = fmt.Sprintf("The role %s that rolegate created through request #%d no longer exists in the OpenAI organization: it was deleted outside rolegate.", role, f.RequestID)
		} else {
			v.Subject = fmt.Sprintf("The role %s was changed outside rolegate (request #%d)", role, f.RequestID)
			v.Heading = fmt.Sprintf("The role %s that rolegate created through request #%d was changed outside rolegate; it no longer matches what was approved.", role, f.RequestID)
		}
		v.Lines = []string{"Find out who changed it and whether that was intended; the request page and the Roles page show the difference."}
		v.Fields = append(v.Fields, emailField{Label: "Role id", Value: f.RoleID, Mono: true})
		for _, d := range f.Differences {
			v.Fields = append(v.Fields, emailField{Label: "Approved " + d.Field, Value: d.Old, Block: true},
				emailField{Label: "Now " + d.Field, Value: d.New, Block: true})
		}
	default:
		v.Subject = fmt.Sprintf("Request #%d for the role %s is now %s", f.RequestID, role, f.Status.Label())
		v.Heading = fmt.Sprintf("Request #%d for the role %s is now %s.", f.RequestID, role, f.Status.Label())
	}
	field("Status", f.Status.Label())
	return v
}

func nameOr(p *rolegate.NoticePerson, fallback string) string {
	if p != nil && p.Name != "" {
		return p.Name
	}
	return fallback
}

func approvals(n int) string {
	if n == 1 {
		return "1 approval"
	}
	return fmt.Sprintf("%d approvals", n)
}

func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2 Jan 2006 15:04 UTC")
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
		case f.Block:
			fmt.Fprintf(&b, "%s:\n", f.Label)
			for _, line := range strings.Split(textOnly(f.Value), "\n") {
				fmt.Fprintf(&b, "    | %s\n", line)
			}
		default:
			fmt.Fprintf(&b, "%s: %s\n", f.Label, oneLine(f.Value, 300))
		}
	}
	fmt.Fprintf(&b, "\n%s:\n%s\n\n-- \n%s Nothing is decided from this message: the link opens the request in rolegate, where you sign in to act.\n",
		v.LinkText, v.Link, v.Why)
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

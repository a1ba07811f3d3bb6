package views

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// The end-session link comes from the provider's discovery document: an
// http(s) address is linked as it is, anything else is not linked at all.
func TestSignedOutPageLinksOnlyWebAddresses(t *testing.T) {
	tests := []struct {
		url, want string
	}{
		{"https://idp.example.com/logout?client_id=rolegate", `href="https://idp.example.com/logout?client_id=rolegate"`},
		{"http://127.0.0.1:9000/end_session?client_id=x", `href="http://127.0.0.1:9000/end_session?client_id=x"`},
		{"javascript:alert(document.cookie)", `href="about:invalid#TemplFailedSanitizationURL"`},
		{"JavaScript:alert(1)", `href="about:invalid#TemplFailedSanitizationURL"`},
		{"data:text/html,<script>alert(1)</script>", `href="about:invalid#TemplFailedSanitizationURL"`},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		if err := SignedOutPage(Chrome{}, tt.url).Render(context.Background(), &buf); err != nil {
			t.Fatalf("SignedOutPage(%q): %v", tt.url, err)
		}
		if got := buf.String(); !strings.Contains(got, tt.want) {
			t.Errorf("SignedOutPage(%q) links %q; want %s", tt.url, linkOf(got), tt.want)
		}
	}
}

// linkOf is the end-session anchor of a signed-out page, for messages.
func linkOf(page string) string {
	before, _, _ := strings.Cut(page, ">sign out there")
	return before[strings.LastIndex(before, "<a ")+1:]
}

package sso

import (
	"strings"
	"testing"
)

func TestSafeReturnPath(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		// Same-origin paths are kept exactly.
		{"/", "/"},
		{"/requests/12?x=1", "/requests/12?x=1"},
		{"/requests/12?x=1#timeline", "/requests/12?x=1#timeline"},
		{"/audit?actor=alice%40example.com&from=2024-01-01", "/audit?actor=alice%40example.com&from=2024-01-01"},
		{"/search?next=//evil.com", "/search?next=//evil.com"}, // "//" in a query is just data
		{"/a%20b", "/a%20b"},

		// Empty and relative.
		{"", "/"},
		{"requests/12", "/"},
		{"?x=1", "/"},
		{"#top", "/"},
		{".", "/"},

		// Other origins.
		{"//evil.com", "/"},
		{"///evil.com", "/"},
		{"//evil.com/requests", "/"},
		{"/\\evil.com", "/"},
		{"\\\\evil.com", "/"},
		{"\\/evil.com", "/"},
		{"/\\/evil.com", "/"},
		{"http://evil.com", "/"},
		{"https://evil.com/requests", "/"},
		{"https:evil.com", "/"},
		{"HTTP://evil.com", "/"},
		{"javascript:alert(1)", "/"},
		{"data:text/html,<script>alert(1)</script>", "/"},
		{"//user@evil.com", "/"},
		{"/requests/../../evil", "/"},
		{"/./requests", "/"},
		{"/.//evil.com", "/"},

		// Whitespace and control characters browsers strip or servers split on.
		{" /requests", "/"},
		{"/\t/evil.com", "/"},
		{"/\n/evil.com", "/"},
		{"/requests\r\nLocation: http://evil.com", "/"},
		{"/requests\x00", "/"},
		{"/requests\x7f", "/"},
		{"/requests x", "/"},

		// Percent-encoded tricks, for the hop that decodes once more.
		{"/%2F%2Fevil.com", "/"},
		{"/%2f/evil.com", "/"},
		{"/%5Cevil.com", "/"},
		{"/%5c%5cevil.com", "/"},
		{"/%09/evil.com", "/"},
		{"/%0d%0aSet-Cookie:x=1", "/"},
		{"/%00", "/"},
		{"/%2e%2e/evil", "/"},
		{"/%zz", "/"},

		// Non-ASCII look-alikes of '/' and '\'.
		{"/\uff0f\uff0fevil.com", "/"},
		{"/\u2215evil.com", "/"},

		// Absurdly long.
		{"/" + strings.Repeat("a", 3000), "/"},
	}
	for _, tt := range tests {
		if got := SafeReturnPath(tt.in); got != tt.want {
			t.Errorf("SafeReturnPath(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

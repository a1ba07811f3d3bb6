package adminapi_test

import (
	"testing"

	"github.com/rolegate/rolegate/internal/adminapi"
)

func TestRedact(t *testing.T) {
	const key = "sk-admin-current-0123456789"
	for _, tc := range []struct{ in, key, want string }{
		{"nothing secret here", key, "nothing secret here"},
		{"bad key " + key + ".", key, "bad key [redacted]."},
		{"twice: " + key + key, key, "twice: [redacted][redacted]"},
		{"a non-sk key: abc123XYZ", "abc123XYZ", "a non-sk key: [redacted]"},
		{"Authorization: Bearer eyJhbGciOi.x.y", "", "Authorization: Bearer [redacted]"},
		{`header "bearer abc"`, "", `header "Bearer [redacted]"`},
		{"Incorrect API key provided: sk-admin-****wxyz.", "", "Incorrect API key provided: [redacted]."},
		{"project key sk-proj-AbC_dEf-123", "", "project key [redacted]"},
		{"a task-force and the sk- prefix alone", "", "a task-force and the sk- prefix alone"},
		{"empty key changes nothing", "", "empty key changes nothing"},
	} {
		if got := adminapi.Redact(tc.in, tc.key); got != tc.want {
			t.Errorf("Redact(%q, %q) = %q; want %q", tc.in, tc.key, got, tc.want)
		}
	}
}

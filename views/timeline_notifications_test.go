package views

import (
	"testing"

	"github.com/rolegate/rolegate/internal/rolegate"
)

func TestTimelineTellsTheNotifierEvents(t *testing.T) {
	tests := []struct {
		action, details string
		what, detail    string
	}{
		{"request.reminder", `{"pending_for":"24h0m0s","reminder":1}`, "Reminded the approvers", "Pending for 24h0m0s"},
		{"notification.sent", `{"channel":"email","recipient":"avery@example.com","event":"request.created"}`,
			"Notified avery@example.com by email", ""},
		{"notification.failed", `{"channel":"webhook","recipient":"webhook https://chat.example.com (0a1b2c3d)","error":"Gave up after 8 attempts."}`,
			"Could not notify webhook https://chat.example.com (0a1b2c3d) by webhook", "Gave up after 8 attempts."},
	}
	for _, tt := range tests {
		items := Timeline([]rolegate.Event{{Action: tt.action, Details: []byte(tt.details)}})
		if len(items) != 1 || items[0].What != tt.what || items[0].Detail != tt.detail {
			t.Errorf("Timeline(%s) = %+v; want What %q, Detail %q", tt.action, items, tt.what, tt.detail)
		}
	}
}

package views

import "testing"

func TestMatchesSentence(t *testing.T) {
	tests := []struct {
		n    int
		more bool
		want string
	}{
		{0, false, "0 events match."},
		{1, false, "1 event matches."},
		{999, false, "999 events match."},
		{1234, false, "1,234 events match."},
		{10000, true, "More than 10,000 events match."},
		{1234567, false, "1,234,567 events match."},
	}
	for _, tt := range tests {
		if got := (AuditView{Matches: tt.n, MoreMatches: tt.more}).matchesSentence(); got != tt.want {
			t.Errorf("matchesSentence(%d, %v) = %q; want %q", tt.n, tt.more, got, tt.want)
		}
	}
	const notCounted = "The matches were not counted: with these filters, counting takes too long. The newest are below."
	if got := (AuditView{NotCounted: true}).matchesSentence(); got != notCounted {
		t.Errorf("matchesSentence(not counted) = %q; want %q", got, notCounted)
	}
}

package provisioning

import (
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/adminapi"
)

func TestBackoffDoublesWithJitterAndHonoursRetryAfter(t *testing.T) {
	w := New(Config{BackoffBase: time.Second, BackoffMax: time.Minute})
	cases := []struct {
		attempt    int
		retryAfter time.Duration
		lo, hi     time.Duration
	}{
		{1, 0, 500 * time.Millisecond, time.Second},
		{2, 0, time.Second, 2 * time.Second},
		{4, 0, 4 * time.Second, 8 * time.Second},
		{7, 0, 30 * time.Second, time.Minute},  // 64s is capped at a minute
		{60, 0, 30 * time.Second, time.Minute}, // no overflow however many attempts
		{1, 5 * time.Second, 5 * time.Second, 5 * time.Second},
		{1, 3 * time.Hour, time.Hour, time.Hour}, // a confused upstream does not park a request for hours
	}
	for _, tc := range cases {
		for range 50 {
			if got := w.backoff(tc.attempt, tc.retryAfter); got < tc.lo || got > tc.hi {
				t.Errorf("backoff(%d, %v) = %v; want within [%v, %v]", tc.attempt, tc.retryAfter, got, tc.lo, tc.hi)
				break
			}
		}
	}
}

func TestMismatchNamesWhatDiffers(t *testing.T) {
	desc := "Reads groups."
	want := approvedBody{RoleName: "Group Reader", Permissions: []string{"api.groups.read", "api.users.read"}, Description: &desc}
	cases := []struct {
		role adminapi.Role
		diff string
	}{
		{adminapi.Role{Name: "Group Reader", Permissions: []string{"api.users.read", "api.groups.read"}, Description: desc}, ""},
		{adminapi.Role{Name: "group reader", Permissions: want.Permissions, Description: desc}, `its name is "group reader", not "Group Reader"`},
		{adminapi.Role{Name: "Group Reader", Permissions: []string{"api.groups.read"}, Description: desc}, "it grants [api.groups.read] instead of the approved [api.groups.read api.users.read]"},
		{adminapi.Role{Name: "Group Reader", Permissions: want.Permissions, Description: ""}, `its description is "" instead of "Reads groups."`},
	}
	for _, tc := range cases {
		if got := mismatch(want, tc.role); got != tc.diff {
			t.Errorf("mismatch(%+v) = %q; want %q", tc.role, got, tc.diff)
		}
	}
	noDesc := approvedBody{RoleName: "Group Reader", Permissions: []string{"api.groups.read"}}
	if got := mismatch(noDesc, adminapi.Role{Name: "Group Reader", Permissions: []string{"api.groups.read"}}); got != "" {
		t.Errorf("mismatch(no description asked, none given) = %q; want \"\"", got)
	}
}

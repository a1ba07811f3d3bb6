package rolegate_test

import (
	"testing"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// BenchmarkDescribe puts a provisioned request's timeline into words, as
// its page does on every view (views.Timeline): one op is the whole
// timeline.
func BenchmarkDescribe(b *testing.B) {
	actor := rolegate.Actor{Principal: rolegate.Principal{Person: rolegate.Person{Subject: "riley", Name: "Riley Requester", Email: "riley@example.com"}}}
	timeline := []rolegate.Details{
		rolegate.RequestCreated{Permissions: []string{"api.groups.read", "api.projects.read"}, PayloadSHA256: "9f2c4a1e0b7d3c58a6e1f04b2d9c7e3a5b8f1d0c2e4a6b8d0f1e3c5a7b9d1f3e", RequiredApprovals: 1,
			Description: "Read-only access for the dashboards.", Justification: "The platform team's dashboards read groups and projects."},
		rolegate.RequestApproved{Comment: "Fine.", PayloadSHA256: "9f2c4a1e0b7d3c58a6e1f04b2d9c7e3a5b8f1d0c2e4a6b8d0f1e3c5a7b9d1f3e", Approvals: 1, RequiredApprovals: 1, Complete: true},
		rolegate.ProvisioningQueued{},
		rolegate.ProvisioningAttempt{Attempt: 1},
		rolegate.ProvisioningSucceeded{RoleID: "role_0123456789", ResourceType: "api.organization", Permissions: []string{"api.groups.read", "api.projects.read"}, Attempt: 1},
		rolegate.NotificationSent{NotificationID: 3, Channel: "email", Recipient: "riley@example.com", Event: "provisioning.succeeded", Attempts: 1},
	}
	events := make([]rolegate.Event, len(timeline))
	for i, d := range timeline {
		events[i] = rolegate.NewEvent(actor, rolegate.OutcomeSuccess, d)
		events[i].RequestID, events[i].RoleName = 12, "Dashboard Reader"
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, e := range events {
			_ = rolegate.Describe(e)
		}
	}
}

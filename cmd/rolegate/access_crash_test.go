package main

import (
	"context"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/adminapi"
	"github.com/rolegate/rolegate/internal/app"
	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/simulator"
	"github.com/rolegate/rolegate/internal/testkit"
)

// Time-bound access ends by itself, once, even when the process is killed
// with SIGKILL at the moment of removal: the real binary assigns an
// approved access, removes it at Until with a DELETE that is applied
// upstream but never answered, is killed, and the next process ends the
// access as its own removal (not as drift) without a second DELETE.
func TestAccessRemovalAcrossAKill(t *testing.T) {
	testkit.MultiProcess(t)
	bin := buildRolegate(t)
	sim := simulator.New(simulator.Options{AdminKey: crashKey, Users: simulator.DevUsers(), Groups: simulator.DevGroups()})
	up := startCrashUpstreamWith(t, sim)
	role, err := sim.AddRole("Usage Readers", "", []string{"api.usage.read"})
	if err != nil {
		t.Fatal(err)
	}
	support, _ := sim.GroupNamed("Support Team")
	dir := t.TempDir()
	vars := crashEnv(dir, up.url)
	vars["OPENAI_ADMIN_KEY"] = crashKey
	vars["ROLEGATE_PROVISION_TIMEOUT"] = "2m" // the DELETE hangs until the kill

	// Filed and approved before the first start, through the store, as
	// the web's Request access will: access for Support Team ending a few
	// seconds after it is filed (whether before or after the assignment is
	// made, its removal follows it).
	id := fileApprovedAccess(t, vars["ROLEGATE_DB"], up.url, role.ID, support.ID, 3*time.Second)
	sim.FailNext(1, simulator.Fault{Kind: simulator.FaultHangAfterApply, Op: simulator.OpUnassign})
	assignment := simulator.Assignment{Kind: simulator.PrincipalGroup, PrincipalID: support.ID, RoleID: role.ID}

	first := startRolegate(t, bin, vars)
	first.waitFor("the assignment upstream", func() bool { return sim.AssignCalls() == 1 })
	first.waitFor("the DELETE at Until to be applied upstream", func() bool { return sim.UnassignCalls() == 1 && len(sim.Assignments()) == 0 })
	first.kill()

	second := startRolegate(t, bin, vars)
	db := testkit.OpenReadOnly(t, vars["ROLEGATE_DB"])
	second.waitFor("the access to be revoked", func() bool {
		var state string
		_ = db.QueryRow(`SELECT state FROM access_grants WHERE request_id = ?`, id).Scan(&state)
		return state == string(rolegate.GrantRevoked)
	})
	var cause string
	if err := db.QueryRow(`SELECT end_cause FROM access_grants WHERE request_id = ?`, id).Scan(&cause); err != nil || cause != rolegate.EndExpired {
		t.Errorf("end cause = %q, %v; want %s (rolegate's own removal, not drift)", cause, err, rolegate.EndExpired)
	}
	var removed, drift int
	_ = db.QueryRow(`SELECT COUNT(*) FILTER (WHERE action = ?), COUNT(*) FILTER (WHERE action = ?) FROM audit_events WHERE request_id = ?`,
		rolegate.ActionAccessRemoved, rolegate.ActionAccessDrift, id).Scan(&removed, &drift)
	if removed != 1 || drift != 0 {
		t.Errorf("events: %d access.removed, %d access.drift; want one removal and no drift", removed, drift)
	}
	if slices.Contains(sim.Assignments(), assignment) {
		t.Errorf("the assignment is still upstream: %v", sim.Assignments())
	}
	if n := sim.UnassignCalls(); n != 1 || sim.AssignCalls() != 1 {
		t.Errorf("%d DELETEs and %d assigns upstream; want one each", n, sim.AssignCalls())
	}
	if !strings.Contains(second.log.String(), "resuming removals interrupted by a restart") {
		t.Errorf("the restarted process did not say it resumed the removal:\n%s", second.log)
	}
	second.terminate()
}

// startCrashUpstreamWith serves sim over HTTP for the test.
func startCrashUpstreamWith(t *testing.T, sim *simulator.Simulator) *crashUpstream {
	t.Helper()
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	return &crashUpstream{sim: sim, url: srv.URL + "/v1"}
}

// fileApprovedAccess opens the database as the binary will find it,
// reads the organization into the picture, and files and approves access
// to roleID for groupID ending lasting after it is filed; it returns the
// request's id.
func fileApprovedAccess(t *testing.T, dbPath, upstreamURL, roleID, groupID string, lasting time.Duration) int64 {
	t.Helper()
	ctx := context.Background()
	store, err := app.OpenStore(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	client := adminapi.New(upstreamURL, adminapi.StaticKey(crashKey), nil)
	var read rolegate.OrganizationRead
	if read.Roles, err = client.OrganizationRoles(ctx); err != nil {
		t.Fatal(err)
	}
	dirRead, err := client.OrganizationDirectory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	read.Directory = &dirRead
	if _, err := store.Picture.ReplaceOrganization(ctx, read, nil); err != nil {
		t.Fatal(err)
	}
	person := func(subject, name, email string, roles ...rolegate.PortalRole) rolegate.Actor {
		return rolegate.Actor{Principal: rolegate.Principal{Person: rolegate.Person{Issuer: "dev", Subject: subject, Name: name, Email: email}, Roles: roles}}
	}
	requests := store.Requests(rolegate.RequestsConfig{RequiredApprovals: 1})
	req, err := requests.CreateAccess(ctx, person("requester", "Riley Requester", "riley@example.test", rolegate.RoleRequester),
		rolegate.AccessInput{RoleID: roleID, Grantee: rolegate.Grantee{Kind: rolegate.GranteeGroup, ID: groupID},
			Until: time.Now().Add(lasting).UTC().Format("2006-01-02T15:04:05"), Justification: "Support needs the usage numbers for INC-12."},
		rolegate.NewCatalog(nil), rolegate.AccessConfig{MaxDuration: rolegate.DefaultAccessMaxDuration})
	if err != nil {
		t.Fatalf("file access: %v %v", err, rolegate.ErrorFields(err))
	}
	blake := person("approver2", "Blake Approver", "blake@example.test", rolegate.RoleApprover)
	if _, err := requests.ApproveWith(ctx, blake, req.ID, req.Binding(), "", rolegate.Reauth{}); err != nil {
		t.Fatal(err)
	}
	return req.ID
}

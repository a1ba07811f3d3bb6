package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/pressly/goose/v3"

	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/sqlite"
	"github.com/rolegate/rolegate/internal/testkit"
	"github.com/rolegate/rolegate/migrations"
)

// A request filed and approved before requests had a scope keeps its
// binding: after the migration it is the organization's, bound to its
// body's hash (binding version 1) like its approval, and its job hands the
// worker exactly that.
func TestARequestApprovedBeforeScopesKeepsItsBodyBinding(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "rolegate.db")
	raw := testkit.OpenDB(t, path)
	p, err := goose.NewProvider(goose.DialectSQLite3, raw, migrations.FS, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 7); err != nil {
		t.Fatalf("migrate to 7: %v", err)
	}
	payload := []byte(`{"role_name":"Old Reader","permissions":["api.groups.read"]}`)
	hash := rolegate.PayloadHash(payload)
	for _, row := range []struct {
		stmt string
		args []any
	}{
		{`INSERT INTO requests (id, role_name, role_name_key, permissions, justification, payload, payload_hash, status,
			requester_key, required_approvals, created_at, updated_at, expires_at)
			VALUES (1, 'Old Reader', 'old reader', '["api.groups.read"]', 'Filed before scopes.', ?, ?, 'approved',
			'iss|riley', 1, 1, 1, 99999999999999)`, []any{payload, hash}},
		{`INSERT INTO approvals (request_id, approver_key, payload_hash, created_at) VALUES (1, 'iss|avery', ?, 2)`, []any{hash}},
		{`INSERT INTO provisioning_jobs (request_id, state, run_after, created_at, updated_at) VALUES (1, 'queued', 0, 2, 2)`, nil},
	} {
		if _, err := raw.Exec(row.stmt, row.args...); err != nil {
			t.Fatalf("%s: %v", row.stmt, err)
		}
	}

	db, err := sqlite.Open(ctx, path) // migrates the rest
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	req, err := sqlite.NewRequests(db, rolegate.RequestsConfig{}).Get(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if req.Scope != rolegate.ScopeOrganization || req.BindingVersion != rolegate.BindingBody || req.Binding() != hash {
		t.Errorf("migrated request: scope %q, binding v%d %s; want the organization, v1, the payload's hash %s",
			req.Scope, req.BindingVersion, req.Binding(), hash)
	}
	job, err := sqlite.NewJobs(db).ClaimJob(ctx, "w1", 60e9)
	if err != nil || job == nil {
		t.Fatalf("ClaimJob = %v, %v", job, err)
	}
	want, err := rolegate.Binding(job.BindingVersion, job.Scope, job.Payload)
	if err != nil || job.BindingVersion != rolegate.BindingBody || len(job.ApprovedHashes) != 1 || job.ApprovedHashes[0] != want {
		t.Errorf("job: v%d, scope %q, approvals %v, binding %s (%v); want v1 for the organization, the approval bound to the body",
			job.BindingVersion, job.Scope, job.ApprovedHashes, want, err)
	}
}

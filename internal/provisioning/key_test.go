package provisioning_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rolegate/rolegate/internal/adminapi"
	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/simulator"
	"github.com/rolegate/rolegate/internal/testkit"
)

func TestARotatedKeyFileIsUsedForTheNextCallWithoutARestart(t *testing.T) {
	t.Parallel()
	keyFile := filepath.Join(t.TempDir(), "admin-key")
	writeKeyFile(t, keyFile, rigKey)
	r := newRig(t, rigOptions{Keys: adminapi.FileKey(keyFile)})
	r.start()

	first := r.settle(r.approved("Group Reader").ID)
	if first.Status != rolegate.StatusProvisioned {
		t.Fatalf("with the first key: %s (%q); want provisioned", first.Status, first.FailureMessage)
	}

	// The key is rotated upstream and in the file; the old one stops working.
	const rotated = "sk-admin-rotated-0b1c2d3e4f5a6b7c8d9e"
	r.sim.SetAdminKey(rotated)
	writeKeyFile(t, keyFile, rotated)
	if _, err := adminapi.New(r.simURL, adminapi.StaticKey(rigKey), nil).ListRoles(r.ctx); err == nil {
		t.Fatal("the old key still works upstream; the test proves nothing")
	}

	second := r.settle(r.approved("User Reader", "api.users.read").ID)
	if second.Status != rolegate.StatusProvisioned {
		t.Fatalf("after the rotation: %s (%q); want provisioned with the new key", second.Status, second.FailureMessage)
	}
	if n := len(r.customRoles()); n != 2 {
		t.Errorf("%d custom roles; want 2", n)
	}
}

// writeKeyFile replaces the file the way secret mounts do: a new file
// renamed over the old one.
func writeKeyFile(t *testing.T, path, key string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestTheAdminKeyIsNeverWrittenDown(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	// An upstream that echoes the credential in its error messages.
	r.sim.FailNext(1, simulator.Fault{Kind: simulator.FaultServerError, Op: simulator.OpCreate,
		Message: "Internal error handling Authorization: Bearer " + rigKey + " (key " + rigKey + ")"})
	r.start()

	retried := r.settle(r.approved("Group Reader").ID)
	if retried.Status != rolegate.StatusProvisioned {
		t.Fatalf("first request: %s (%q); want provisioned after a retry", retried.Status, retried.FailureMessage)
	}
	// Then the key is revoked upstream: a 401 that quotes the key, masked.
	r.sim.SetAdminKey("sk-admin-someone-else-entirely-0000")
	refused := r.settle(r.approved("User Reader", "api.users.read").ID)
	if refused.Status != rolegate.StatusFailed || !strings.Contains(refused.FailureMessage, "401") {
		t.Fatalf("second request: %s (%q); want failed with the 401", refused.Status, refused.FailureMessage)
	}

	var redacted bool
	for _, e := range r.events(retried.ID) {
		if e.Action == rolegate.ActionProvisioningRetrying {
			redacted = strings.Contains(string(e.Details), adminapi.Redacted)
		}
	}
	if !redacted {
		t.Errorf("the retry event does not show the upstream's message with the key redacted")
	}

	logs := r.logs.String()
	if !strings.Contains(logs, "provisioning") {
		t.Fatalf("no worker logs were captured:\n%s", logs)
	}
	tables := testkit.DumpTables(t, r.raw())
	if !strings.Contains(tables, adminapi.Redacted) {
		t.Fatalf("the table dump lacks the redacted retry event; it proves nothing:\n%s", tables)
	}
	secret := rigKey[len("sk-admin-"):] // the part that is the secret, whatever prefix is kept
	for where, text := range map[string]string{
		"the worker's log":          logs,
		"the database's tables":     tables,
		"the database file and WAL": testkit.DatabaseFiles(t, r.dbPath),
		"the failure message":       refused.FailureMessage,
	} {
		if strings.Contains(text, secret) {
			t.Errorf("the admin key appears in %s", where)
		}
	}
}

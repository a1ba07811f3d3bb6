package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// rolegate migrate refuses a database that a rolegate is serving (a newer
// binary must not change the schema under the running one), and creates
// nothing; once the lock is gone it migrates.
func TestMigrateRefusesADatabaseBeingServed(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "rolegate.db")
	unlock, err := lockDatabase(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err = run(context.Background(), []string{"migrate", "-db", dbPath}, env(nil), &out, &out)
	if err == nil || !strings.Contains(err.Error(), "another rolegate is already serving") {
		t.Errorf("migrate under a serving rolegate = %v; want a refusal naming the other rolegate", err)
	}
	if _, err := os.Stat(dbPath); err == nil {
		t.Errorf("the refused migrate created %s", dbPath)
	}
	unlock()
	if err := run(context.Background(), []string{"migrate", "-db", dbPath}, env(nil), &out, &out); err != nil {
		t.Fatalf("migrate once the lock is gone = %v; want nil", err)
	}
	if !strings.Contains(out.String(), "is at schema version") {
		t.Errorf("migrate printed %q; want the schema version", out.String())
	}
}

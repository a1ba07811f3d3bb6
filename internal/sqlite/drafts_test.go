package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/sqlite"
)

// The schema bounds a draft too, whatever writes it. (How drafts are kept
// and taken is the conformance suite's: internal/storetest/drafts.go.)
func TestTheSchemaRefusesAnOversizedDraft(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "rolegate.db")
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	limits := rolegate.SessionLimits{Idle: time.Hour, Absolute: time.Hour}
	if _, _, err := sqlite.NewSessions(db).CreateSession(ctx, rolegate.System("test"), rolegate.SessionAuth{}, limits, ""); err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.ExecContext(ctx, `UPDATE sessions SET draft = ?`, strings.Repeat("x", rolegate.MaxDraftBytes+1)); err == nil {
		t.Errorf("the schema stored a draft of MaxDraftBytes+1 bytes; want a CHECK failure")
	}
	if _, err := raw.ExecContext(ctx, `UPDATE sessions SET draft_path = ?`, "/"+strings.Repeat("p", 200)); err == nil {
		t.Errorf("the schema stored a draft path of 201 bytes; want a CHECK failure")
	}
}

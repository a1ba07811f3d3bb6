package postgres_test

import (
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/pgtest"
	"github.com/rolegate/rolegate/internal/postgres"
	"github.com/rolegate/rolegate/internal/rolegate"
)

// The schema bounds a draft too, whatever writes it. (How drafts are kept
// and taken is the conformance suite's: internal/storetest/drafts.go.)
func TestTheSchemaRefusesAnOversizedDraft(t *testing.T) {
	url := pgtest.NewDatabase(t)
	db := open(t, url)
	limits := rolegate.SessionLimits{Idle: time.Hour, Absolute: time.Hour}
	if _, _, err := postgres.NewSessions(db).CreateSession(t.Context(), rolegate.System("test"), rolegate.SessionAuth{}, limits, ""); err != nil {
		t.Fatal(err)
	}
	raw := connect(t, url)
	if _, err := raw.Exec(t.Context(), `UPDATE sessions SET draft = $1`, strings.Repeat("x", rolegate.MaxDraftBytes+1)); err == nil {
		t.Errorf("the schema stored a draft of MaxDraftBytes+1 bytes; want a CHECK failure")
	}
	if _, err := raw.Exec(t.Context(), `UPDATE sessions SET draft_path = $1`, "/"+strings.Repeat("p", 200)); err == nil {
		t.Errorf("the schema stored a draft path of 201 bytes; want a CHECK failure")
	}
}

package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A setting that cannot work stops the start with one line that names it
// (main prints it after "rolegate: " and exits 1), and nothing is served.
func TestStartRefusalNamesTheSetting(t *testing.T) {
	dir := t.TempDir()
	notADB := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notADB, []byte("this is not a database, and it is long enough to have a header to read"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"not a database", []string{"-dev", "-db", notADB}, nil, "ROLEGATE_DB: "},
		{"database folder cannot be made", []string{"-dev", "-db", filepath.Join(notADB, "sub", "rolegate.db")}, nil, "ROLEGATE_DB: "},
		{"approvals not a number", []string{"-dev", "-db", filepath.Join(dir, "a.db")}, map[string]string{"ROLEGATE_REQUIRED_APPROVALS": "two"}, "ROLEGATE_REQUIRED_APPROVALS: "},
		{"no issuer outside dev mode", []string{"-db", filepath.Join(dir, "b.db")}, nil, "ROLEGATE_OIDC_ISSUER: "},
		{"unknown re-authentication mode", []string{"-dev", "-db", filepath.Join(dir, "d.db")}, map[string]string{"ROLEGATE_APPROVE_REAUTH": "sometimes"}, "ROLEGATE_APPROVE_REAUTH: "},
		{"address not host:port", []string{"-dev", "-db", filepath.Join(dir, "c.db"), "-addr", "127.0.0.1:http-alt-no"}, nil, "ROLEGATE_ADDR: "},
		{"dev mode with a real key, not asked for", []string{"-dev", "-db", filepath.Join(dir, "d.db")},
			map[string]string{"OPENAI_ADMIN_KEY": "sk-admin-left-in-the-shell", "OPENAI_BASE_URL": "https://admin.example.com/v1"}, "ROLEGATE_DEV_REAL_UPSTREAM: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), append([]string{"serve"}, tt.args...), env(tt.env), &stdout, &stderr)
			if err == nil {
				t.Fatalf("serve %q started; want a refusal naming %s", tt.args, tt.want)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) || strings.Contains(msg, "\n") {
				t.Errorf("serve %q = %q; want one line containing %q", tt.args, msg, tt.want)
			}
			if strings.Contains(msg+stderr.String()+stdout.String(), "sk-admin-left-in-the-shell") {
				t.Errorf("serve %q shows the admin key", tt.args)
			}
			if strings.Contains(stderr.String(), "rolegate started") {
				t.Errorf("serve %q logged a start before refusing", tt.args)
			}
		})
	}
}

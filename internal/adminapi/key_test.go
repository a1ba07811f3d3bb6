package adminapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/adminapi"
)

func TestStaticKey(t *testing.T) {
	k := adminapi.StaticKey("sk-admin-static-1234567890")
	if got, err := k.Key(); err != nil || got != "sk-admin-static-1234567890" {
		t.Errorf("Key() = %q, %v", got, err)
	}
	for _, format := range []string{"%v", "%s", "%+v", "%#v", "%q"} {
		if out := fmt.Sprintf(format, k); strings.Contains(out, "static") {
			t.Errorf("Sprintf(%q, key) = %s; want the key hidden", format, out)
		}
	}
	if _, err := adminapi.StaticKey(" ").Key(); err == nil {
		t.Error("a blank static key was accepted")
	}
}

func writeKeyFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestFileKeyReadsOneTrimmedKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "key")
	writeKeyFile(t, path, "\n  sk-admin-from-file-123456 \r\n")
	if got, err := adminapi.FileKey(path).Key(); err != nil || got != "sk-admin-from-file-123456" {
		t.Errorf("Key() = %q, %v; want the key without surrounding whitespace", got, err)
	}
}

func TestFileKeyErrorsNeverQuoteTheFile(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, content string
	}{
		{"empty", ""},
		{"only whitespace", " \n\t\n"},
		{"two lines", "sk-admin-first-secret\nsk-admin-second-secret\n"},
		{"key and a comment", "sk-admin-first-secret # prod"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
			writeKeyFile(t, path, tc.content)
			_, err := adminapi.FileKey(path).Key()
			if err == nil {
				t.Fatal("Key() succeeded; want an error")
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error quotes the file: %v", err)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
	if _, err := adminapi.FileKey(filepath.Join(dir, "missing")).Key(); err == nil {
		t.Error("a missing file gave a key")
	}
}

func TestFileKeyFollowsTheFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "key")
	k := adminapi.FileKey(path)
	want := func(key string) {
		t.Helper()
		if got, err := k.Key(); err != nil || got != key {
			t.Errorf("Key() = %q, %v; want %q", got, err, key)
		}
	}

	writeKeyFile(t, path, "sk-admin-one-1111")
	want("sk-admin-one-1111")

	// Rewritten in place, same size, and the clock of a coarse filesystem
	// not moving: the write is still seen, because a file this fresh is
	// never trusted from cache.
	st, _ := os.Stat(path)
	writeKeyFile(t, path, "sk-admin-two-2222")
	if err := os.Chtimes(path, st.ModTime(), st.ModTime()); err != nil {
		t.Fatal(err)
	}
	want("sk-admin-two-2222")

	// Replaced by rename, as secret mounts and editors do.
	tmp := filepath.Join(dir, "key.new")
	writeKeyFile(t, tmp, "sk-admin-three-3333")
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	want("sk-admin-three-3333")

	// An old file is read once, then served from cache while it stays put.
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	want("sk-admin-three-3333")
	want("sk-admin-three-3333")

	// A file that disappears is an error, not the last key it held.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if got, err := k.Key(); err == nil || got != "" {
		t.Errorf("Key() after removal = %q, %v; want an error", got, err)
	}
}

// A static key never shows in fmt, slog (text or JSON) or JSON.
func TestStaticKeyHidesItselfEverywhere(t *testing.T) {
	const secret = "sk-admin-must-not-print"
	k := adminapi.StaticKey(secret)
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "key", k)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "key", k)
	j, _ := json.Marshal(struct{ K adminapi.StaticKey }{k})
	for _, out := range []string{fmt.Sprint(k), fmt.Sprintf("%v %s %#v %+v", k, k, k, k), buf.String(), string(j)} {
		if strings.Contains(out, secret) {
			t.Errorf("output reveals the key: %s", out)
		}
	}
}

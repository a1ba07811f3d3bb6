package adminapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"
)

// KeySource gives the admin key for one call. It is asked on every call,
// so a rotated key is used from the next call on, without a restart.
// Errors must never contain the key.
type KeySource interface {
	Key() (string, error)
}

// StaticKey is a key fixed at start-up.
type StaticKey string

// Key implements KeySource.
func (k StaticKey) Key() (string, error) {
	if strings.TrimSpace(string(k)) == "" {
		return "", errors.New("adminapi: the admin key is empty")
	}
	return string(k), nil
}

// String keeps the key out of logs that format a StaticKey with %v or %s.
func (StaticKey) String() string { return Redacted }

// GoString keeps the key out of %#v.
func (StaticKey) GoString() string { return Redacted }

// LogValue keeps the key out of slog, whose JSON handler would otherwise
// write the underlying string.
func (StaticKey) LogValue() slog.Value { return slog.StringValue(Redacted) }

// MarshalJSON keeps the key out of anything encoded as JSON.
func (StaticKey) MarshalJSON() ([]byte, error) { return json.Marshal(Redacted) }

// FileKey reads the key from a file (OPENAI_ADMIN_KEY_FILE), trimmed of
// surrounding whitespace, and reads it again whenever the file changes.
func FileKey(path string) KeySource {
	return &fileKey{path: path}
}

// racyWindow covers coarse file timestamps: a file changed within this long
// before we read it could change again without its mtime moving, so we do
// not trust the cache until the file is older than that (as Git does with
// its "racily clean" index entries).
const racyWindow = 2 * time.Second

type fileKey struct {
	path string

	mu     sync.Mutex
	key    string
	stat   os.FileInfo
	readAt time.Time
}

// Key implements KeySource. A stat per call is the whole cost while the
// file stays the same.
func (f *fileKey) Key() (string, error) {
	st, err := os.Stat(f.path)
	if err != nil {
		return "", fmt.Errorf("adminapi: admin key file: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.key != "" && f.unchanged(st) {
		return f.key, nil
	}

	readAt := time.Now()
	data, err := os.ReadFile(f.path)
	if err != nil {
		return "", fmt.Errorf("adminapi: admin key file: %w", err)
	}
	key := strings.TrimSpace(string(data))
	if key == "" {
		return "", fmt.Errorf("adminapi: admin key file %s is empty", f.path)
	}
	if strings.ContainsAny(key, " \t\r\n") {
		// Never quote the content: it is (or holds) the secret.
		return "", fmt.Errorf("adminapi: admin key file %s must hold one key and nothing else", f.path)
	}
	f.key, f.stat, f.readAt = key, st, readAt
	return key, nil
}

func (f *fileKey) unchanged(st os.FileInfo) bool {
	return os.SameFile(st, f.stat) &&
		st.Size() == f.stat.Size() &&
		st.ModTime().Equal(f.stat.ModTime()) &&
		st.ModTime().Before(f.readAt.Add(-racyWindow))
}

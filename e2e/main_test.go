// Package e2e proves rolegate's journeys end to end in a real browser: the
// real binary, built once from this module, started as a subprocess for each
// test against a real OpenID Connect provider (internal/sso/ssotest) and the
// Admin API simulator, both running in the test process, and driven through
// Debian's Chromium with chromedp. People find everything by its visible
// words (link, label and button texts, status words), as a person would,
// never by markup.
//
// The journeys need Chromium at /usr/bin/chromium (E2E_CHROMIUM names
// another). Without it they fail: CI (.ci/run) installs it. go test -short
// skips them (testkit.NeedsBrowser), for the fast lane of development. On
// failure each open page's screenshot and HTML, and the portal's log, are
// saved under E2E_ARTIFACTS (a fresh temporary folder when unset); the test
// log names the folder. E2E_ROLEGATE_BIN runs a binary built beforehand instead of
// building one. E2E_POSTGRES=1 runs every portal on a database of its own in
// a throwaway PostgreSQL cluster (internal/pgtest) instead of a SQLite file.
package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rolegate/rolegate/internal/pgtest"
)

// build is the rolegate binary under test, built once for the whole package.
var build struct {
	once sync.Once
	dir  string // holds the binary; removed by TestMain
	bin  string
	err  error
}

func TestMain(m *testing.M) {
	// pgtest starts its throwaway PostgreSQL only when a journey asks for
	// it (E2E_POSTGRES=1), and stops it after the tests.
	code := pgtest.Main(m)
	if testing.Verbose() {
		fmt.Println(axeTime.String())
	}
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
	os.Exit(code)
}

// rolegateBinary returns the path of the binary built from this module's
// ./cmd/rolegate (with -race when the tests have it), building it on first
// use; E2E_ROLEGATE_BIN names a binary built beforehand instead.
func rolegateBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("E2E_ROLEGATE_BIN"); bin != "" {
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("e2e: E2E_ROLEGATE_BIN: %v", err)
		}
		return bin
	}
	build.once.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			build.err = err
			return
		}
		build.dir, err = os.MkdirTemp("", "rolegate-e2e-bin-")
		if err != nil {
			build.err = err
			return
		}
		bin := filepath.Join(build.dir, "rolegate")
		args := []string{"build", "-o", bin}
		if raceEnabled {
			args = append(args, "-race")
		}
		cmd := exec.Command("go", append(args, "./cmd/rolegate")...)
		cmd.Dir = root
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			build.err = fmt.Errorf("go build ./cmd/rolegate in %s: %v\n%s", root, err, out.String())
			return
		}
		build.bin = bin
	})
	if build.err != nil {
		t.Fatalf("e2e: cannot build the binary under test: %v", build.err)
	}
	return build.bin
}

// moduleRoot is the folder holding this module's go.mod.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("go env GOMOD: not inside a module (got %q)", gomod)
	}
	return filepath.Dir(gomod), nil
}

// chromiumPath is Debian's Chromium, or E2E_CHROMIUM when set. A missing
// browser fails the test with the way to install it: the journeys are part
// of the README's test command and must not silently vanish.
func chromiumPath(t *testing.T) string {
	t.Helper()
	path := os.Getenv("E2E_CHROMIUM")
	if path == "" {
		path = "/usr/bin/chromium"
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("e2e: Chromium not found at %s (%v). The end-to-end journeys need Debian's Chromium: "+
			"apt-get install -y chromium (.ci/run installs it), or set E2E_CHROMIUM to a Chromium binary.", path, err)
	}
	return path
}

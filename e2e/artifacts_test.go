package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// saveArtifactsIfFailed saves the current page's screenshot and HTML when
// the test failed.
func (pe *person) saveArtifactsIfFailed() {
	if pe.t.Failed() {
		pe.saveArtifacts("at-the-end")
	}
}

func (pe *person) saveArtifacts(label string) {
	t := pe.t
	dir := artifactDir(t)
	if dir == "" {
		return
	}
	pe.mu.Lock()
	pe.shots++
	base := filepath.Join(dir, fmt.Sprintf("%s-%02d-%s", fileSafe(pe.name), pe.shots, fileSafe(label)))
	pe.mu.Unlock()
	ctx, cancel := context.WithTimeout(pe.ctx, 5*time.Second)
	defer cancel()
	var saved []string
	if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err != nil {
		t.Logf("%s: no screenshot: %v", pe.name, err)
	} else if err := os.WriteFile(base+".png", png, 0o644); err == nil {
		saved = append(saved, base+".png")
	}
	if html, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`)); err != nil {
		t.Logf("%s: no HTML: %v", pe.name, err)
	} else if err := os.WriteFile(base+".html", []byte(html), 0o644); err == nil {
		saved = append(saved, base+".html")
	}
	if len(saved) > 0 {
		t.Logf("%s's page (%s) is saved as %s", pe.name, pe.location(), strings.Join(saved, " and "))
	}
}

// artifactDir is where a failed test's evidence goes: E2E_ARTIFACTS (CI
// prints it) or a new temporary folder, one subfolder per test.
func artifactDir(t *testing.T) string {
	root := os.Getenv("E2E_ARTIFACTS")
	if root == "" {
		artifacts.once.Do(func() { artifacts.root, artifacts.err = os.MkdirTemp("", "rolegate-e2e-artifacts-") })
		if artifacts.err != nil {
			t.Logf("no folder for the failure's screenshots: %v", artifacts.err)
			return ""
		}
		root = artifacts.root
	}
	dir := filepath.Join(root, fileSafe(t.Name()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Logf("no folder for the failure's screenshots: %v", err)
		return ""
	}
	return dir
}

var artifacts struct {
	once sync.Once
	root string
	err  error
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func fileSafe(s string) string { return strings.Trim(unsafeChars.ReplaceAllString(s, "-"), "-") }

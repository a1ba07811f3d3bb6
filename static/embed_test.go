package static

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

// The embedded htmx is the published file, unchanged: an edit, a wrong
// download or a name that says another version fails here.
func TestTheEmbeddedHTMXIsThePinnedRelease(t *testing.T) {
	const (
		version = "2.0.11"
		// sha256 of dist/htmx.min.js in `npm pack htmx.org@2.0.11` (whose
		// tarball matches the registry's sha512 integrity).
		sum = "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717"
	)
	if want := "htmx-" + version + ".min.js"; HTMX != want {
		t.Fatalf("HTMX = %q; want %q", HTMX, want)
	}
	body, err := files.ReadFile(HTMX)
	if err != nil {
		t.Fatalf("read %s: %v", HTMX, err)
	}
	if got := sha256.Sum256(body); hex.EncodeToString(got[:]) != sum {
		t.Errorf("sha256(%s) = %x; want %s", HTMX, got, sum)
	}
	if !strings.Contains(string(body), `version:"`+version+`"`) {
		t.Errorf("%s does not call itself version %s", HTMX, version)
	}
	a, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if u := a.URL(HTMX); !strings.HasPrefix(u, "/static/htmx-"+version+".min.") || !strings.HasSuffix(u, ".js") {
		t.Errorf("URL(%q) = %q; want a fingerprinted /static/htmx-%s.min.<hash>.js", HTMX, u, version)
	}
}

package sso

import (
	"net/url"
	"strings"
)

// maxReturnPath bounds a return path; anything longer is not a link a person
// followed inside the portal.
const maxReturnPath = 2048

// SafeReturnPath returns p when it is a path on the portal's own origin
// ("/requests/12?x=1") and "/" otherwise. It is the only way a return
// address should reach a Location header: everything a browser could read
// as another origin ("//evil", "/\evil", "http://…", "/\t/evil", percent-
// encoded variants of those) and anything with control characters,
// non-ASCII bytes or dot segments is refused rather than repaired.
func SafeReturnPath(p string) string {
	if !isSafeReturnPath(p) {
		return "/"
	}
	return p
}

func isSafeReturnPath(p string) bool {
	if p == "" || len(p) > maxReturnPath || p[0] != '/' {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		// Browsers strip tabs and newlines inside URLs and treat '\' as '/',
		// which turns "/\t/evil" and "/\evil" into "//evil". A raw space or
		// non-ASCII byte never appears in a path the portal generated.
		if c <= ' ' || c == 0x7f || c == '\\' || c >= 0x80 {
			return false
		}
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return false
	}
	rawPath, _, _ := strings.Cut(p, "?")
	rawPath, _, _ = strings.Cut(rawPath, "#")
	// u.Path is the decoded path: a later hop that decodes "%2F" or "%5C"
	// must not see "//" or "\" either.
	for _, path := range []string{rawPath, u.Path} {
		if strings.Contains(path, "//") || strings.ContainsAny(path, "\\") {
			return false
		}
		for _, r := range path {
			if r < ' ' || r == 0x7f {
				return false
			}
		}
		for seg := range strings.SplitSeq(path, "/") {
			if seg == "." || seg == ".." {
				return false
			}
		}
	}
	return true
}

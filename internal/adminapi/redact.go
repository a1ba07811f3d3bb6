package adminapi

import (
	"regexp"
	"strings"
)

// Redacted replaces a secret in anything that leaves this package.
const Redacted = "[redacted]"

var (
	// bearerToken catches a credential copied from an Authorization header.
	bearerToken = regexp.MustCompile(`(?i)\bbearer\s+[^\s"',;]+`)
	// secretKey catches OpenAI-style keys, whole or masked (sk-admin-****abcd,
	// sk-proj-…), which upstream echoes in some error messages.
	secretKey = regexp.MustCompile(`\bsk-[A-Za-z0-9*_-]{4,}`)
)

// Redact returns s with key, and anything that looks like a bearer token or
// an OpenAI secret key, replaced by [redacted]. Every message that leaves
// the package passes through it, because upstream messages can echo keys.
func Redact(s, key string) string {
	if key != "" {
		s = strings.ReplaceAll(s, key, Redacted)
	}
	s = bearerToken.ReplaceAllString(s, "Bearer "+Redacted)
	return secretKey.ReplaceAllString(s, Redacted)
}

package metrics

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// RequireBearer serves h only to a request carrying "Authorization: Bearer
// <token>": the scraper's. Anything else gets 401 and nothing of h. The
// comparison is of SHA-256 digests in constant time, so neither the
// token's bytes nor its length can be timed out of it.
func RequireBearer(token string, h http.Handler) http.Handler {
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !bearerMatches(r, want) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="rolegate metrics"`)
			w.Header().Set("Cache-Control", "no-store")
			http.Error(w, "metrics are for the scraper: send its bearer token", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// bearerMatches reports whether r carries the bearer token whose SHA-256
// is want.
func bearerMatches(r *http.Request, want [sha256.Size]byte) bool {
	scheme, got, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
	return subtle.ConstantTimeCompare(sum[:], want[:]) == 1
}

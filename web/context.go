package web

import (
	"github.com/rolegate/rolegate/internal/rolegate"

	"context"
)

// Typed context helpers: per-request data rides on the request's context,
// never on a shared struct.
type ctxKey int

const (
	sessionKey ctxKey = iota
	sessionTokenKey
	requestIDKey
	routeKey
)

func withSession(ctx context.Context, s *rolegate.Session, token string) context.Context {
	ctx = context.WithValue(ctx, sessionKey, s)
	return context.WithValue(ctx, sessionTokenKey, token)
}

// sessionFrom returns the signed-in session, or nil.
func sessionFrom(ctx context.Context) *rolegate.Session {
	s, _ := ctx.Value(sessionKey).(*rolegate.Session)
	return s
}

func sessionTokenFrom(ctx context.Context) string {
	t, _ := ctx.Value(sessionTokenKey).(string)
	return t
}

func withRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey, id)
}

func requestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// withRoute records the matched route's table entry (routeFacts).
func withRoute(ctx context.Context, r Route) context.Context {
	return context.WithValue(ctx, routeKey, r)
}

// routeFrom returns the matched route's table entry; false when the
// request matched no route.
func routeFrom(ctx context.Context) (Route, bool) {
	r, ok := ctx.Value(routeKey).(Route)
	return r, ok
}

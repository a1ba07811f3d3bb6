package notify

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode"
)

// deliveryError is a failed attempt as the worker sees it: a message fit for
// the audit trail (no secret, no webhook URL), and whether trying again can
// help.
type deliveryError struct {
	msg        string
	permanent  bool
	retryAfter time.Duration // the receiver asked to wait this long (HTTP 429/503)
}

func (e *deliveryError) Error() string { return e.msg }

func temporaryf(format string, args ...any) error {
	return &deliveryError{msg: fmt.Sprintf(format, args...)}
}

func permanentf(format string, args ...any) error {
	return &deliveryError{msg: fmt.Sprintf(format, args...), permanent: true}
}

// classify returns err as a deliveryError; an unknown error is temporary.
func classify(err error) *deliveryError {
	var de *deliveryError
	if errors.As(err, &de) {
		return de
	}
	return &deliveryError{msg: err.Error()}
}

// redactor removes secrets from text bound for logs and the audit trail.
type redactor []string

func (r redactor) clean(s string) string {
	for _, secret := range r {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, "[redacted]")
		}
	}
	return oneLine(s, 300)
}

// netError describes a transport error without the URL it was for: a
// webhook URL often embeds its own secret, and *url.Error prints it.
func netError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err.Error()
}

// oneLine makes s a single line of at most n runes, control characters
// replaced by spaces.
func oneLine(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		s = string(r[:n-1]) + "…"
	}
	return s
}

package rolegate

import (
	"errors"
	"fmt"
)

// Error codes. They are mapped to HTTP statuses in exactly one place (web).
const (
	ECONFLICT     = "conflict"     // the action no longer applies (state changed)
	EFORBIDDEN    = "forbidden"    // the person may not do this
	EINTERNAL     = "internal"     // a bug or an unavailable dependency
	EINVALID      = "invalid"      // bad input; Message says what
	ENOTFOUND     = "not_found"    // no such thing (or not visible to the person)
	EUNAUTHORIZED = "unauthorized" // not signed in
	ETOOMANY      = "too_many"     // rate limited
	EUNAVAILABLE  = "unavailable"  // an upstream is down; try again later
)

// Error is the domain's error: a code for the program and a plain message for
// the person. Internal details stay in wrapped errors and logs.
type Error struct {
	Code    string
	Message string
	// Fields holds per-field messages for EINVALID errors from a form.
	Fields FieldErrors
}

func (e *Error) Error() string { return fmt.Sprintf("rolegate: %s: %s", e.Code, e.Message) }

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL
// for any other error, and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	default:
		return EINTERNAL
	}
}

// ErrorMessage returns the person-facing message of err; an error that is
// not an *Error gets a generic message so that no detail leaks.
func ErrorMessage(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Message
	default:
		return "Something went wrong on our side. It has been logged; please try again."
	}
}

// Invalid returns an EINVALID error carrying per-field messages.
func Invalid(fields FieldErrors) *Error {
	return &Error{Code: EINVALID, Message: "Please correct the marked fields.", Fields: fields}
}

// ErrorFields returns the per-field messages of err, if any.
func ErrorFields(err error) FieldErrors {
	var e *Error
	if errors.As(err, &e) {
		return e.Fields
	}
	return nil
}

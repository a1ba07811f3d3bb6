package views

import (
	"context"
	"io"
	"time"

	"github.com/a-h/templ"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// text writes s escaped, as `{ s }` does, for `@text(s)`: templ's code for
// `{ s }` passes every value through fmt.Sprint (templ.JoinStringErrs),
// two allocations each time, about a quarter of a request page's
// allocations (docs/PERFORMANCE.md); text is a string whose Render the
// generated code calls directly, with none. The bytes written are the
// same.
type text string

func (t text) Render(_ context.Context, w io.Writer) error {
	_, err := io.WriteString(w, templ.EscapeString(string(t)))
	return err
}

// When is a time as a <time> element: UTC in the page (correct without
// JavaScript), turned to the viewer's time zone by rolegate.js with the
// UTC time kept on hover; nothing for the zero time. It writes what the
// template
//
//	<time datetime={ t.UTC().Format(time.RFC3339) } title={ when(t) } data-local>{ when(t) }</time>
//
// wrote, without its component, context and strings on every time of
// every page: digits, dashes, colons, "T", "Z" and " UTC" need no
// escaping.
func When(t time.Time) whenElement { return whenElement{t} }

type whenElement struct{ t time.Time }

func (w whenElement) Render(_ context.Context, out io.Writer) error {
	if w.t.IsZero() {
		return nil
	}
	var buf [128]byte
	b := append(buf[:0], `<time datetime="`...)
	b = w.t.UTC().AppendFormat(b, time.RFC3339)
	b = append(b, `" title="`...)
	b = rolegate.AppendTime(b, w.t)
	b = append(b, `" data-local>`...)
	b = rolegate.AppendTime(b, w.t)
	b = append(b, `</time>`...)
	_, err := out.Write(b)
	return err
}

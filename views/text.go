package views

import (
	"context"
	"io"

	"github.com/a-h/templ"
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

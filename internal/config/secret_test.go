package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// A secret stays hidden however the configuration, or the secret alone, is
// printed: fmt's verbs (%#v included), slog's text and JSON handlers (JSON
// is the production format, and it marshals values rather than asking
// String), and encoding/json.
func TestSecretsNeverPrint(t *testing.T) {
	c, err := load(t, production(t))
	if err != nil {
		t.Fatal(err)
	}
	c.SMTPPassword, c.WebhookSecret = "smtp-password-value", "webhook-secret-value"
	secrets := []string{"client-secret-value", "sk-admin-secret", "smtp-password-value", "webhook-secret-value"}

	var logs bytes.Buffer
	for _, h := range []slog.Handler{slog.NewJSONHandler(&logs, nil), slog.NewTextHandler(&logs, nil)} {
		slog.New(h).Info("configuration", "config", c, "secret", c.AdminKey, "secret_ptr", &c.AdminKey)
	}
	asJSON, err := json.Marshal(c)
	if err != nil {
		t.Fatalf("json.Marshal(config) = %v", err)
	}
	outputs := map[string]string{
		"fmt %v":  fmt.Sprintf("%v", c),
		"fmt %+v": fmt.Sprintf("%+v", c),
		"fmt %#v": fmt.Sprintf("%#v", c),
		"fmt %s":  fmt.Sprintf("%s", c.AdminKey),
		"fmt %q":  fmt.Sprintf("%q", c.AdminKey),
		"slog":    logs.String(),
		"json":    string(asJSON),
	}
	for how, out := range outputs {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("%s printed the secret %q:\n%s", how, s, out)
			}
		}
	}
	if got := Secret("").String(); got != "" {
		t.Errorf("Secret(\"\").String() = %q; want \"\" (an unset secret says so)", got)
	}
	if got := c.AdminKey.Reveal(); got != "sk-admin-secret" {
		t.Errorf("Reveal() = %q; want the value", got)
	}
}

package web_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/rolegate/rolegate/internal/metrics"
)

// /metrics on the portal's listener, by configuration: readable by the
// scraper only (its bearer token), never by a person however signed in;
// off when the metrics have a listener of their own, and off outside dev
// mode when nothing protects them.
func TestMetricsOnThePortalAreForTheScraperOnly(t *testing.T) {
	const token = "web-metrics-token-0123456789abcdef0123456789abcdef"
	ask := func(h *harness, b *browser, bearer string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, h.URL+"/metrics", nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		res, err := b.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var sb strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := res.Body.Read(buf)
			sb.Write(buf[:n])
			if err != nil {
				break
			}
		}
		return res.StatusCode, sb.String()
	}
	production := map[string]string{ // no dev mode, no dev sign-in
		"ROLEGATE_DEV": "0", "ROLEGATE_OIDC_ISSUER": "https://idp.example.test", "ROLEGATE_OIDC_CLIENT_ID": "rolegate",
		"ROLEGATE_OIDC_CLIENT_SECRET": "secret", "ROLEGATE_APPROVER_GROUPS": "approvers", "OPENAI_ADMIN_KEY": testAdminKey,
	}
	tests := []struct {
		name string
		env  map[string]string
		// signed-in people (dev mode), each with their session and no token
		people bool
		// anonymous, a signed-in person, a wrong token, the scraper's token
		wantAnon, wantPerson, wantWrong, wantScraper int
	}{
		{"token", map[string]string{"ROLEGATE_METRICS_TOKEN": token}, true,
			http.StatusUnauthorized, http.StatusUnauthorized, http.StatusUnauthorized, http.StatusOK},
		{"own listener", map[string]string{"ROLEGATE_METRICS_ADDR": "127.0.0.1:9090", "ROLEGATE_METRICS_TOKEN": token}, true,
			http.StatusNotFound, http.StatusNotFound, http.StatusNotFound, http.StatusNotFound},
		{"dev mode, nothing set", nil, true,
			http.StatusOK, http.StatusOK, http.StatusOK, http.StatusOK},
		{"production, nothing set", production, false,
			http.StatusNotFound, 0, http.StatusNotFound, http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{Env: tt.env, Metrics: metrics.New(metrics.Options{})})
			cases := []struct {
				who    string
				b      *browser
				bearer string
				want   int
			}{
				{"anonymous", h.newBrowser(), "", tt.wantAnon},
				{"a wrong token", h.newBrowser(), "x" + token, tt.wantWrong},
				{"the scraper", h.newBrowser(), token, tt.wantScraper},
			}
			if tt.people {
				for _, persona := range []string{"requester", "auditor", "admin"} {
					cases = append(cases, struct {
						who    string
						b      *browser
						bearer string
						want   int
					}{"signed in as " + persona, h.signInAs(persona), "", tt.wantPerson})
				}
			}
			for _, c := range cases {
				code, body := ask(h, c.b, c.bearer)
				if code != c.want {
					t.Errorf("GET /metrics as %s = %d; want %d", c.who, code, c.want)
				}
				if code != http.StatusOK && strings.Contains(body, "rolegate_") {
					t.Errorf("GET /metrics as %s refused, yet shows metrics", c.who)
				}
			}
		})
	}
}

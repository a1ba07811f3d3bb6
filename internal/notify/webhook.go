package notify

import (
	"github.com/rolegate/rolegate/internal/rolegate"

	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Webhook body formats (ROLEGATE_WEBHOOK_FORMAT).
const (
	FormatJSON  = "json"
	FormatSlack = "slack"
	FormatTeams = "teams"
)

// WebhookConfig configures the outgoing webhooks.
type WebhookConfig struct {
	URLs   []string
	Format string // json (default), slack or teams
	Secret string // HMAC key of X-Rolegate-Signature
	// Client sends the POSTs; the default times out after 15 s and follows
	// no redirect (a receiver that moved must be configured again).
	Client *http.Client
	// Now is the clock of the signature timestamps (tests).
	Now func() time.Time
}

// Webhooks posts notifications to the configured URLs.
type Webhooks struct {
	cfg     WebhookConfig
	urls    map[string]string // target id → URL
	targets []rolegate.WebhookTarget
	redact  redactor
}

// NewWebhooks checks cfg and returns the webhooks.
func NewWebhooks(cfg WebhookConfig) (*Webhooks, error) {
	if cfg.Format == "" {
		cfg.Format = FormatJSON
	}
	switch cfg.Format {
	case FormatJSON, FormatSlack, FormatTeams:
	default:
		return nil, fmt.Errorf("notify: webhook format must be json, slack or teams, got %q", cfg.Format)
	}
	if cfg.Secret == "" {
		return nil, errors.New("notify: webhooks need a signing secret")
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{
			Timeout:       15 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	w := &Webhooks{cfg: cfg, urls: map[string]string{}, redact: redactor{cfg.Secret}}
	for _, raw := range cfg.URLs {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, errors.New("notify: each webhook must be an absolute http(s) URL")
		}
		sum := sha256.Sum256([]byte(raw))
		id := "webhook:" + hex.EncodeToString(sum[:8])
		if _, dup := w.urls[id]; dup {
			continue
		}
		w.urls[id] = raw
		w.redact = append(w.redact, raw)
		// The path and query are where webhook secrets live (Slack's
		// /services/T…/B…/…); short ones are too common to mask.
		for _, part := range []string{u.EscapedPath(), u.RawQuery} {
			if len(part) >= 12 {
				w.redact = append(w.redact, part)
			}
		}
		w.targets = append(w.targets, rolegate.WebhookTarget{
			ID:    id,
			Label: fmt.Sprintf("webhook %s://%s (%s)", u.Scheme, u.Host, id[len("webhook:"):len("webhook:")+8]),
		})
	}
	return w, nil
}

// Targets names the webhooks for the queue, without their URLs.
func (w *Webhooks) Targets() []rolegate.WebhookTarget { return w.targets }

// Post delivers notification n (its facts already limited to what a channel
// may see) to its webhook, signed. deliveryID lets receivers drop a repeat:
// delivery is at least once.
func (w *Webhooks) Post(ctx context.Context, n *rolegate.Notification, link string) error {
	target, ok := w.urls[n.Recipient]
	if !ok {
		return permanentf("this webhook is no longer configured")
	}
	body, err := WebhookBody(w.cfg.Format, n.Facts, link)
	if err != nil {
		return permanentf("build the webhook body: %v", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return permanentf("build the webhook request: %s", w.redact.clean(netError(err)))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "rolegate-notifier")
	req.Header.Set("X-Rolegate-Event", n.Facts.Event)
	req.Header.Set("X-Rolegate-Delivery", strconv.FormatInt(n.ID, 10))
	req.Header.Set(SignatureHeader, Sign([]byte(w.cfg.Secret), w.cfg.Now(), body))
	res, err := w.cfg.Client.Do(req)
	if err != nil {
		return temporaryf("POST failed: %s", w.redact.clean(netError(err)))
	}
	defer res.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(res.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	if res.StatusCode >= 200 && res.StatusCode < 300 {
		return nil
	}
	msg := fmt.Sprintf("the receiver answered %d", res.StatusCode)
	if s := w.redact.clean(oneLine(string(snippet), 200)); s != "" {
		msg += ": " + s
	}
	switch {
	case res.StatusCode == http.StatusTooManyRequests || res.StatusCode == http.StatusServiceUnavailable:
		return &deliveryError{msg: msg, retryAfter: retryAfter(res.Header.Get("Retry-After"), w.cfg.Now())}
	case res.StatusCode >= 500 || res.StatusCode == http.StatusRequestTimeout || res.StatusCode == http.StatusTooEarly:
		return &deliveryError{msg: msg}
	case res.StatusCode >= 300 && res.StatusCode < 400:
		return permanentf("%s (redirects are not followed; configure the final URL)", msg)
	default:
		return &deliveryError{msg: msg, permanent: true}
	}
}

// retryAfter reads a Retry-After header (seconds or an HTTP date).
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// jsonBody is the `json` format, exactly as receivers are promised it
// (README, Notifications): renaming a field breaks them.
type jsonBody struct {
	Event   string      `json:"event"`
	Request jsonRequest `json:"request"`
	Actor   jsonActor   `json:"actor"`
	At      string      `json:"at"`
}

type jsonRequest struct {
	ID       int64  `json:"id"`
	RoleName string `json:"role_name"`
	Status   string `json:"status"`
	URL      string `json:"url"`
	// Scope is "organization" or the project's id, named by ScopeName.
	Scope     string `json:"scope,omitempty"`
	ScopeName string `json:"scope_name,omitempty"`
}

type jsonActor struct {
	Name  string `json:"name"`
	Email string `json:"email"`
}

// WebhookBody renders the facts in format. encoding/json escapes <, > and &
// as \u003c, \u003e and \u0026, so hostile text stays inert even in a
// receiver that pastes the body into a page.
func WebhookBody(format string, f rolegate.NotificationFacts, link string) ([]byte, error) {
	switch format {
	case FormatJSON, "":
		return json.Marshal(jsonBody{
			Event:   f.Event,
			Request: jsonRequest{ID: f.RequestID, RoleName: f.RoleName, Status: string(f.Status), URL: link, Scope: f.Scope, ScopeName: f.ScopeName},
			Actor:   jsonActor{Name: f.Actor.Name, Email: f.Actor.Email},
			At:      f.At.UTC().Format(time.RFC3339),
		})
	case FormatSlack:
		// Slack (and Mattermost, Rocket.Chat) incoming webhooks: mrkdwn text
		// where only &, < and > must be escaped; <url|text> is a link.
		text := fmt.Sprintf("%s <%s|Open request #%d in rolegate>", slackEscape(webhookSentence(f)), link, f.RequestID)
		return json.Marshal(map[string]any{
			"text": text,
			"blocks": []any{map[string]any{
				"type": "section",
				"text": map[string]any{"type": "mrkdwn", "text": text},
			}},
		})
	case FormatTeams:
		// Teams incoming webhooks and Workflows: a message with an Adaptive
		// Card; the link is a button.
		return json.Marshal(map[string]any{
			"type": "message",
			"attachments": []any{map[string]any{
				"contentType": "application/vnd.microsoft.card.adaptive",
				"contentUrl":  nil,
				"content": map[string]any{
					"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
					"type":    "AdaptiveCard",
					"version": "1.4",
					"body": []any{map[string]any{
						"type": "TextBlock", "wrap": true, "text": markdownEscape(webhookSentence(f)),
					}},
					"actions": []any{map[string]any{
						"type": "Action.OpenUrl", "title": fmt.Sprintf("Open request #%d in rolegate", f.RequestID), "url": link,
					}},
				},
			}},
		})
	}
	return nil, fmt.Errorf("unknown webhook format %q", format)
}

// webhookSentence says what happened in one line, from a channel's facts:
// the news of the event they are about.
func webhookSentence(f rolegate.NotificationFacts) string {
	e := rolegate.Event{Action: f.Event, ActorName: f.Actor.Name, ActorEmail: f.Actor.Email, RequestID: f.RequestID, RoleName: f.RoleName}
	where := ""
	if f.InProject() != "" {
		where = fmt.Sprintf(" Scope: the project %q (%s).", f.ScopeName, f.Scope)
	}
	if news := rolegate.Describe(e).News; news != "" {
		return news + where
	}
	return fmt.Sprintf("Request #%d for the role %q is now %s.", f.RequestID, f.RoleName, f.Status.Label()) + where
}

var slackEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

func slackEscape(s string) string { return slackEscaper.Replace(s) }

// markdownEscaper keeps text from forming links or emphasis in a Teams
// card's markdown.
var markdownEscaper = strings.NewReplacer(
	`\`, `\\`, `[`, `\[`, `]`, `\]`, `(`, `\(`, `)`, `\)`, `*`, `\*`, `_`, `\_`, "`", "\\`", `<`, `&lt;`, `>`, `&gt;`,
)

func markdownEscape(s string) string { return markdownEscaper.Replace(s) }

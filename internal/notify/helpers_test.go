package notify_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/rolegate/rolegate/internal/app"
	"github.com/rolegate/rolegate/internal/notify"
	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/testkit"
)

// ---- a real SMTP server in the test process (github.com/emersion/go-smtp)

type mailServerOptions struct {
	TLS      bool   // offer STARTTLS (a certificate for 127.0.0.1 and mail.example.test)
	Username string // require AUTH PLAIN with these credentials
	Password string
	// InsecureAuth offers AUTH without TLS (a relay on loopback).
	InsecureAuth bool
	// RejectRcpt answers 550 to RCPT TO for these addresses.
	RejectRcpt []string
}

// mailServer records every message it accepts.
type mailServer struct {
	Addr  string
	Roots *x509.CertPool // trusts the server's certificate
	opts  mailServerOptions

	mu       sync.Mutex
	messages []received
	authSeen int // AUTH attempts, successful or not
	arrived  chan struct{}
}

// received is one accepted message.
type received struct {
	From, To string
	TLS      bool
	Authed   bool
	Data     []byte
}

func newMailServer(t *testing.T, opts mailServerOptions) *mailServer {
	t.Helper()
	ms := &mailServer{opts: opts, arrived: make(chan struct{}, 1000)}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &mailSession{server: ms, conn: c}, nil
	}))
	srv.Domain = "mail.example.test"
	srv.AllowInsecureAuth = opts.InsecureAuth
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.ErrorLog = log.New(io.Discard, "", 0)
	if opts.TLS {
		cert, roots := selfSignedCert(t)
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		ms.Roots = roots
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ms.Addr = ln.Addr().String()
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ms
}

func (ms *mailServer) Messages() []received {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return append([]received(nil), ms.messages...)
}

func (ms *mailServer) AuthAttempts() int {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.authSeen
}

type mailSession struct {
	server *mailServer
	conn   *smtp.Conn
	authed bool
	from   string
	to     []string
}

func (s *mailSession) AuthMechanisms() []string {
	if s.server.opts.Username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *mailSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, username, password string) error {
		s.server.mu.Lock()
		s.server.authSeen++
		s.server.mu.Unlock()
		if username != s.server.opts.Username || password != s.server.opts.Password {
			return smtp.ErrAuthFailed
		}
		s.authed = true
		return nil
	}), nil
}

func (s *mailSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.server.opts.Username != "" && !s.authed {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	for _, bad := range s.server.opts.RejectRcpt {
		if strings.EqualFold(bad, to) {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user here"}
		}
	}
	s.to = append(s.to, to)
	return nil
}

func (s *mailSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.server.mu.Lock()
	for _, to := range s.to {
		s.server.messages = append(s.server.messages, received{From: s.from, To: to, TLS: isTLS, Authed: s.authed, Data: data})
		s.server.arrived <- struct{}{}
	}
	s.server.mu.Unlock()
	return nil
}

func (s *mailSession) Reset()        { s.from, s.to = "", nil }
func (s *mailSession) Logout() error { return nil }

// selfSignedCert makes a certificate for the loopback address and
// mail.example.test, and a pool that trusts it.
func selfSignedCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "mail.example.test"},
		DNSNames:     []string{"mail.example.test"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, roots
}

// parsedMail is a received message taken apart as a mail reader would.
type parsedMail struct {
	Header  mail.Header
	Subject string
	Text    string
	HTML    string
}

func parseMail(t *testing.T, data []byte) parsedMail {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("read message: %v\n%s", err, data)
	}
	p := parsedMail{Header: msg.Header}
	if p.Subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); err != nil {
		t.Fatalf("subject: %v", err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type = %q; want multipart/alternative", msg.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextPart() // decodes quoted-printable
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("part: %v", err)
		}
		raw, _ := io.ReadAll(part)
		body := strings.ReplaceAll(string(raw), "\r\n", "\n")
		switch ct := part.Header.Get("Content-Type"); {
		case strings.HasPrefix(ct, "text/plain"):
			p.Text = body
		case strings.HasPrefix(ct, "text/html"):
			p.HTML = body
		default:
			t.Errorf("unexpected part %q", ct)
		}
	}
	return p
}

// ---- an httptest webhook receiver that checks signatures by itself

const testWebhookSecret = "whsec-test-never-shown"

// delivery is one POST the receiver accepted as authentic.
type delivery struct {
	ID    string // X-Rolegate-Delivery
	Event string
	Body  []byte
}

// receiver verifies X-Rolegate-Signature the way the README tells
// receivers to (an HMAC-SHA256 of "<t>.<raw body>", compared in constant
// time, written here independently of notify.VerifySignature), and rejects
// a signature older than five minutes.
type receiver struct {
	URL string

	mu         sync.Mutex
	deliveries []delivery
	rejected   []string
	posts      int
	// answer, when set, decides the status of each authentic POST.
	answer  func(n int, d delivery, r *http.Request) int
	arrived chan struct{}
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	rc := &receiver{arrived: make(chan struct{}, 1000)}
	srv := httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(srv.Close)
	rc.URL = srv.URL
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.posts++
	n := rc.posts
	answer := rc.answer
	rc.mu.Unlock()
	if reason := checkSignature(r.Header.Get("X-Rolegate-Signature"), body, time.Now()); reason != "" {
		rc.mu.Lock()
		rc.rejected = append(rc.rejected, reason)
		rc.mu.Unlock()
		http.Error(w, reason, http.StatusUnauthorized)
		return
	}
	d := delivery{ID: r.Header.Get("X-Rolegate-Delivery"), Event: r.Header.Get("X-Rolegate-Event"), Body: body}
	status := http.StatusNoContent
	if answer != nil {
		status = answer(n, d, r)
	}
	if status < 300 {
		rc.mu.Lock()
		rc.deliveries = append(rc.deliveries, d)
		rc.mu.Unlock()
		rc.arrived <- struct{}{}
	}
	w.WriteHeader(status)
}

// checkSignature returns why the header does not authenticate body, or "".
func checkSignature(header string, body []byte, now time.Time) string {
	var ts, sig string
	for _, kv := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sig == "" {
		return "malformed signature"
	}
	if now.Sub(time.Unix(sec, 0)) > 5*time.Minute {
		return "signature too old"
	}
	mac := hmac.New(sha256.New, []byte(testWebhookSecret))
	fmt.Fprintf(mac, "%s.%s", ts, body)
	if !hmac.Equal([]byte(hex.EncodeToString(mac.Sum(nil))), []byte(sig)) {
		return "bad signature"
	}
	return ""
}

func (rc *receiver) Deliveries() []delivery {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]delivery(nil), rc.deliveries...)
}

func (rc *receiver) Posts() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.posts
}

func (rc *receiver) Rejected() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]string(nil), rc.rejected...)
}

func (rc *receiver) setAnswer(fn func(n int, d delivery, r *http.Request) int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.answer = fn
}

// ---- the rig: a real database file, the request service, and the worker

var (
	rigRiley = rigActor("riley", "Riley Requester", "riley@example.com", rolegate.RoleRequester)
	rigAvery = rigActor("avery", "Avery Approver", "avery@example.com", rolegate.RoleRequester, rolegate.RoleApprover)
	rigBlake = rigActor("blake", "Blake Approver", "blake@example.com", rolegate.RoleRequester, rolegate.RoleApprover)
	rigDrew  = rigActor("drew", "Drew Admin", "drew@example.com", rolegate.RoleRequester, rolegate.RoleAdmin)
	// Mallory's name, from the identity provider, is hostile.
	rigMallory = rigActor("mallory", `Mallory <script>alert("name")</script>`, "mallory@example.com", rolegate.RoleRequester)
)

func rigActor(subject, name, email string, roles ...rolegate.PortalRole) rolegate.Actor {
	return rolegate.Actor{Principal: rolegate.Principal{
		Person: rolegate.Person{Issuer: "https://idp.example.com", Subject: subject, Name: name, Email: email},
		Roles:  roles,
	}}
}

const (
	testBaseURL      = "https://rolegate.example.com"
	testSMTPPassword = "smtp-pass-never-shown"
	// A Slack-style webhook URL carries its own secret in the path.
	testWebhookPath = "/services/T0001/B0001/hooktoken-never-shown"
)

type rigOptions struct {
	Mail        *mailServer // nil: no email
	MailConfig  func(*notify.MailerConfig)
	Hooks       []string // webhook URLs
	Format      string
	WebhookNow  func() time.Time
	MaxAttempts int
	Reminder    time.Duration
}

type rig struct {
	t        *testing.T
	ctx      context.Context
	path     string
	opts     rigOptions
	db       *app.Store
	requests rolegate.RequestService
	catalog  *rolegate.Catalog
	logs     *testkit.SyncBuffer

	stop func()
}

func newRig(t *testing.T, opts rigOptions) *rig {
	t.Helper()
	r := &rig{t: t, ctx: context.Background(), path: filepath.Join(t.TempDir(), "rolegate.db"), opts: opts, logs: &testkit.SyncBuffer{}}
	r.catalog = rolegate.NewCatalog([]rolegate.Permission{
		{Name: "api.groups.read", Area: "Groups"}, {Name: "api.users.read", Area: "Users"},
	})
	r.open()
	raw := testkit.OpenDB(t, r.path)
	for _, a := range []rolegate.Actor{rigRiley, rigAvery, rigBlake, rigDrew, rigMallory} {
		if _, err := raw.Exec(`INSERT INTO people (person_key, issuer, subject, email, name, roles, last_seen_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, a.Key(), a.Issuer, a.Subject, a.Email, a.Name, a.RoleNames(), time.Now().UnixMilli()); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		if r.stop != nil {
			r.stop()
		}
		r.db.Close()
	})
	return r
}

// open opens the database and builds a worker for it, as serve does at
// start; the worker runs once start is called.
func (r *rig) open() *notify.Worker {
	r.t.Helper()
	db, err := app.OpenStore(r.ctx, r.path)
	if err != nil {
		r.t.Fatal(err)
	}
	r.db = db
	r.requests = db.Requests(rolegate.RequestsConfig{RequiredApprovals: 1})
	cfg := notify.Config{
		Queue: db.Outbox, Reminders: r.requests, BaseURL: mustURL(testBaseURL),
		Logger:      slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		MaxAttempts: r.opts.MaxAttempts, BackoffBase: 5 * time.Millisecond, BackoffMax: 20 * time.Millisecond,
		Poll: 100 * time.Millisecond, ReminderAfter: r.opts.Reminder, Housekeeping: 50 * time.Millisecond,
	}
	if r.opts.Mail != nil {
		mc := notify.MailerConfig{Addr: r.opts.Mail.Addr, From: "rolegate <rolegate@example.com>", HelloName: "rolegate.example.com", Timeout: 15 * time.Second}
		if r.opts.Mail.Roots != nil {
			mc.TLS = &tls.Config{RootCAs: r.opts.Mail.Roots}
		}
		if r.opts.MailConfig != nil {
			r.opts.MailConfig(&mc)
		}
		if cfg.Mailer, err = notify.NewMailer(mc); err != nil {
			r.t.Fatal(err)
		}
	}
	if len(r.opts.Hooks) > 0 {
		if cfg.Webhooks, err = notify.NewWebhooks(notify.WebhookConfig{
			URLs: r.opts.Hooks, Format: r.opts.Format, Secret: testWebhookSecret, Now: r.opts.WebhookNow,
		}); err != nil {
			r.t.Fatal(err)
		}
	}
	w := notify.New(cfg)
	db.SetNotifications(w.Targets())
	return w
}

// start runs a worker on the open database until stopped.
func (r *rig) start(w *notify.Worker) {
	ctx, cancel := context.WithCancel(r.ctx)
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	r.stop = func() { cancel(); <-done; r.stop = nil }
}

// restart stops the worker and closes the database, then opens both again:
// what a crash and a new process amount to for the queue.
func (r *rig) restart() {
	r.t.Helper()
	if r.stop != nil {
		r.stop()
	}
	r.db.Close()
	r.start(r.open())
}

func (r *rig) file(by rolegate.Actor, roleName, justification string) *rolegate.Request {
	r.t.Helper()
	req, err := r.requests.Create(r.ctx, by, rolegate.RequestInput{
		RoleName: roleName, Permissions: []string{"api.groups.read"}, Description: "Reads groups & members.",
		Justification: justification,
	}, r.catalog)
	if err != nil {
		r.t.Fatalf("create %q: %v", roleName, err)
	}
	return req
}

func (r *rig) approve(by rolegate.Actor, req *rolegate.Request, comment string) {
	r.t.Helper()
	if _, err := r.requests.ApproveWith(r.ctx, by, req.ID, req.Binding(), comment, rolegate.Reauth{}); err != nil {
		r.t.Fatalf("approve #%d: %v", req.ID, err)
	}
}

func (r *rig) provision(roleID string) {
	r.t.Helper()
	job, err := r.db.Jobs.ClaimJob(r.ctx, "test", time.Minute)
	if err != nil || job == nil {
		r.t.Fatalf("ClaimJob = %v, %v", job, err)
	}
	if err := r.db.Jobs.CompleteJob(r.ctx, job, rolegate.ProvisionedRole{ID: roleID, Name: job.RoleName, Permissions: []string{"api.groups.read"}}, false); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) failProvisioning(message string) {
	r.t.Helper()
	job, err := r.db.Jobs.ClaimJob(r.ctx, "test", time.Minute)
	if err != nil || job == nil {
		r.t.Fatalf("ClaimJob = %v, %v", job, err)
	}
	if err := r.db.Jobs.FailJob(r.ctx, job, rolegate.ActionProvisioningFailed, message, nil); err != nil {
		r.t.Fatal(err)
	}
}

// settled waits until no notification is queued or being sent.
func (r *rig) settled() {
	r.t.Helper()
	testkit.WaitFor(r.t, "no notification pending", func() bool {
		next, err := r.db.Outbox.NextNotificationDue(r.ctx)
		if err != nil {
			r.t.Fatal(err)
		}
		return next.IsZero()
	}, r.logs.String)
}

// outcomes lists the notification events of the trail as
// "action channel recipient event", and their error details.
func (r *rig) outcomes(reqIDs ...int64) (lines []string, errs []string) {
	r.t.Helper()
	for _, id := range reqIDs {
		events, err := r.db.Audit.RequestEvents(r.ctx, id)
		if err != nil {
			r.t.Fatal(err)
		}
		for _, e := range events {
			if !strings.HasPrefix(e.Action, "notification.") {
				continue
			}
			var d struct {
				Channel, Recipient, Event, Error string
			}
			_ = json.Unmarshal(e.Details, &d)
			lines = append(lines, fmt.Sprintf("%s %s %s %s", e.Action, d.Channel, d.Recipient, d.Event))
			if d.Error != "" {
				errs = append(errs, d.Error)
			}
		}
	}
	return lines, errs
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

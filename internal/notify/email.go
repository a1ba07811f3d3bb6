package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/netip"
	"net/smtp"
	"net/textproto"
	"strings"
	"time"
)

// MailerConfig configures email over SMTP.
type MailerConfig struct {
	Addr     string // host:port of the mail server
	From     string // "rolegate@example.com" or "rolegate <rolegate@example.com>"
	Username string // SMTP AUTH, sent only after STARTTLS or to a loopback server
	Password string
	// HelloName is the name given in EHLO (the portal's host name); default
	// "localhost".
	HelloName string
	// TLS is the STARTTLS configuration; nil verifies the server against the
	// system's roots under the host name of Addr.
	TLS *tls.Config
	// Timeout bounds one whole SMTP conversation (default 30 s).
	Timeout time.Duration
	// Dial opens the connection (default: a net.Dialer).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Now stamps the Date header (tests).
	Now func() time.Time
}

// Mailer sends notifications by email: one SMTP conversation per message,
// STARTTLS whenever the server offers it.
type Mailer struct {
	cfg    MailerConfig
	host   string
	from   *mail.Address
	redact redactor
}

// NewMailer checks cfg and returns the mailer.
func NewMailer(cfg MailerConfig) (*Mailer, error) {
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil || host == "" {
		return nil, fmt.Errorf("notify: the mail server must be host:port, got %q", cfg.Addr)
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("notify: the sender must be an email address, got %q", cfg.From)
	}
	if cfg.HelloName == "" {
		cfg.HelloName = "localhost"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Dial == nil {
		cfg.Dial = (&net.Dialer{}).DialContext
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Mailer{cfg: cfg, host: host, from: from, redact: redactor{cfg.Password}}, nil
}

// Send delivers msg to the address to. messageID is the same for every
// attempt of one notification, so a mail reader can drop a repeat.
func (m *Mailer) Send(ctx context.Context, to string, msg Email, messageID string) error {
	rcpt, err := mail.ParseAddress(to)
	if err != nil {
		return permanentf("%q is not a valid email address", oneLine(to, 100))
	}
	raw, err := m.compose(rcpt, msg, messageID)
	if err != nil {
		return permanentf("compose the message: %v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
	defer cancel()
	conn, err := m.cfg.Dial(ctx, "tcp", m.cfg.Addr)
	if err != nil {
		return temporaryf("connect to the mail server %s: %s", m.cfg.Addr, m.redact.clean(netError(err)))
	}
	// Every read and write of the conversation ends with ctx.
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()

	c, err := smtp.NewClient(conn, m.host)
	if err != nil {
		conn.Close()
		return m.smtpError("greeting", err)
	}
	defer c.Close()
	if err := c.Hello(m.cfg.HelloName); err != nil {
		return m.smtpError("EHLO", err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		tlsCfg := m.cfg.TLS.Clone()
		if tlsCfg == nil {
			tlsCfg = &tls.Config{}
		}
		if tlsCfg.ServerName == "" {
			tlsCfg.ServerName = m.host
		}
		if tlsCfg.MinVersion == 0 {
			tlsCfg.MinVersion = tls.VersionTLS12
		}
		if err := c.StartTLS(tlsCfg); err != nil {
			return m.smtpError("STARTTLS", err)
		}
	}
	if m.cfg.Username != "" {
		if _, secure := c.TLSConnectionState(); !secure && !isLoopback(m.host) {
			return temporaryf("the mail server %s did not offer STARTTLS; the SMTP password is sent only over TLS or to a server on loopback", m.cfg.Addr)
		}
		if ok, _ := c.Extension("AUTH"); !ok {
			return temporaryf("the mail server %s does not offer AUTH, but ROLEGATE_SMTP_USERNAME is set", m.cfg.Addr)
		}
		if err := c.Auth(smtp.PlainAuth("", m.cfg.Username, m.cfg.Password, m.host)); err != nil {
			return m.smtpError("AUTH", err)
		}
	}
	if err := c.Mail(m.from.Address); err != nil {
		return m.smtpError("MAIL FROM", err)
	}
	if err := c.Rcpt(rcpt.Address); err != nil {
		return m.smtpError("RCPT TO", err)
	}
	w, err := c.Data()
	if err != nil {
		return m.smtpError("DATA", err)
	}
	if _, err := w.Write(raw); err != nil {
		return m.smtpError("DATA", err)
	}
	if err := w.Close(); err != nil {
		return m.smtpError("DATA", err)
	}
	// The message is accepted; a failed QUIT changes nothing.
	_ = c.Quit()
	return nil
}

// smtpError describes a failed step. A 5xx answer to RCPT TO rejects that
// recipient for good; anything else is about the server and may pass later.
func (m *Mailer) smtpError(step string, err error) error {
	var te *textproto.Error
	if errors.As(err, &te) {
		msg := fmt.Sprintf("the mail server answered %s with %d %s", step, te.Code, m.redact.clean(te.Msg))
		return &deliveryError{msg: msg, permanent: step == "RCPT TO" && te.Code >= 500}
	}
	return temporaryf("SMTP %s: %s", step, m.redact.clean(netError(err)))
}

// compose writes the message: headers, then a multipart/alternative body
// with the plain-text part first and the HTML part last (the preferred one),
// both UTF-8 in quoted-printable.
func (m *Mailer) compose(to *mail.Address, msg Email, messageID string) ([]byte, error) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	header := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	header("From", m.from.String())
	header("To", (&mail.Address{Address: to.Address}).String())
	header("Subject", mime.QEncoding.Encode("utf-8", oneLine(msg.Subject, 250)))
	header("Date", m.cfg.Now().Format(time.RFC1123Z))
	header("Message-ID", messageID)
	header("MIME-Version", "1.0")
	// Out-of-office replies and the like must not answer a notification.
	header("Auto-Submitted", "auto-generated")
	header("X-Auto-Response-Suppress", "All")
	header("Content-Type", `multipart/alternative; boundary="`+mw.Boundary()+`"`)
	b.WriteString("\r\n")
	for _, part := range []struct{ ctype, body string }{
		{"text/plain; charset=utf-8", msg.Text},
		{"text/html; charset=utf-8", msg.HTML},
	} {
		pw, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {part.ctype},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, err
		}
		qp := quotedprintable.NewWriter(pw)
		if _, err := qp.Write([]byte(part.body)); err != nil {
			return nil, err
		}
		if err := qp.Close(); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// MessageID is the Message-ID of every attempt of notification id.
func (m *Mailer) MessageID(id, eventSeq int64) string {
	domain := "rolegate.invalid"
	if at := strings.LastIndexByte(m.from.Address, '@'); at >= 0 {
		domain = m.from.Address[at+1:]
	}
	return fmt.Sprintf("<rolegate.notification.%d.%d@%s>", id, eventSeq, domain)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

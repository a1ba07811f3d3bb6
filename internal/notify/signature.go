package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SignatureHeader carries a webhook's signature, in the form receivers are
// told to check (README, Notifications):
//
//	X-Rolegate-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>
const SignatureHeader = "X-Rolegate-Signature"

// SignatureTolerance is how old a signature receivers accept: a captured
// delivery cannot be replayed later than this.
const SignatureTolerance = 5 * time.Minute

// Sign returns the X-Rolegate-Signature value for body sent at t.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + signatureMAC(secret, ts, body)
}

func signatureMAC(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Signature verification errors.
var (
	ErrSignatureMalformed = errors.New("notify: malformed signature header")
	ErrSignatureMismatch  = errors.New("notify: signature does not match the body")
	ErrSignatureStale     = errors.New("notify: signature timestamp outside the tolerance")
)

// VerifySignature checks header against body as a receiver should: the
// timestamp within tolerance of now (either way), and one of the v1 values
// (several are allowed while a secret is rotated) equal to the expected MAC,
// compared in constant time.
func VerifySignature(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts string
	var sigs []string
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return ErrSignatureMalformed
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return ErrSignatureMalformed
	}
	if age := now.Sub(time.Unix(sec, 0)); age > tolerance || age < -tolerance {
		return fmt.Errorf("%w: signed %s ago", ErrSignatureStale, age.Round(time.Second))
	}
	want := []byte(signatureMAC(secret, ts, body))
	for _, s := range sigs {
		if hmac.Equal([]byte(s), want) {
			return nil
		}
	}
	return ErrSignatureMismatch
}

package audit

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Checkpoint is a signed statement of the trail's head, in the standard
// checkpoint body of transparency logs (c2sp.org/tlog-checkpoint): the
// log's origin, the number of events, and the root hash of the Merkle tree
// over those events (tree.go). Kept off the machine, it lets anyone prove
// later that the trail still holds those events, unchanged (a rewritten
// trail has another root at that size, a truncated one fewer events), that
// one event is among them (an inclusion proof), and that a later
// checkpoint only added events (a consistency proof).
//
// Checkpoints signed before migration 00009 hold the chain hash of event
// Size in place of the root; Walk still proves them against the trail
// (LegacyChainHead), but they cannot anchor proofs.
type Checkpoint struct {
	Origin string // the name of the signing key
	Size   int64  // events covered
	Hash   string // hex Merkle root of the first Size events (EmptyRoot when Size is 0)
}

// Root is the checkpoint's root hash.
func (c Checkpoint) Root() (tlog.Hash, error) { return ParseHexHash(c.Hash) }

// Text is the checkpoint body that is signed:
// "<origin>\n<size>\n<base64 hash>\n".
func (c Checkpoint) Text() (string, error) {
	raw, err := hex.DecodeString(c.Hash)
	if err != nil || len(raw) != 32 {
		return "", fmt.Errorf("audit: checkpoint hash %q is not a hex SHA-256", c.Hash)
	}
	if c.Origin == "" || strings.ContainsAny(c.Origin, "\n") {
		return "", errors.New("audit: checkpoint origin must be one non-empty line")
	}
	if c.Size < 0 {
		return "", errors.New("audit: checkpoint size is negative")
	}
	return fmt.Sprintf("%s\n%d\n%s\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(raw)), nil
}

// Sign returns the signed note of c. Its origin must be the signer's name,
// as the checkpoint format asks.
func Sign(c Checkpoint, s note.Signer) ([]byte, error) {
	if c.Origin != s.Name() {
		return nil, fmt.Errorf("audit: checkpoint origin %q is not the signing key's name %q", c.Origin, s.Name())
	}
	text, err := c.Text()
	if err != nil {
		return nil, err
	}
	msg, err := note.Sign(&note.Note{Text: text}, s)
	if err != nil {
		return nil, fmt.Errorf("audit: sign checkpoint: %w", err)
	}
	return msg, nil
}

// ErrOtherKey is returned by Open for a checkpoint signed by some other
// key than the one given (an earlier key, say).
var ErrOtherKey = errors.New("audit: signed by another key")

// Open checks that msg is a checkpoint signed by v's key for v's log, and
// returns it.
func Open(msg []byte, v note.Verifier) (Checkpoint, error) {
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		switch {
		case errors.As(err, &unverified):
			return Checkpoint{}, fmt.Errorf("audit: the checkpoint is not signed by the key %s: %w", v.Name(), ErrOtherKey)
		case errors.As(err, &invalid):
			return Checkpoint{}, fmt.Errorf("audit: the checkpoint's signature by %s does not verify: it was altered", v.Name())
		}
		return Checkpoint{}, fmt.Errorf("audit: not a signed checkpoint: %w", err)
	}
	cp, err := ParseText(n.Text)
	if err != nil {
		return Checkpoint{}, err
	}
	if cp.Origin != v.Name() {
		return Checkpoint{}, fmt.Errorf("audit: the checkpoint is for the log %q, not %q", cp.Origin, v.Name())
	}
	return cp, nil
}

// ParseNote reads the checkpoint of a signed note without checking any
// signature: for the portal's own recorded checkpoints, and for proofs
// that are checked later, offline, with the verifier key.
func ParseNote(msg []byte) (Checkpoint, error) {
	// A note is its text (ending in a newline), a blank line, and the
	// signature lines.
	i := bytes.Index(msg, []byte("\n\n"))
	if i < 0 {
		return Checkpoint{}, errors.New("audit: not a signed checkpoint: no blank line before the signatures")
	}
	return ParseText(string(msg[:i+1]))
}

// ParseText reads a checkpoint body (signature already checked). Lines
// after the third are extensions and are ignored.
func ParseText(text string) (Checkpoint, error) {
	bad := func(why string) (Checkpoint, error) {
		return Checkpoint{}, fmt.Errorf("audit: malformed checkpoint: %s", why)
	}
	if !strings.HasSuffix(text, "\n") {
		return bad("it does not end with a newline")
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 3 {
		return bad("it needs an origin, a size and a hash line")
	}
	if lines[0] == "" {
		return bad("the origin line is empty")
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || lines[1] != strconv.FormatInt(size, 10) {
		return bad("the size line is not a decimal count")
	}
	raw, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(raw) != 32 {
		return bad("the hash line is not a base64 SHA-256")
	}
	return Checkpoint{Origin: lines[0], Size: size, Hash: hex.EncodeToString(raw)}, nil
}

// NewSigner reads a signer key ("PRIVATE+KEY+<name>+<hash>+<data>", as
// GenerateKey writes it). The error never repeats the key.
func NewSigner(key string) (note.Signer, error) {
	s, err := note.NewSigner(strings.TrimSpace(key))
	if err != nil {
		return nil, errors.New("audit: not a checkpoint signer key (PRIVATE+KEY+name+hash+data); create one with rolegate audit keygen")
	}
	return s, nil
}

// NewVerifier reads a verifier key ("<name>+<hash>+<data>").
func NewVerifier(key string) (note.Verifier, error) {
	v, err := note.NewVerifier(strings.TrimSpace(key))
	if err != nil {
		return nil, errors.New("audit: not a checkpoint verifier key (name+hash+data, as rolegate audit keygen prints it)")
	}
	return v, nil
}

// GenerateKey returns a new Ed25519 signer key and its verifier key. The
// name is the log's origin, for example "rolegate.example.com/audit".
func GenerateKey(name string) (signer, verifier string, err error) {
	if name == "" || strings.ContainsAny(name, "+ \t\r\n") {
		return "", "", errors.New("audit: a key name must be non-empty, without spaces or '+'")
	}
	signer, verifier, err = note.GenerateKey(rand.Reader, name)
	if err != nil {
		return "", "", fmt.Errorf("audit: generate key: %w", err)
	}
	return signer, verifier, nil
}

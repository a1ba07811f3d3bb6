// Package audit holds what makes the audit trail trustworthy: the hash chain
// over events, its verification and signed checkpoints. Storage lives in
// internal/sqlite; this package decides what is hashed and how.
package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// GenesisHash is the "previous hash" of the first event.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// ErrNotUTF8 is why an event cannot be hashed: a field holds bytes that
// are not valid UTF-8. JSON, of the hash input and of the export alike,
// can only write such bytes as U+FFFD, so their hash would neither tell
// two different byte strings apart nor survive an export (an exported
// event would no longer match its hash). The store makes every text valid
// first (rolegate.Event.ValidUTF8); the hash refuses what slipped past.
var ErrNotUTF8 = errors.New("audit: event holds text that is not valid UTF-8")

// ErrDetailsNotJSON is why an event cannot be hashed: its details are not
// a JSON value, which the export could not write back as they are.
var ErrDetailsNotJSON = errors.New("audit: event details are not JSON")

// Canonical returns the bytes hashed for an event: every recorded field in a
// fixed order as a JSON array, so that no field can change unnoticed and no
// two different events share an encoding. Details are compacted first, so
// the hash does not depend on whitespace SQLite or a tool might introduce.
// An event whose text is not valid UTF-8, or whose details are not JSON, is
// refused: either would make two events share an encoding, or an export
// that reads back differently from what was hashed.
func Canonical(e rolegate.Event) ([]byte, error) {
	texts := []string{
		e.ActorKey, e.ActorEmail, e.ActorName, e.ActorRoles, e.Action,
		e.RoleName, e.Outcome, e.ClientIP, e.UserAgent, e.HTTPReqID, e.PrevHash,
	}
	for _, s := range texts {
		if !utf8.ValidString(s) {
			return nil, fmt.Errorf("%w (event %d, %s)", ErrNotUTF8, e.Seq, e.Action)
		}
	}
	if !utf8.Valid(e.Details) {
		return nil, fmt.Errorf("%w (event %d, %s: details)", ErrNotUTF8, e.Seq, e.Action)
	}
	details := bytes.Buffer{}
	if err := json.Compact(&details, e.Details); err != nil {
		return nil, fmt.Errorf("%w (event %d, %s): %v", ErrDetailsNotJSON, e.Seq, e.Action, err)
	}
	fields := []string{
		"v1",
		strconv.FormatInt(e.Seq, 10),
		strconv.FormatInt(e.At.UTC().UnixMilli(), 10),
		e.ActorKey, e.ActorEmail, e.ActorName, e.ActorRoles,
		e.Action,
		strconv.FormatInt(e.RequestID, 10),
		e.RoleName, e.Outcome,
		details.String(),
		e.ClientIP, e.UserAgent, e.HTTPReqID,
		e.PrevHash,
	}
	b, _ := json.Marshal(fields) // valid strings only: cannot fail
	return b, nil
}

// Hash returns the chain hash of e: SHA-256 over its canonical content, which
// includes the previous event's hash. It fails, like Canonical, for an event
// that could not be verified from an export.
func Hash(e rolegate.Event) (string, error) {
	c, err := Canonical(e)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(c)
	return hex.EncodeToString(sum[:]), nil
}

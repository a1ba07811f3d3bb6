// Package audit holds what makes the audit trail trustworthy: the hash chain
// over events, its verification and signed checkpoints. Storage lives in
// internal/sqlite; this package decides what is hashed and how.
package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// GenesisHash is the "previous hash" of the first event.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// Canonical returns the bytes hashed for an event: every recorded field in a
// fixed order as a JSON array, so that no field can change unnoticed and no
// two different events share an encoding. Details are compacted first, so
// the hash does not depend on whitespace SQLite or a tool might introduce.
func Canonical(e rolegate.Event) []byte {
	details := bytes.Buffer{}
	if err := json.Compact(&details, e.Details); err != nil || details.Len() == 0 {
		details.Reset()
		details.Write(e.Details)
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
	b, _ := json.Marshal(fields) // strings only: cannot fail
	return b
}

// Hash returns the chain hash of e: SHA-256 over its canonical content, which
// includes the previous event's hash.
func Hash(e rolegate.Event) string {
	sum := sha256.Sum256(Canonical(e))
	return hex.EncodeToString(sum[:])
}

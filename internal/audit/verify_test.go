package audit_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/audit"
	"github.com/rolegate/rolegate/internal/rolegate"
)

// chain builds n chained events as the store writes them.
func chain(n int) []rolegate.Event {
	events := make([]rolegate.Event, n)
	prev := audit.GenesisHash
	at := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	for i := range events {
		e := rolegate.NewEvent(rolegate.System("test"), rolegate.OutcomeSuccess,
			rolegate.RequestCreated{RequiredApprovals: i, Justification: fmt.Sprintf("event %d", i+1)})
		e.Seq, e.At, e.RequestID, e.RoleName, e.PrevHash = int64(i+1), at.Add(time.Duration(i)*time.Second), int64(i/3+1), "Group Reader", prev
		e.Hash = mustHash(e)
		prev = e.Hash
		events[i] = e
	}
	return events
}

// mustHash is audit.Hash for events known to be hashable.
func mustHash(e rolegate.Event) string {
	h, err := audit.Hash(e)
	if err != nil {
		panic(err)
	}
	return h
}

func walk(events []rolegate.Event, cps ...audit.Checkpoint) (audit.Head, error) {
	w := audit.NewWalk(cps...)
	for _, e := range events {
		if err := w.Add(e); err != nil {
			break
		}
	}
	return w.Finish()
}

func TestWalkAcceptsAnIntactChain(t *testing.T) {
	events := chain(10)
	head, err := walk(events)
	if err != nil {
		t.Fatalf("walk(intact) = %v; want no error", err)
	}
	if head.Size != 10 || head.Hash != events[9].Hash {
		t.Errorf("walk(intact) head = %+v; want size 10, hash of event 10", head)
	}
	if head, err := walk(nil); err != nil || head.Size != 0 || head.Hash != audit.GenesisHash {
		t.Errorf("walk(empty) = %+v, %v; want size 0 at the genesis", head, err)
	}
}

func TestWalkNamesTheFirstEventThatDoesNotMatch(t *testing.T) {
	cases := []struct {
		name    string
		tamper  func([]rolegate.Event) []rolegate.Event
		wantSeq int64
		want    string
	}{
		{"details edited", func(ev []rolegate.Event) []rolegate.Event {
			ev[4].Details = []byte(`{"comment":"nothing to see","n":4}`)
			return ev
		}, 5, "does not match its stored hash"},
		{"actor edited", func(ev []rolegate.Event) []rolegate.Event {
			ev[6].ActorName = "Someone Else"
			return ev
		}, 7, "does not match its stored hash"},
		{"time edited", func(ev []rolegate.Event) []rolegate.Event {
			ev[2].At = ev[2].At.Add(time.Millisecond)
			return ev
		}, 3, "does not match its stored hash"},
		{"edited and rehashed", func(ev []rolegate.Event) []rolegate.Event {
			ev[3].Outcome = rolegate.OutcomeFailure
			ev[3].Hash = mustHash(ev[3])
			return ev
		}, 5, "does not link to event 4"},
		{"middle event deleted", func(ev []rolegate.Event) []rolegate.Event {
			return append(ev[:5:5], ev[6:]...)
		}, 6, "missing"},
		{"first event deleted", func(ev []rolegate.Event) []rolegate.Event { return ev[1:] }, 1, "missing"},
		{"two events swapped", func(ev []rolegate.Event) []rolegate.Event {
			ev[7], ev[8] = ev[8], ev[7]
			return ev
		}, 8, "missing"},
		{"event repeated", func(ev []rolegate.Event) []rolegate.Event {
			return append(ev[:4:4], ev[3:]...)
		}, 4, "out of order"},
		{"time going backwards", func(ev []rolegate.Event) []rolegate.Event {
			// Written that way and hashed consistently: a forged tail.
			ev[8].At = ev[7].At.Add(-time.Second)
			ev[8].Hash = mustHash(ev[8])
			ev[9].PrevHash = ev[8].Hash
			ev[9].Hash = mustHash(ev[9])
			return ev
		}, 9, "earlier than event 8"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := walk(c.tamper(chain(10)))
			var br *audit.BreakError
			if !errors.As(err, &br) {
				t.Fatalf("walk(%s) = %v; want a BreakError", c.name, err)
			}
			if br.Seq != c.wantSeq || !strings.Contains(br.Problem, c.want) {
				t.Errorf("walk(%s) = %q; want event %d, %q", c.name, err, c.wantSeq, c.want)
			}
		})
	}
}

func TestWalkProvesACheckpoint(t *testing.T) {
	events := chain(10)
	cp := audit.Checkpoint{Origin: "rolegate.test/audit", Size: 6, Hash: events[5].Hash}

	if _, err := walk(events, cp); err != nil {
		t.Errorf("walk(intact, checkpoint at 6) = %v; want no error", err)
	}
	if _, err := walk(events[:6], cp); err != nil {
		t.Errorf("walk(exactly the checkpoint's events) = %v; want no error", err)
	}

	// A truncated tail is a valid chain, but shorter than what was signed.
	_, err := walk(events[:4], cp)
	if err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("walk(truncated to 4, checkpoint at 6) = %v; want a truncation error", err)
	}

	// A history rewritten consistently (every hash recomputed) passes the
	// chain checks but not the checkpoint.
	rewritten := chain(10)
	rewritten[2].ActorName = "Mallory"
	for i := 2; i < len(rewritten); i++ {
		if i > 0 {
			rewritten[i].PrevHash = rewritten[i-1].Hash
		}
		rewritten[i].Hash = mustHash(rewritten[i])
	}
	if _, err := walk(rewritten); err != nil {
		t.Fatalf("walk(rewritten) without checkpoint = %v; the rewrite should be self-consistent", err)
	}
	_, err = walk(rewritten, cp)
	var br *audit.BreakError
	if !errors.As(err, &br) || br.Seq != 6 || !strings.Contains(br.Problem, "rewritten") {
		t.Errorf("walk(rewritten, checkpoint at 6) = %v; want event 6 named as rewritten", err)
	}

	// The checkpoint of an empty trail.
	if _, err := walk(nil, audit.Checkpoint{Origin: "o", Size: 0, Hash: audit.GenesisHash}); err != nil {
		t.Errorf("walk(empty, empty checkpoint) = %v; want no error", err)
	}
}

func TestHashIsStable(t *testing.T) {
	// The chain hash is forever: a change here would break every trail
	// already written. This is the hash of a fixed event.
	e := rolegate.Event{
		Seq: 1, At: time.Date(2025, 1, 2, 3, 4, 5, 6_000_000, time.UTC),
		ActorKey: "https://idp.example.com|u1", ActorEmail: "riley@example.com", ActorName: "Riley Requester",
		ActorRoles: "requester", Action: rolegate.ActionRequestCreated, RequestID: 7, RoleName: "Group Reader",
		Outcome: rolegate.OutcomeSuccess, Details: []byte(`{ "payload_sha256": "ab", "required_approvals": 1 }`),
		ClientIP: "10.0.0.7", UserAgent: "Mozilla/5.0", HTTPReqID: "0123abcd", PrevHash: audit.GenesisHash,
	}
	// Computed independently: sha256 of
	// ["v1","1","1735787045006","https://idp.example.com|u1",...,"0000…0000"].
	const want = "82641b54e0fa9e817adf162bc3aea5936c5bdbaaf484e3f2b937f2bf38cf4ffc"
	if got := mustHash(e); got != want {
		t.Errorf("Hash(fixed event) = %s; want %s", got, want)
	}
	e2 := e
	e2.Details = []byte(`{"payload_sha256":"ab","required_approvals":1}`)
	if got := mustHash(e2); got != want {
		t.Errorf("Hash(same event, compact details) = %s; want %s (whitespace must not matter)", got, want)
	}
}

// TestHashRefusesWhatAnExportCannotReproduce: text that is not valid UTF-8
// was hashed as U+FFFD, so two different byte strings hashed alike and an
// exported event no longer matched its hash; details that are not JSON
// read back from an export as a JSON string. Both are refused.
func TestHashRefusesWhatAnExportCannotReproduce(t *testing.T) {
	base := chain(1)[0]
	cases := []struct {
		name string
		edit func(*rolegate.Event)
		want error
	}{
		{"user agent with 0x80", func(e *rolegate.Event) { e.UserAgent = "Mozilla \x80" }, audit.ErrNotUTF8},
		{"user agent with 0xff", func(e *rolegate.Event) { e.UserAgent = "Mozilla \xff" }, audit.ErrNotUTF8},
		{"name cut inside a character", func(e *rolegate.Event) { e.ActorName = "Zo\xc3" }, audit.ErrNotUTF8},
		{"role name", func(e *rolegate.Event) { e.RoleName = "\xed\xa0\x80" }, audit.ErrNotUTF8},
		{"details", func(e *rolegate.Event) { e.Details = []byte("{\"reason\":\"\xfe\"}") }, audit.ErrNotUTF8},
		{"details not JSON", func(e *rolegate.Event) { e.Details = []byte("reason: none") }, audit.ErrDetailsNotJSON},
		{"no details", func(e *rolegate.Event) { e.Details = nil }, audit.ErrDetailsNotJSON},
	}
	for _, c := range cases {
		e := base
		c.edit(&e)
		if h, err := audit.Hash(e); !errors.Is(err, c.want) {
			t.Errorf("Hash(%s) = %q, %v; want %v", c.name, h, err, c.want)
		}
		if _, err := audit.Canonical(e); !errors.Is(err, c.want) {
			t.Errorf("Canonical(%s) = %v; want %v", c.name, err, c.want)
		}
	}

	// Such an event in a trail stops the walk there, saying why.
	events := chain(4)
	events[2].UserAgent = "Mozilla \x80"
	_, err := walk(events)
	var br *audit.BreakError
	if !errors.As(err, &br) || br.Seq != 3 || !strings.Contains(br.Problem, "not valid UTF-8") {
		t.Errorf("walk(event 3 holding 0x80) = %v; want event 3 named, not valid UTF-8", err)
	}
}

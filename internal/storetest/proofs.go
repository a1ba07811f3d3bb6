package storetest

import (
	"bytes"
	"errors"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/rolegate/rolegate/internal/audit"
	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/testkit"
)

// growTrail appends n events and returns the whole trail.
func growTrail(t *testing.T, s *Store, n int) []rolegate.Event {
	t.Helper()
	for i := range n {
		e := rolegate.NewEvent(SearchPeople[i%len(SearchPeople)], rolegate.OutcomeSuccess,
			rolegate.RequestCreated{RequiredApprovals: i, Justification: SearchWords[i%len(SearchWords)]})
		if err := s.Trail.AppendEvent(t.Context(), e); err != nil {
			t.Fatal(err)
		}
	}
	var events []rolegate.Event
	if err := s.Trail.WalkAuditTrail(t.Context(), func(e rolegate.Event) error { events = append(events, e); return nil }); err != nil {
		t.Fatal(err)
	}
	return events
}

// signCheckpoint signs the trail's current tree with signer.
func signCheckpoint(t *testing.T, s *Store, signer interface {
	Name() string
}, sign func(audit.Checkpoint) ([]byte, error)) (audit.Checkpoint, []byte) {
	t.Helper()
	cp, note, err := s.Trail.SignCheckpoint(t.Context(), rolegate.System("checkpoint"), signer.Name(), sign, rolegate.AuditCheckpoint{})
	if err != nil {
		t.Fatalf("SignCheckpoint: %v", err)
	}
	return cp, note
}

func testProofs(t *testing.T, e Engine) {
	// Proofs in trees taken early still verify after many more events,
	// and so do consistency proofs from each of them to the latest.
	t.Run("ProofsAcrossAppends", func(t *testing.T) {
		s := e.Open(t, testkit.NewClock(start).Now)
		sizes := []int64{1, 2, 7, 64, 65, 100}
		roots := map[int64]tlog.Hash{}
		var n int64
		for _, size := range sizes {
			growTrail(t, s, int(size-n))
			n = size
			root, err := s.Trail.AuditTreeRoot(t.Context(), size)
			if err != nil {
				t.Fatal(err)
			}
			roots[size] = root
		}
		growTrail(t, s, 200)
		latest := int64(300)
		roots[latest], _ = s.Trail.AuditTreeRoot(t.Context(), latest)
		sizes = append(sizes, latest)
		for _, size := range sizes {
			if again, _ := s.Trail.AuditTreeRoot(t.Context(), size); again != roots[size] {
				t.Fatalf("the root at %d changed after appends: %s, was %s", size, again, roots[size])
			}
			for _, seq := range []int64{1, size / 2, size} {
				if seq < 1 {
					continue
				}
				ev, p, err := s.Trail.ProveEvent(t.Context(), seq, size)
				if err != nil {
					t.Fatalf("ProveEvent(%d, %d) = %v", seq, size, err)
				}
				leaf, _ := audit.LeafHash(ev)
				if err := tlog.CheckRecord(p, size, roots[size], seq-1, leaf); err != nil {
					t.Errorf("event %d's proof in the tree of %d does not verify: %v", seq, size, err)
				}
			}
			p, newRoot, err := s.Trail.ProveTree(t.Context(), size, latest)
			if err != nil || newRoot != roots[latest] {
				t.Fatalf("ProveTree(%d, %d) = %v, root %s", size, latest, err, newRoot)
			}
			if size < latest {
				if err := tlog.CheckTree(p, latest, roots[latest], size, roots[size]); err != nil {
					t.Errorf("consistency %d → %d does not verify: %v", size, latest, err)
				}
			}
		}
		if _, _, err := s.Trail.ProveEvent(t.Context(), latest+1, latest); !errors.Is(err, audit.ErrNotInTree) {
			t.Errorf("ProveEvent(beyond the tree) = %v; want audit.ErrNotInTree", err)
		}
		if _, _, err := s.Trail.ProveTree(t.Context(), 10, 5000); !errors.Is(err, audit.ErrNotInTree) {
			t.Errorf("ProveTree(beyond the trail) = %v; want audit.ErrNotInTree", err)
		}
	})

	// A checkpoint signs the tree's root at the head and is recorded in the
	// trail; the latest is found again, by size too, and proves the events
	// it covers (and not a forged one).
	t.Run("CheckpointsAreRecordedAndProve", func(t *testing.T) {
		s := e.Open(t, testkit.NewClock(start).Now)
		if _, _, ok, err := s.Trail.LatestCheckpoint(t.Context()); err != nil || ok {
			t.Fatalf("LatestCheckpoint of a trail without one = %v, %v; want none", ok, err)
		}
		events := growTrail(t, s, 40)
		skey, vkey, _ := audit.GenerateKey("rolegate.test/audit")
		signer, _ := audit.NewSigner(skey)
		verifier, _ := audit.NewVerifier(vkey)
		sign := func(cp audit.Checkpoint) ([]byte, error) { return audit.Sign(cp, signer) }
		cp, note := signCheckpoint(t, s, signer, sign)
		root, _ := s.Trail.AuditTreeRoot(t.Context(), 40)
		if cp.Size != 40 || cp.Hash != audit.HexHash(root) {
			t.Fatalf("checkpoint = %+v; want the root of the 40 events", cp)
		}
		if got, err := audit.Open(note, verifier); err != nil || got != cp {
			t.Errorf("the signed note = %+v, %v; want the checkpoint, verified", got, err)
		}
		head, action, err := s.Trail.AuditHead(t.Context())
		if err != nil || head.Size != 41 || action != rolegate.ActionAuditCheckpoint {
			t.Errorf("AuditHead = %+v %q, %v; want the checkpoint's event at 41", head, action, err)
		}
		if h, err := s.Trail.ChainHash(t.Context(), 41); err != nil || h != head.Hash {
			t.Errorf("ChainHash(41) = %q, %v; want the head's %q", h, err, head.Hash)
		}
		growTrail(t, s, 5)
		latest, latestNote, ok, err := s.Trail.LatestCheckpoint(t.Context())
		if err != nil || !ok || latest != cp || !bytes.Equal(latestNote, note) {
			t.Errorf("LatestCheckpoint = %+v, %v, %v; want the one signed", latest, ok, err)
		}
		if got, _, ok, err := s.Trail.CheckpointOfSize(t.Context(), 40); err != nil || !ok || got != cp {
			t.Errorf("CheckpointOfSize(40) = %+v, %v, %v; want it", got, ok, err)
		}
		if _, _, ok, err := s.Trail.CheckpointOfSize(t.Context(), 39); err != nil || ok {
			t.Errorf("CheckpointOfSize(39) = %v, %v; want none", ok, err)
		}
		forged := events[3]
		forged.RoleName = "forged"
		all := append(growTrail(t, s, 0), forged)
		included, err := s.Trail.IncludedIn(t.Context(), cp, all)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range all[:40] {
			if !included[ev.Seq] && ev.Seq != forged.Seq {
				t.Errorf("event %d is not shown included in the checkpoint", ev.Seq)
			}
		}
		if len(included) != 40 {
			t.Errorf("IncludedIn answers for %d events; want the 40 covered (the newer ones left out)", len(included))
		}
		if forgedOnly, _ := s.Trail.IncludedIn(t.Context(), cp, []rolegate.Event{forged}); forgedOnly[forged.Seq] {
			t.Errorf("a forged event is shown included")
		}
	})

	// A filtered export proves every line, across batches, in the
	// checkpoint for the events it covers and in the trail's tree for the
	// newer ones.
	t.Run("ExportProvedEventsAcrossBatches", func(t *testing.T) {
		s := e.Open(t, testkit.NewClock(start).Now)
		growTrail(t, s, 300)
		skey, vkey, _ := audit.GenerateKey("rolegate.test/audit")
		signer, _ := audit.NewSigner(skey)
		verifier, _ := audit.NewVerifier(vkey)
		signCheckpoint(t, s, signer, func(cp audit.Checkpoint) ([]byte, error) { return audit.Sign(cp, signer) })
		growTrail(t, s, 100)
		var buf bytes.Buffer
		w := audit.NewExportWriter(&buf, audit.FormatJSONL)
		if err := s.Trail.ExportProvedEvents(t.Context(), rolegate.AuditFilter{Action: rolegate.ActionRequestCreated}, w.WriteProved); err != nil {
			t.Fatal(err)
		}
		w.Flush()
		rep, err := audit.VerifyExport(&buf, audit.ExportCheck{Verifier: verifier})
		if err != nil || rep.Lines != 400 || len(rep.Trees) != 2 ||
			rep.Trees[0] != (audit.ProvedTree{Size: 300, Root: rep.Trees[0].Root, Events: 300, Signed: "note"}) ||
			rep.Trees[1].Size != 401 || rep.Trees[1].Events != 100 || rep.Trees[1].Signed != "" {
			t.Errorf("VerifyExport(filtered, 400 events) = %+v, %v; want 300 proved in the signed checkpoint, 100 in the tree of 401", rep, err)
		}
	})
}

package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/sqlite"
)

// The store's share of the portal's hot paths, on a real file with the
// production pragmas (WAL, synchronous=FULL: each write is one fsync).
// web's benchmarks add HTTP and rendering on top; docs/PERFORMANCE.md has
// the figures.
//
//	go test -run '^$' -bench . -benchmem ./internal/sqlite

func hotDB(b *testing.B) *sqlite.DB {
	b.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "rolegate.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

func hotActor(subject string, roles ...rolegate.PortalRole) rolegate.Actor {
	return rolegate.Actor{
		Principal: rolegate.Principal{
			Person: rolegate.Person{Issuer: "https://idp.example.com", Subject: subject, Email: subject + "@example.com", Name: subject},
			Roles:  roles,
		},
		ClientIP: "10.1.2.3", UserAgent: "Mozilla/5.0 (bench)", HTTPRequestID: "0123456789abcdef01234567",
	}
}

var hotCatalog = rolegate.NewCatalog([]rolegate.Permission{
	{Name: "api.groups.read", Area: "Groups"}, {Name: "api.projects.read", Area: "Projects"},
})

func hotInput(name string) rolegate.RequestInput {
	return rolegate.RequestInput{
		RoleName: name, Permissions: []string{"api.groups.read", "api.projects.read"},
		Description: "Read-only access for the dashboards.", Justification: "The platform team's dashboards read groups and projects.",
	}
}

// requestContext is a context that can be cancelled, as an HTTP request's
// is: database/sql and the driver watch such a context on every statement,
// which context.Background() would leave out of the measure.
func requestContext(b *testing.B) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	return ctx
}

// BenchmarkLookupSession is what every signed-in page costs before its
// handler runs: the cookie's hash looked up on a read connection.
func BenchmarkLookupSession(b *testing.B) {
	db := hotDB(b)
	limits := rolegate.SessionLimits{Idle: 8 * time.Hour, Absolute: 24 * time.Hour}
	ctx := requestContext(b)
	// Many sessions, as on a busy day; the one looked up is among them.
	var token string
	for i := range 200 {
		t, _, err := sqlite.NewSessions(db).CreateSession(ctx, hotActor(fmt.Sprintf("person-%d", i), rolegate.RoleRequester), rolegate.SessionAuth{AuthTime: time.Now()}, limits, "")
		if err != nil {
			b.Fatal(err)
		}
		token = t
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := sqlite.NewSessions(db).LookupSession(ctx, token, limits); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := sqlite.NewSessions(db).LookupSession(ctx, token, limits); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkCreateRequest is a submission's durable part: the name check,
// the insert and its audit event in one transaction. serial is one
// submitter; parallel is 32 at once (SetParallelism(16) on 2 CPUs), as
// the load run's 32 connections flat out: there writes share commits
// (group commit, groupcommit.go).
func BenchmarkCreateRequest(b *testing.B) {
	requester := hotActor("riley", rolegate.RoleRequester)
	ctx := requestContext(b)
	b.Run("serial", func(b *testing.B) {
		reqs := sqlite.NewRequests(hotDB(b), rolegate.RequestsConfig{})
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			if _, err := reqs.Create(ctx, requester, hotInput(fmt.Sprintf("Bench Role %d", i)), hotCatalog); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		reqs := sqlite.NewRequests(hotDB(b), rolegate.RequestsConfig{})
		var n atomic.Int64
		b.ReportAllocs()
		b.SetParallelism(32 / max(1, runtime.GOMAXPROCS(0)))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := reqs.Create(ctx, requester, hotInput(fmt.Sprintf("Bench Role %d", n.Add(1))), hotCatalog); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkApproveHandOff is an approval that completes a request, up to
// the worker's wake-up: the approval, the queue row and the audit events
// in one transaction, then the hand-off.
func BenchmarkApproveHandOff(b *testing.B) {
	db := hotDB(b)
	handedOff := make(chan int64, 1)
	reqs := sqlite.NewRequests(db, rolegate.RequestsConfig{HandedOff: func(id int64) { handedOff <- id }})
	requester := hotActor("riley", rolegate.RoleRequester)
	approver := hotActor("avery", rolegate.RoleApprover)
	ctx := requestContext(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		b.StopTimer()
		req, err := reqs.Create(ctx, requester, hotInput(fmt.Sprintf("Handoff Role %d", i)), hotCatalog)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := reqs.Approve(ctx, approver, req.ID, req.Binding(), ""); err != nil {
			b.Fatal(err)
		}
		if got := <-handedOff; got != req.ID {
			b.Fatalf("handed off %d; want %d", got, req.ID)
		}
	}
}

// BenchmarkRequestPageReads is the read behind a request page: the
// request with its approvals, its timeline, its notifications and its
// role, in one snapshot.
func BenchmarkRequestPageReads(b *testing.B) {
	db := hotDB(b)
	reqs := sqlite.NewRequests(db, rolegate.RequestsConfig{})
	ctx := requestContext(b)
	req, err := reqs.Create(ctx, hotActor("riley", rolegate.RoleRequester), hotInput("Dashboard Reader"), hotCatalog)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := reqs.Approve(ctx, hotActor("avery", rolegate.RoleApprover), req.ID, req.Binding(), "Fine."); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := reqs.GetRecord(ctx, req.ID); err != nil {
			b.Fatal(err)
		}
	}
}

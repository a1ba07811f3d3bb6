package web_test

import (
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/sso/ssotest"
	"github.com/rolegate/rolegate/internal/testkit"
)

// countRows counts a table's rows straight from the database file.
func (h *harness) countRows(table string) int {
	h.t.Helper()
	db := testkit.OpenReadOnly(h.t, h.App.Store.Path())
	var n int
	if err := db.QueryRowContext(h.t.Context(), "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
		h.t.Fatalf("count %s: %v", table, err)
	}
	return n
}

// fromLoopback is a client whose connections leave from addr (any
// 127.x.y.z works on Linux), as a distinct client address would.
func fromLoopback(addr string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(addr)}, Timeout: 5 * time.Second}
	return &http.Client{
		Timeout:       10 * time.Second,
		Transport:     &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 1},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Issue 12, item 1: anyone could block every sign-in by starting more
// sign-ins than a global bound of stored attempts (10,000), from enough
// addresses to stay under each address's rate limit. Starting a sign-in
// now stores nothing, so after the same flood a person still signs in and
// an approver still re-authenticates.
func TestSignInFloodFromManyAddressesBlocksNobody(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 requests")
	}
	p := newSSOPortal(t, ssoOptions{})
	id := p.fileRequest(p.signIn(rita.Subject), "Flood Survivor")
	eventsBefore := p.countRows("audit_events")

	// 171 addresses × the 60-request burst each: more than the old bound,
	// none of them rate limited.
	const addresses, perAddress = 171, 60
	var wg sync.WaitGroup
	var mu sync.Mutex
	refused := map[int]int{}
	sem := make(chan struct{}, 8)
	for i := range addresses {
		wg.Add(1)
		sem <- struct{}{}
		go func(addr string) {
			defer wg.Done()
			defer func() { <-sem }()
			c := fromLoopback(addr)
			defer c.CloseIdleConnections()
			for range perAddress {
				res, err := c.Get(p.URL + "/auth/login")
				if err != nil {
					t.Errorf("GET /auth/login from %s: %v", addr, err)
					return
				}
				res.Body.Close()
				if res.StatusCode != http.StatusSeeOther {
					mu.Lock()
					refused[res.StatusCode]++
					mu.Unlock()
				}
			}
		}(fmt.Sprintf("127.0.%d.%d", 1+i/250, 1+i%250))
	}
	wg.Wait()
	if len(refused) > 0 {
		t.Errorf("flood answers other than 303, by status: %v; want every sign-in started", refused)
	}
	if got := p.countRows("audit_events"); got != eventsBefore {
		t.Errorf("the flood wrote %d audit events; want none (nothing is stored for a sign-in started)", got-eventsBefore)
	}

	// A person signs in as usual.
	p.signIn(casey.Subject)

	// An approver whose authentication is old re-authenticates and the
	// approval completes.
	p.IdP.MutateNextToken(ssotest.Mutation{AuthTime: time.Now().Add(-2 * time.Hour)})
	approver := p.signIn(alex.Subject)
	hash := regexpFind(t, approver.get(requestURL(id)).Body, `name="payload_hash" value="([0-9a-f]{64})"`)
	authURL := p.startApproval(approver, id, hash)
	res := approver.get(p.atProvider(authURL, alex.Subject))
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != requestURL(id) {
		t.Fatalf("re-authentication after the flood = %d to %q; want 303 to the approved request\n%s", res.StatusCode, res.Header.Get("Location"), res.Body)
	}
	p.wantStatus(id, rolegate.StatusApproved, "after the flood and a re-authenticated approval")
}

package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/views"
)

// reviews lists the pending requests that wait for the approver's
// decision, oldest first: never their own, nor those they already approved
// (which wait for someone else).
func (s *Server) reviews(c echo.Context) error {
	me := sessionFrom(ctx(c)).Principal
	page := pageParam(c)
	f := reviewQueue(me)
	f.OldestFirst, f.Limit, f.Offset = true, perPage, (page-1)*perPage
	list, total, err := s.Requests.List(ctx(c), f)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, views.RequestListPage(s.chrome(c, "reviews"), views.RequestList{
		Title: "Reviews", Intro: "Pending requests from others that wait for your decision, oldest first.", Requests: list,
		Pager: views.Pager{Page: page, PerPage: perPage, Total: total, BaseURL: "/reviews"},
		Empty: "Nothing waits for your review.",
	}))
}

// reviewQueue selects the requests that wait for me's decision: pending,
// filed by someone else, not yet approved by me. The Reviews page lists
// them; the navigation and the home page count them.
func reviewQueue(me rolegate.Principal) rolegate.RequestFilter {
	return rolegate.RequestFilter{Statuses: []rolegate.Status{rolegate.StatusPending}, NotRequester: me.Key(), NotApprovedBy: me.Key()}
}

// home shows what waits for the person.
func (s *Server) home(c echo.Context) error {
	me := sessionFrom(ctx(c)).Principal
	var h views.Home
	if me.Has(rolegate.RoleRequester) {
		_, n, err := s.Requests.List(ctx(c), rolegate.RequestFilter{RequesterKey: me.Key(),
			Statuses: []rolegate.Status{rolegate.StatusPending, rolegate.StatusApproved, rolegate.StatusProvisioning, rolegate.StatusFailed}, Limit: 1})
		if err != nil {
			return err
		}
		h.MyOpen = n
	}
	if me.Has(rolegate.RoleApprover) {
		n, err := s.Requests.Count(ctx(c), reviewQueue(me))
		if err != nil {
			return err
		}
		h.ReviewsWaiting = n
	}
	if me.Has(rolegate.RoleAdmin) {
		_, n, err := s.Requests.List(ctx(c), rolegate.RequestFilter{Statuses: []rolegate.Status{rolegate.StatusFailed}, NotAbandoned: true, Limit: 1})
		if err != nil {
			return err
		}
		h.Failed = n
	}
	return s.render(c, http.StatusOK, views.HomePage(s.chrome(c, ""), h))
}

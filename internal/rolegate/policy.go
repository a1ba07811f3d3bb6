package rolegate

// The rules of who may act on a request live here, so that storage and the
// web layer ask the same question and get the same answer.

// RequiredApprovals is how many distinct approvals a request needs: the
// configured base, plus one when it asks for a sensitive permission.
func RequiredApprovals(base int, sensitive bool) int {
	if base < 1 {
		base = 1
	}
	if sensitive {
		return base + 1
	}
	return base
}

// CanView reports whether p may see request r (its fields and timeline).
func CanView(p Principal, r *Request) bool {
	return CanViewRequestOf(p, r.Requester.Key())
}

// CanViewRequestOf reports whether p may see a request filed by the person
// whose key is requesterKey: CanView, for a request not read in full.
func CanViewRequestOf(p Principal, requesterKey string) bool {
	return requesterKey == p.Key() || p.Has(RoleApprover) || p.Has(RoleAuditor) || p.Has(RoleAdmin)
}

// CheckDecide returns nil when p may approve or reject r now, or the reason not.
// Nobody decides on their own request, whatever their groups.
func CheckDecide(p Principal, r *Request) error {
	switch {
	case !p.Has(RoleApprover):
		return Errorf(EFORBIDDEN, "Only approvers can decide on requests.")
	case r.OwnedBy(p.Person):
		return Errorf(EFORBIDDEN, "You cannot approve or reject your own request.")
	case r.Status != StatusPending:
		return Errorf(ECONFLICT, "This request is %s; it can no longer be decided.", r.Status.Label())
	case r.ApprovedBy(p.Person):
		return Errorf(ECONFLICT, "You have already approved this request.")
	}
	return nil
}

// CheckApprove returns nil when p may approve r now with comment, having
// reviewed the payload whose SHA-256 is seenHash; or the reason not (a
// field error for the comment). The approval is bound to that payload, so
// a hash that is not the one on file is refused.
func CheckApprove(p Principal, r *Request, seenHash, comment string) error {
	if err := CheckDecide(p, r); err != nil {
		return err
	}
	if msg := ValidateComment(comment, false); msg != "" {
		return Invalid(FieldErrors{FieldComment: msg})
	}
	if seenHash != r.Binding() {
		return Errorf(ECONFLICT, "The call you reviewed (its method, path and body) is not the one on file; reload the request and review it again.")
	}
	return nil
}

// CheckCancel returns nil when p may cancel r now.
func CheckCancel(p Principal, r *Request) error {
	switch {
	case !r.OwnedBy(p.Person):
		return Errorf(EFORBIDDEN, "Only the person who filed a request can cancel it.")
	case r.Status != StatusPending:
		return Errorf(ECONFLICT, "This request is %s; only pending requests can be cancelled.", r.Status.Label())
	}
	return nil
}

// CheckRetry returns nil when p may put the failed provisioning of r back
// in the queue.
func CheckRetry(p Principal, r *Request) error {
	switch {
	case !p.Has(RoleAdmin):
		return Errorf(EFORBIDDEN, "Only admins can retry provisioning.")
	case r.Status != StatusFailed:
		return Errorf(ECONFLICT, "This request is %s; only failed requests can be retried.", r.Status.Label())
	case r.Abandoned():
		return Errorf(ECONFLICT, "Provisioning of this request was abandoned; it can no longer be retried.")
	}
	return nil
}

// CheckAbandon returns nil when p may give up on the failed provisioning of
// r: the request stays failed, and is no longer offered for a retry.
func CheckAbandon(p Principal, r *Request) error {
	switch {
	case !p.Has(RoleAdmin):
		return Errorf(EFORBIDDEN, "Only admins can abandon provisioning.")
	case r.Status != StatusFailed:
		return Errorf(ECONFLICT, "This request is %s; only failed provisioning can be abandoned.", r.Status.Label())
	case r.Abandoned():
		return Errorf(ECONFLICT, "Provisioning of this request was already abandoned.")
	}
	return nil
}

// Package rolegate holds the domain of the portal: role requests, their life
// cycle, approvals, the people acting on them and the events they leave in
// the audit trail. It depends on the standard library only; storage (sqlite),
// HTTP (web) and upstream calls (adminapi) depend on it, never the reverse.
package rolegate

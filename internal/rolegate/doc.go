// Package rolegate is the domain of the portal: role requests, their life
// cycle and what each transition causes (transitions.go), approvals, the
// people acting on them, the events they leave in the audit trail, who
// hears of what (outbox.go), sessions, the provisioning queue and the
// organization's picture, with the interfaces of the services over them
// (services.go). It depends on the standard library only; the store
// (internal/sqlite) implements the services, and the web layer, the
// workers and the notifier use them, never the reverse. internal/app
// wires the one to the others.
package rolegate

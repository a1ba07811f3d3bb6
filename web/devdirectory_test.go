package web

import (
	"strings"
	"testing"

	"github.com/rolegate/rolegate/internal/simulator"
)

// Dev mode's organization has a user for every dev persona, by the email
// they sign in with, so that a dev sign-in is matched to the
// organization's user; and each of its groups has members.
func TestEveryDevPersonaIsAUserOfTheDevOrganization(t *testing.T) {
	sim := simulator.New(simulator.Options{Users: simulator.DevUsers(), Groups: simulator.DevGroups()})
	for _, p := range devPersonas {
		if _, ok := sim.UserByEmail(strings.ToUpper(p.Email)); !ok {
			t.Errorf("dev persona %s (%s) is no user of the dev organization", p.Name, p.Email)
		}
	}
	for _, g := range sim.Groups() {
		if len(sim.GroupMembers(g.ID)) == 0 {
			t.Errorf("dev group %s has no members", g.Name)
		}
	}
}

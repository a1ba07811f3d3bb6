package e2e

import (
	"testing"
	"time"
)

func TestRequesterFilesARequest(t *testing.T) {
	p := startPortal(t, nil)
	b := newBrowser(t)
	requester := p.signIn(b, riley)
	requester.follow(link("New request"))
	requester.typeInto("Role name", "e2e data readers")
	requester.click(permissionBox("api.groups.read"))
	requester.typeInto("Justification", "The data team reads group membership for the quarterly access review.")
	requester.follow(button("Submit request"))
	requester.waitForStatus("Pending", 5*time.Second)
}

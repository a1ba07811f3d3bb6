//go:build !linux

package e2e

import "os/exec"

// dieWithParent has no equivalent of Linux's parent-death signal here; the
// test's cleanup stops the portal.
func dieWithParent(*exec.Cmd) {}

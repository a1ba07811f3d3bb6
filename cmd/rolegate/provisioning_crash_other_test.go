//go:build !linux

package main

import "os/exec"

// crashDieWithParent has no equivalent outside Linux; the test's cleanup
// kills the portal instead.
func crashDieWithParent(*exec.Cmd) {}

package main

import (
	"os/exec"
	"syscall"
)

// crashDieWithParent has the kernel kill the portal if the test process
// dies first (a timeout's panic), so that no portal outlives its test.
func crashDieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

package e2e

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel kill the portal if the test process dies
// first (a timeout's panic, a kill), so no portal outlives its test.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

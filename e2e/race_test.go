//go:build race

package e2e

// raceEnabled: the tests run under -race, so the binary under test is built
// with it too. It then reuses the race-built packages the rest of
// `go test -race ./...` compiles (no second build of the whole tree), and
// a data race in the real portal fails the journey that provoked it.
const raceEnabled = true

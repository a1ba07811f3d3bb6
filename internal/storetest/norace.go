//go:build !race

package storetest

// raceDetector is whether the tests run under the race detector.
const raceDetector = false

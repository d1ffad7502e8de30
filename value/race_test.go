//go:build race

package value_test

// raceEnabled: the race detector slows the map's loops tenfold, so the
// longest map tests run a tenth of their cycles under it.
const raceEnabled = true

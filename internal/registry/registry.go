// Package registry records the functions registered with spawn and whether
// this process has started each, so that the test harness can report
// registrations no test uses.
package registry

import (
	"bufio"
	"os"
	"slices"
	"sync"
)

// LogEnv names an environment variable that the test harness sets to a file
// path: every process (children and grandchildren too) appends the names it
// starts to that file, so that starts made by descendants are counted.
const LogEnv = "SHMKIT_TEST_STARTED_LOG"

var (
	mu      sync.Mutex
	names   = map[string]bool{} // name → started
	ordered []string
)

// Add records a registration and reports false if name was already taken.
func Add(name string) bool {
	mu.Lock()
	defer mu.Unlock()
	if _, ok := names[name]; ok {
		return false
	}
	names[name] = false
	ordered = append(ordered, name)
	return true
}

// Has reports whether name is registered.
func Has(name string) bool {
	mu.Lock()
	defer mu.Unlock()
	_, ok := names[name]
	return ok
}

// MarkStarted records that a child running name was started.
func MarkStarted(name string) {
	mu.Lock()
	defer mu.Unlock()
	if started := names[name]; started {
		return
	}
	names[name] = true
	if path := os.Getenv(LogEnv); path != "" {
		// O_APPEND writes of one short line are atomic between processes.
		if f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600); err == nil {
			f.WriteString(name + "\n")
			f.Close()
		}
	}
}

// Unstarted returns the registered names never started, in registration
// order.
func Unstarted() []string {
	mu.Lock()
	defer mu.Unlock()
	logged := map[string]bool{}
	if path := os.Getenv(LogEnv); path != "" {
		if f, err := os.Open(path); err == nil {
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				logged[sc.Text()] = true
			}
			f.Close()
		}
	}
	var out []string
	for _, n := range ordered {
		if !names[n] && !logged[n] {
			out = append(out, n)
		}
	}
	return slices.Clip(out)
}

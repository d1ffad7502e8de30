package prefetch

import (
	"os"
	"runtime"
	"strings"
	"testing"
)

// TestEnabled: on Linux/amd64, Enabled (CPUID's PRFCHW bit) agrees with
// the kernel's reading of it, "3dnowprefetch" among the flags in
// /proc/cpuinfo. Only where the kernel takes the bit from CPUID alone is
// the converse checked: on AMD processors it sets the flag without the bit
// (the bit may be hidden in a VM), so there Enabled may be false with the
// flag listed.
func TestEnabled(t *testing.T) {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		if Enabled {
			t.Fatalf("Enabled on %s/%s, where Write is not implemented", runtime.GOOS, runtime.GOARCH)
		}
		t.Skip("Write prefetches only on amd64")
	}
	info, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		t.Skip(err)
	}
	var flags []string
	vendor := ""
	for _, line := range strings.Split(string(info), "\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(name) {
		case "vendor_id":
			if vendor == "" {
				vendor = strings.TrimSpace(value)
			}
		case "flags":
			if flags == nil {
				flags = strings.Fields(value)
			}
		}
	}
	if flags == nil {
		t.Skip("no flags line in /proc/cpuinfo")
	}
	listed := false
	for _, f := range flags {
		listed = listed || f == "3dnowprefetch"
	}
	if Enabled && !listed {
		t.Fatal("CPUID reports PRFCHW, and /proc/cpuinfo does not list 3dnowprefetch")
	}
	if vendor == "GenuineIntel" && listed && !Enabled {
		t.Fatal("/proc/cpuinfo lists 3dnowprefetch on an Intel processor, and CPUID does not report PRFCHW")
	}
	t.Logf("vendor %s, Enabled %v, 3dnowprefetch listed %v", vendor, Enabled, listed)
}

// TestWrite: prefetching changes nothing in memory, at any offset in a
// line and at the ends of a buffer. Where Enabled is false it has nothing
// to run (callers never call Write then) and checks nothing.
func TestWrite(t *testing.T) {
	buf := make([]uint64, 64)
	for i := range buf {
		buf[i] = uint64(i) * 0x9E3779B97F4A7C15
	}
	for i := range buf {
		if Enabled {
			Write(&buf[i])
		}
	}
	for i := range buf {
		if want := uint64(i) * 0x9E3779B97F4A7C15; buf[i] != want {
			t.Fatalf("word %d = %#x after Write, want %#x", i, buf[i], want)
		}
	}
}

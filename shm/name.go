package shm

import (
	"fmt"
	"strconv"
)

// MaxNameLen is the longest name, in bytes, of a segment or an object.
const MaxNameLen = 32

// ValidateName reports whether name can name a named segment or an object:
// 1 to 32 bytes of A-Z a-z 0-9 '.' '_' '-', and not "." or "..". The error
// wraps ErrBadName and says what is wrong.
func ValidateName(name string) error {
	if err := nameProblem(name); err != "" {
		return fmt.Errorf("%w %s: %s (names are 1 to %d bytes of A-Z a-z 0-9 . _ -)",
			ErrBadName, strconv.Quote(name), err, MaxNameLen)
	}
	return nil
}

func nameProblem(name string) string {
	switch {
	case name == "":
		return "empty"
	case len(name) > MaxNameLen:
		return fmt.Sprintf("%d bytes long", len(name))
	case name == "." || name == "..":
		return "reserved"
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !nameByte(c) {
			if c < 0x20 || c >= 0x7f {
				return fmt.Sprintf("byte 0x%02x at %d not allowed", c, i)
			}
			return fmt.Sprintf("byte %q at %d not allowed", c, i)
		}
	}
	return ""
}

func nameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '.' || c == '_' || c == '-'
}

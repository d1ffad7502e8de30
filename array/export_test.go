package array

// OffListLen is the offset of a list's length word.
const OffListLen = offListLen

// SetAppendHook sets the function Append and Extend call after writing the
// elements and before publishing them; nil removes it.
func SetAppendHook(f func()) { testHookAppend = f }

// The layout of an array object, for the external tests.
const (
	OffLock   = offLock
	OffData   = offData
	FormArray = formArray
)

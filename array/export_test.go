package array

// The layout of an array object, for the external tests.
const (
	OffLock   = offLock
	OffData   = offData
	FormArray = formArray
)

package spawn

// SetMainCalled sets whether Main was called, and returns the old value.
func SetMainCalled(v bool) bool { return mainCalled.Swap(v) }

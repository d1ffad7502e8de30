package shm

// Offsets for the corruption tables of the external tests.
const (
	OffVersion    = offVersion
	OffHeaderSize = offHeaderSize
	OffSize       = offSize
	OffDirOffset  = offDirOffset
	OffDirCap     = offDirCap
	OffHeapOffset = offHeapOffset
	OffHeapNext   = offHeapNext
	OffDirUsed    = offDirUsed
	EntState      = entState
	EntKind       = entKind
	EntOffset     = entOffset
	EntSize       = entSize
	EntName       = entName
)

// SetClaimHook makes Alloc call f while it holds the allocation lock, after
// writing the new entry and before advancing the heap.
func SetClaimHook(f func(name string)) { testHookClaim = f }

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

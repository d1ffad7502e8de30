#include "textflag.h"

// func storeRelease64(p *uint64, v uint64)
//
// A plain MOV: under x86-TSO a store is not reordered with earlier loads or
// stores, so it is a release store. Being an assembly function, the call is
// also a compiler barrier.
TEXT ·storeRelease64(SB), NOSPLIT|NOFRAME, $0-16
	MOVQ	p+0(FP), AX
	MOVQ	v+8(FP), BX
	MOVQ	BX, 0(AX)
	RET

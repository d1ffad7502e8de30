package fence

// storeRelease64 stores v at *p with a plain MOV.
//
//go:noescape
func storeRelease64(p *uint64, v uint64)

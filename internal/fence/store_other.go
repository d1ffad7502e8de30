//go:build !amd64

package fence

import "sync/atomic"

// storeRelease64 is never reached off amd64 (light stays false); it is
// defined for the build.
func storeRelease64(p *uint64, v uint64) { atomic.StoreUint64(p, v) }

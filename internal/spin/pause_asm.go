//go:build amd64 || arm64

package spin

// pause executes one spin-wait hint instruction.
//
//go:noescape
func pause()

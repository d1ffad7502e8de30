//go:build !amd64 && !arm64

package spin

var sink uint32

// pause burns a few cycles where no spin-wait hint instruction is wired up.
func pause() { sink++ }

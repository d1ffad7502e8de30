package testutil

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/shmkit/shmkit/internal/holders"
	"github.com/shmkit/shmkit/internal/proc"
)

// FuzzInput reads a fuzz target's input as a stream of small numbers and
// words. Past the end of the input it reads zeros.
type FuzzInput struct{ b []byte }

// NewFuzzInput returns a reader of b.
func NewFuzzInput(b []byte) *FuzzInput { return &FuzzInput{b} }

// More reports whether input is left.
func (in *FuzzInput) More() bool { return len(in.b) > 0 }

// Next returns the next byte, and false when the input is exhausted.
func (in *FuzzInput) Next() (int, bool) {
	if len(in.b) == 0 {
		return 0, false
	}
	v := int(in.b[0])
	in.b = in.b[1:]
	return v, true
}

// Byte returns the next byte, or 0 when the input is exhausted.
func (in *FuzzInput) Byte() int {
	v, _ := in.Next()
	return v
}

// U64 returns the next 8 bytes (fewer at the end, zero-padded) as a
// native-endian word, as a peer would write it into shared memory.
func (in *FuzzInput) U64() uint64 {
	var w [8]byte
	n := copy(w[:], in.b)
	in.b = in.b[n:]
	return binary.NativeEndian.Uint64(w[:])
}

// Pick returns one of vals, chosen by the next byte, or an arbitrary word
// from the input: the values that matter to a protocol are then as likely
// as noise.
func (in *FuzzInput) Pick(vals ...uint64) uint64 {
	if i := in.Byte() % (len(vals) + 1); i < len(vals) {
		return vals[i]
	}
	return in.U64()
}

// Cancelled is a context that has already ended: blocking calls made with
// it return at once instead of waiting for a peer that does not exist.
var Cancelled = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// Process identities that a hostile peer may write but a fuzzer could not
// guess: this process, pid 1 (alive, and not this process), and a dead
// process (this pid with another start time: what pid reuse leaves behind).
var (
	SelfID = proc.Self()
	Pid1ID = func() proc.Identity {
		start, err := proc.StartTime(1)
		if err != nil {
			return 0
		}
		return proc.Make(1, start)
	}()
	DeadID = proc.Make(SelfID.Pid(), uint64(SelfID.Start())+1)
)

// Scribble writes a word from word at an input-chosen offset of mem, a
// multiple of 4 that need not be one of 8, so that a word may straddle two
// fields. mem must hold at least 8 bytes.
func Scribble(in *FuzzInput, mem []byte, word func(*FuzzInput) uint64) {
	pos := in.Byte() * 4 % (len(mem) - 7)
	binary.NativeEndian.PutUint64(mem[pos:], word(in))
}

// FillTable writes one word from word into every slot of the holder table
// at off in mem.
func FillTable(in *FuzzInput, mem []byte, off int, word func(*FuzzInput) uint64) {
	w := word(in)
	for i := 0; i < holders.Slots; i++ {
		binary.NativeEndian.PutUint64(mem[off+holders.Offset(i):], w)
	}
}

// Catch runs fn and returns what it panicked with, if it did.
func Catch(fn func()) (msg string, panicked bool) {
	defer func() {
		if r := recover(); r != nil {
			msg, panicked = fmt.Sprint(r), true
		}
	}()
	fn()
	return "", false
}

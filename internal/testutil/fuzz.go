package testutil

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
	"unsafe"

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

// HolderWord returns a word a buggy or hostile peer writes into an object
// with a holder table: arbitrary bytes from the input, 0 or all ones, this
// process's identity, a holder slot naming this process, pid 1 or a dead
// process, a dead party arriving, or two of the object's boundary values.
func HolderWord(in *FuzzInput, boundary []uint32) uint64 {
	low := func() uint64 { return uint64(in.Byte()<<8|in.Byte()) & holders.LowMask }
	switch in.Byte() % 9 {
	case 0:
		return in.U64()
	case 1:
		return 0
	case 2:
		return ^uint64(0)
	case 3:
		return uint64(SelfID)
	case 4:
		return holders.Pack(SelfID, low())
	case 5:
		return holders.Pack(Pid1ID, low())
	case 6:
		return holders.Pack(DeadID, low())
	case 7:
		return holders.Pack(DeadID, holders.MaxLow) // a dead party, arriving
	default:
		n := len(boundary)
		return uint64(boundary[in.Byte()%n]) | uint64(boundary[in.Byte()%n])<<32
	}
}

// Cancelled is a context that has already ended: blocking calls made with
// it return at once instead of waiting for a peer that does not exist.
var Cancelled = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// TinyWait is the deadline of the contexts that let a blocking call reach
// its futex wait before it gives up; TinyWaits is how many one fuzz run
// may use, since each costs a tick of the timer (up to a millisecond), and
// inputs that repeat one byte would otherwise take seconds.
const (
	TinyWait  = 200 * time.Microsecond
	TinyWaits = 2
)

// FuzzContext returns the context for a blocking operation: Cancelled, or,
// when op is 0x80 to 0x8f and *left is not 0, one that ends after TinyWait
// (and then *left goes down by one). Start *left at TinyWaits.
func FuzzContext(op int, left *int) (context.Context, context.CancelFunc) {
	if op&0xf0 == 0x80 && *left > 0 {
		*left--
		return context.WithTimeout(context.Background(), TinyWait)
	}
	return Cancelled, func() {}
}

// IsCtxErr reports whether err is the error of ctx, which has ended.
func IsCtxErr(ctx context.Context, err error) bool {
	return err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err())
}

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

// SelfTag is the holder tag of this process.
var SelfTag = holders.SelfTag()

// Holders summarises a holder table as the operations that read it see it.
type Holders struct {
	Empty bool // every slot free
	Room  bool // a free slot, or one of this process's with room for a hold
	Held  bool // a slot of this process with a count
	Ours  int  // the holds counted in this process's slots
}

// ReadHolders reads the holder table at off in mem.
func ReadHolders(mem []byte, off int) Holders {
	h := Holders{Empty: true}
	for i := 0; i < holders.Slots; i++ {
		v := atomic.LoadUint64((*uint64)(unsafe.Pointer(&mem[off+holders.Offset(i)])))
		if v != 0 {
			h.Empty = false
		}
		switch {
		case v == 0:
			h.Room = true
		case holders.Tag(v) == SelfTag:
			h.Room = h.Room || holders.Low(v) < holders.MaxLow
			h.Held = h.Held || holders.Low(v) != 0
			h.Ours += int(holders.Low(v))
		}
	}
	return h
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

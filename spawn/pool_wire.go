package spawn

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/shmkit/shmkit/shm"
)

// The pool's messages.
//
// A request (parent → worker, on the worker's SPSC ring) and a result
// (worker → parent, on the shared result Queue) are each a body cut into
// fragments that fit one message:
//
//	fragment  = id u64 | slot u32 | flags u32 | a piece of the body
//	            (flags bit 0: last fragment; slot: the worker's slot, in results)
//	request   = name length u8 | name | count u32 | count × (length u32 | input)
//	result    = count u32 | count × (status u8 | length u32 | output or error text)
//
// id names one dispatch of a request to one worker: a retry gets a new id,
// so fragments of a dead worker's attempt never mix with its retry's.
// Fragments of one body arrive in order: each ring and each producer of
// the Queue is first-in, first-out.

const (
	fragHeader = 16
	flagLast   = 1
	maxName    = 255
)

var errWire = fmt.Errorf("spawn: malformed pool message: %w", shm.ErrCorrupt)

type fragment struct {
	id    uint64
	slot  uint32
	last  bool
	piece []byte
}

func putFragment(dst []byte, id uint64, slot uint32, last bool, piece []byte) []byte {
	var h [fragHeader]byte
	binary.LittleEndian.PutUint64(h[0:], id)
	binary.LittleEndian.PutUint32(h[8:], slot)
	if last {
		binary.LittleEndian.PutUint32(h[12:], flagLast)
	}
	return append(append(dst, h[:]...), piece...)
}

func parseFragment(b []byte) (fragment, error) {
	if len(b) < fragHeader {
		return fragment{}, errWire
	}
	flags := binary.LittleEndian.Uint32(b[12:])
	if flags&^flagLast != 0 {
		return fragment{}, errWire
	}
	return fragment{
		id:    binary.LittleEndian.Uint64(b[0:]),
		slot:  binary.LittleEndian.Uint32(b[8:]),
		last:  flags&flagLast != 0,
		piece: b[fragHeader:],
	}, nil
}

// appendRequest appends the body of a request for inputs lo to hi-1.
func appendRequest(dst []byte, task string, in *inputs, lo, hi int) []byte {
	dst = append(dst, byte(len(task)))
	dst = append(dst, task...)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(hi-lo))
	for i := lo; i < hi; i++ {
		it := in.item(i)
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(it)))
		dst = append(dst, it...)
	}
	return dst
}

// parseRequest splits a request body. The items alias b.
func parseRequest(b []byte) (task string, items [][]byte, err error) {
	if len(b) < 1 || len(b) < 1+int(b[0])+4 {
		return "", nil, errWire
	}
	n := int(b[0])
	task = string(b[1 : 1+n])
	b = b[1+n:]
	count := binary.LittleEndian.Uint32(b)
	b = b[4:]
	if uint64(count) > uint64(len(b))/4 {
		return "", nil, errWire
	}
	items = make([][]byte, 0, count)
	for i := uint32(0); i < count; i++ {
		if len(b) < 4 {
			return "", nil, errWire
		}
		l := binary.LittleEndian.Uint32(b)
		b = b[4:]
		if uint64(l) > uint64(len(b)) {
			return "", nil, errWire
		}
		items = append(items, b[:l:l])
		b = b[l:]
	}
	if len(b) != 0 {
		return "", nil, errWire
	}
	return task, items, nil
}

// itemResult is one item's outcome.
type itemResult struct {
	status byte
	data   []byte // output, or error text
}

func appendResultHeader(dst []byte, count int) []byte {
	return binary.LittleEndian.AppendUint32(dst, uint32(count))
}

func appendResultItem(dst []byte, status byte, data []byte) []byte {
	dst = append(dst, status)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(data)))
	return append(dst, data...)
}

// parseResult splits a result body. The data alias b.
func parseResult(b []byte, want int) ([]itemResult, error) {
	if len(b) < 4 || binary.LittleEndian.Uint32(b) != uint32(want) {
		return nil, errWire
	}
	b = b[4:]
	out := make([]itemResult, want)
	for i := range out {
		if len(b) < 5 {
			return nil, errWire
		}
		st, l := b[0], binary.LittleEndian.Uint32(b[1:])
		b = b[5:]
		if st > statusPanic || uint64(l) > uint64(len(b)) {
			return nil, errWire
		}
		out[i] = itemResult{status: st, data: b[:l:l]}
		b = b[l:]
	}
	if len(b) != 0 {
		return nil, errWire
	}
	return out, nil
}

// errNotRegistered is a worker's answer for a task its binary lacks.
var errNotRegistered = errors.New("not registered in the worker's program (register tasks at package level)")

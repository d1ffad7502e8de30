package value

import (
	"encoding/binary"
	"math/bits"
)

// The hash of a map key. Every process computes it the same way from the
// seed in the map's geometry, so it is part of the layout (docs/layout.md);
// the seed is drawn at random when the map is created, so that no one can
// choose keys that share a bucket without reading the map's memory.
//
// It is a multiply-fold hash in the family of wyhash (Wang Yi) and
// rapidhash: each 64-bit word of the key (little-endian, the last one
// zero-padded) is mixed into the state by fold, the high and low halves of
// a 64×64→128-bit product xored together, which every 64-bit machine
// computes in one or two instructions.
const (
	hashLen = 0x9e3779b97f4a7c15 // multiplies the length into the initial state
	hashMul = 0xbf58476d1ce4e5b9 // folds each word
	hashFin = 0x94d049bb133111eb // folds the final state
)

// fold returns the high and low halves of a×b xored together.
func fold(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// hashKey returns the 64-bit hash of key under seed. Its low bits pick the
// bucket, its high 32 bits are the tag stored in the entry.
func hashKey(seed uint64, key []byte) uint64 {
	h := seed ^ uint64(len(key))*hashLen
	for len(key) >= 8 {
		h = fold(h^binary.LittleEndian.Uint64(key), hashMul)
		key = key[8:]
	}
	if len(key) > 0 {
		var w uint64
		for i, c := range key {
			w |= uint64(c) << (8 * i)
		}
		h = fold(h^w, hashMul)
	}
	return fold(h, hashFin)
}

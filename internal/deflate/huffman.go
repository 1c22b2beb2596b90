package deflate

import (
	"math/bits"
	"slices"
)

// huffBuilder builds length-limited Huffman codes. It keeps its scratch space so that
// the several codes built per block and pass do not allocate.
type huffBuilder struct {
	syms    []uint16
	weights []uint64
	prev    []uint64
	cur     []uint64
	leaf    [maxCodeBits + 1][]bool
}

// lengths sets lens[i] to the code length of symbol i for an optimal prefix code of
// freq limited to maxBits bits, by package-merge. Unused symbols get 0. When fewer
// than two symbols are used, a second one is given a length too, so the code is
// always complete: some decoders refuse incomplete codes.
func (h *huffBuilder) lengths(freq []uint32, maxBits int, lens []uint8) {
	clear(lens[:len(freq)])
	h.syms = h.syms[:0]
	for i, f := range freq {
		if f != 0 {
			h.syms = append(h.syms, uint16(i))
		}
	}
	switch len(h.syms) {
	case 0:
		lens[0], lens[1] = 1, 1
		return
	case 1:
		lens[h.syms[0]] = 1
		if h.syms[0] == 0 {
			lens[1] = 1
		} else {
			lens[0] = 1
		}
		return
	}
	// Ties broken by symbol keep the result independent of the sort's internals.
	slices.SortFunc(h.syms, func(a, b uint16) int {
		if freq[a] != freq[b] {
			if freq[a] < freq[b] {
				return -1
			}
			return 1
		}
		return int(a) - int(b)
	})
	n := len(h.syms)
	h.weights = h.weights[:0]
	for _, s := range h.syms {
		h.weights = append(h.weights, uint64(freq[s]))
	}
	// Package-merge: list 1 is the leaves; list j merges the leaves with the pairs of
	// list j-1. Only the first 2n-2 items of any list can be selected, so lists are
	// cut there; leaf[j] remembers which items of list j are leaves, which is all the
	// selection step needs.
	limit := 2*n - 2
	h.prev = append(h.prev[:0], h.weights...)
	h.leaf[1] = h.leaf[1][:0]
	for range n {
		h.leaf[1] = append(h.leaf[1], true)
	}
	for j := 2; j <= maxBits; j++ {
		h.cur = h.cur[:0]
		fl := h.leaf[j][:0]
		li, pi := 0, 0
		np := len(h.prev) / 2
		for len(h.cur) < limit && (li < n || pi < np) {
			if pi >= np || (li < n && h.weights[li] <= h.prev[2*pi]+h.prev[2*pi+1]) {
				h.cur = append(h.cur, h.weights[li])
				fl = append(fl, true)
				li++
			} else {
				h.cur = append(h.cur, h.prev[2*pi]+h.prev[2*pi+1])
				fl = append(fl, false)
				pi++
			}
		}
		h.leaf[j] = fl
		h.prev, h.cur = h.cur, h.prev
	}
	count := limit
	for j := maxBits; j >= 1 && count > 0; j-- {
		leaves := 0
		for _, isLeaf := range h.leaf[j][:count] {
			if isLeaf {
				lens[h.syms[leaves]]++
				leaves++
			}
		}
		count = 2 * (count - leaves)
	}
}

// canonicalCodes sets codes[i] to the canonical code of symbol i with length lens[i],
// bit-reversed because deflate sends Huffman codes most significant bit first into an
// LSB-first bit stream.
func canonicalCodes(lens []uint8, codes []uint16) {
	var count [maxCodeBits + 1]uint16
	for _, l := range lens {
		count[l]++
	}
	count[0] = 0
	var next [maxCodeBits + 2]uint16
	code := uint16(0)
	for b := 1; b <= maxCodeBits; b++ {
		code = (code + count[b-1]) << 1
		next[b] = code
	}
	for i, l := range lens {
		if l == 0 {
			codes[i] = 0
			continue
		}
		codes[i] = bits.Reverse16(next[l]) >> (16 - l)
		next[l]++
	}
}

package deflate

import (
	"encoding/binary"
	"math"
	"math/bits"
)

// The match finder is a binary tree of the window's suffixes per 4-byte hash, after
// libdeflate's bt_matchfinder: walking down the tree from the newest position visits
// older positions in an order that yields matches of increasing length, and the same
// walk re-roots the tree at the new position. Length-3 matches, which the tree does not
// key on, come from a small two-way hash table of the newest 3-byte sequences.
const (
	hash3Bits = 15
	hash4Bits = 16
	// noPos is older than any window cutoff, so an empty slot ends every walk.
	noPos = math.MinInt32
)

// match is one candidate: a length and a distance (1-32767).
type match struct {
	length uint16
	dist   uint16
}

type matchFinder struct {
	hash3 *[2 << hash3Bits]int32 // two ways per bucket: newest, then second newest
	hash4 *[1 << hash4Bits]int32
	// child holds the left and right subtrees of each position in the window,
	// indexed by position modulo the window: a slot is reused only once its
	// position has left the window, and no walk reaches such a position.
	child *[2 * windowSize]int32
}

func newMatchFinder() matchFinder {
	return matchFinder{
		hash3: new([2 << hash3Bits]int32),
		hash4: new([1 << hash4Bits]int32),
		child: new([2 * windowSize]int32),
	}
}

func (mf *matchFinder) reset() {
	for i := range mf.hash3 {
		mf.hash3[i] = noPos
	}
	for i := range mf.hash4 {
		mf.hash4[i] = noPos
	}
}

func hash(seq uint32, bits uint) uint32 {
	return (seq * 0x1E35A7BD) >> (32 - bits)
}

// extend returns how far a and b agree, starting at l (which they agree up to) and
// stopping at max. Both must hold at least max bytes.
func extend(a, b []byte, l, max int) int {
	for l+8 <= max {
		x := binary.LittleEndian.Uint64(a[l:]) ^ binary.LittleEndian.Uint64(b[l:])
		if x != 0 {
			return l + bits.TrailingZeros64(x)>>3
		}
		l += 8
	}
	for l < max && a[l] == b[l] {
		l++
	}
	return l
}

// advance inserts position pos of buf into the tree and appends to out the matches
// found on the way, of strictly increasing length. maxLen is the longest match the
// input allows at pos (at least 4); the walk stops early at a match of niceLen (at
// most maxLen) or after depth nodes.
func (mf *matchFinder) advance(buf []byte, pos, maxLen, niceLen, depth int, out []match) []match {
	cur := buf[pos : pos+maxLen]
	cutoff := int32(pos - windowSize)
	seq := binary.LittleEndian.Uint32(cur)
	node, node2 := mf.insertHash3(seq, pos)
	if node > cutoff {
		seq3 := seq & 0xffffff
		if binary.LittleEndian.Uint32(buf[node:])&0xffffff == seq3 {
			out = append(out, match{3, uint16(int32(pos) - node)})
		} else if node2 > cutoff && binary.LittleEndian.Uint32(buf[node2:])&0xffffff == seq3 {
			out = append(out, match{3, uint16(int32(pos) - node2)})
		}
	}

	child := mf.child
	node = mf.insertHash4(seq, pos)
	lt := 2 * (uint32(pos) & windowMask) // slot awaiting the next node smaller than cur
	gt := lt + 1                         // slot awaiting the next node greater than cur
	if node <= cutoff {
		child[lt], child[gt] = noPos, noPos
		return out
	}
	bestLen := minMatch
	bestLt, bestGt, l := 0, 0, 0
	for {
		m := buf[node : int(node)+maxLen]
		if m[l] == cur[l] {
			l = extend(cur, m, l+1, maxLen)
			if l > bestLen {
				bestLen = l
				out = append(out, match{uint16(l), uint16(int32(pos) - node)})
				if l >= niceLen {
					// cur equals node as far as it can see: take over node's subtrees.
					n := 2 * (uint32(node) & windowMask)
					child[lt], child[gt] = child[n], child[n+1]
					return out
				}
			}
		}
		n := 2 * (uint32(node) & windowMask)
		if m[l] < cur[l] {
			child[lt] = node
			lt = n + 1
			node = child[lt]
			bestLt = l
			l = min(l, bestGt)
		} else {
			child[gt] = node
			gt = n
			node = child[gt]
			bestGt = l
			l = min(l, bestLt)
		}
		depth--
		if node <= cutoff || depth <= 0 {
			child[lt], child[gt] = noPos, noPos
			return out
		}
	}
}

// insert is advance for a position whose matches are not wanted (inside a long match,
// or in the dictionary): it leaves the tree and the hash tables exactly as advance
// would, and most positions of text-heavy input come through here. Not needing the
// matches' lengths, it compares no further than niceLen, where advance extends every
// match to its end, and it skips advance's bookkeeping of matches: on 16 MiB of the
// node_modules-like bench tar (BenchmarkEncoder with SLIM_DEFLATE_BENCH) the encoder
// takes 5-10% less time, same bytes; BenchmarkEncoderModules is that case in small.
// Sharing the walk's step with advance through a helper or a walk struct cost 10%:
// the compiler neither inlines it nor keeps the struct in registers.
func (mf *matchFinder) insert(buf []byte, pos, niceLen, depth int) {
	cur := buf[pos : pos+niceLen]
	cutoff := int32(pos - windowSize)
	seq := binary.LittleEndian.Uint32(cur)
	mf.insertHash3(seq, pos)
	child := mf.child
	node := mf.insertHash4(seq, pos)
	lt := 2 * (uint32(pos) & windowMask)
	gt := lt + 1
	if node <= cutoff {
		child[lt], child[gt] = noPos, noPos
		return
	}
	bestLt, bestGt, l := 0, 0, 0
	for {
		m := buf[node : int(node)+niceLen]
		if m[l] == cur[l] {
			if l = extend(cur, m, l+1, niceLen); l == niceLen {
				n := 2 * (uint32(node) & windowMask)
				child[lt], child[gt] = child[n], child[n+1]
				return
			}
		}
		n := 2 * (uint32(node) & windowMask)
		if m[l] < cur[l] {
			child[lt], lt = node, n+1
			node, bestLt, l = child[lt], l, min(l, bestGt)
		} else {
			child[gt], gt = node, n
			node, bestGt, l = child[gt], l, min(l, bestLt)
		}
		if depth--; node <= cutoff || depth <= 0 {
			child[lt], child[gt] = noPos, noPos
			return
		}
	}
}

// insertHash3 makes pos the newest entry of its 3-byte bucket and returns the two
// entries it held before.
func (mf *matchFinder) insertHash3(seq uint32, pos int) (newest, second int32) {
	h3 := 2 * hash(seq&0xffffff, hash3Bits)
	newest, second = mf.hash3[h3], mf.hash3[h3+1]
	mf.hash3[h3] = int32(pos)
	mf.hash3[h3+1] = newest
	return newest, second
}

// insertHash4 makes pos the root of its 4-byte bucket's tree and returns the old root.
func (mf *matchFinder) insertHash4(seq uint32, pos int) int32 {
	h4 := hash(seq, hash4Bits)
	root := mf.hash4[h4]
	mf.hash4[h4] = int32(pos)
	return root
}

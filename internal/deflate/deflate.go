// Package deflate owns slim's strongest raw DEFLATE (RFC 1951) encoder: a
// near-optimal parser in the style of libdeflate's levels 10-12 and 7-Zip's "ultra"
// deflate, used for gzip layers at the best level. It trades speed for size: a binary
// tree match finder lists, at each position, the candidate matches of increasing
// length; a minimum-cost path through each block is then found under a cost model
// taken from the Huffman codes of the previous pass, a few times over; each block is
// sent stored, fixed or dynamic, whichever is smallest.
//
// Output depends only on the input, the dictionary and the final flag, so segments
// compressed on different goroutines join into the same stream every time.
package deflate

// Tuning, measured on Debian's /usr against zlib's gzip -9 and pigz -9. Depth and nice
// length bound the match finder's work per position: a depth of 32 or a nice length
// of 128 gain nothing, as a long match found early and taken whole parses about as
// well as the longest. A segment's first block starts from the code of a greedy
// parse and is parsed twice; every later block starts from the previous block's
// code and is parsed once. Neighbouring blocks are alike enough that this beats a
// fresh greedy model per block, which can trap the parse in short matches on
// machine code (9% larger on synthetic code, 0.15% smaller on /usr), and a second
// pass per block gains 0.4% for 40% more time. Positions only inserted into the
// match finder, inside long matches and in the dictionary, get a shallower walk:
// on repetitive text that is where the time goes, and the matches lost there are
// worth 0.01%.
const (
	searchDepth = 24
	niceLen     = 32
	firstPasses = 2
	laterPasses = 1
	skipDepth   = 16

	// A block ends where the split heuristic sees the data change, but holds at least
	// minBlockLen and at most maxBlockLen bytes, and at most maxCachedMatches matches,
	// which bounds the encoder's memory.
	minBlockLen      = 5000
	maxBlockLen      = 300000
	maxCachedMatches = 5 * maxBlockLen
)

// Encoder compresses segments; it keeps its buffers between calls. It is not safe for
// concurrent use: use one per goroutine.
type Encoder struct {
	buf []byte // dictionary followed by the segment
	mf  matchFinder

	matches []match  // candidates of the current block, position after position
	counts  []uint16 // number of candidates at each position of the block
	costs   []uint32 // cost from each position to the block's end
	choice  []uint32 // the step taken from each position: length | dist<<9
	split   splitStats

	model    costModel
	havePrev bool // whether the code in w is a previous block's, to start from
	freqs    freqs
	huff     huffBuilder
	w        blockWriter
}

// NewEncoder returns an Encoder; its memory (about 12 MiB for large segments) is
// allocated as it is first needed.
func NewEncoder() *Encoder {
	return &Encoder{mf: newMatchFinder()}
}

// Compress appends to dst the raw deflate encoding of in, which may refer back into
// dict: the up to 32 KiB of input that precede in (a longer dict is cut to its last
// 32 KiB). If final, the last block has BFINAL set; otherwise the output ends with a
// sync flush (an empty stored block), byte-aligned, so that segments concatenate into
// one valid stream.
func Compress(dst []byte, in, dict []byte, final bool) []byte {
	return NewEncoder().Compress(dst, in, dict, final)
}

// Compress is the package-level Compress, reusing e's buffers.
func (e *Encoder) Compress(dst []byte, in, dict []byte, final bool) []byte {
	if len(dict) > windowSize {
		dict = dict[len(dict)-windowSize:]
	}
	e.buf = append(append(e.buf[:0], dict...), in...)
	e.mf.reset()
	e.havePrev = false
	e.w.reset(dst)
	for p := range dict {
		if maxLen := min(maxMatch, len(e.buf)-p); maxLen >= 4 {
			e.mf.insert(e.buf, p, min(niceLen, maxLen), skipDepth)
		}
	}
	if len(in) == 0 {
		e.w.writeEmpty(final)
	} else {
		e.compressBlocks(len(dict), final)
	}
	if !final {
		e.w.writeSyncMarker()
	}
	e.w.align()
	out := e.w.out
	e.w.out = nil
	return out
}

// compressBlocks encodes e.buf[start:] as one or more blocks.
func (e *Encoder) compressBlocks(start int, final bool) {
	buf := e.buf
	end := len(buf)
	pos := start
	for pos < end {
		blockStart := pos
		e.matches = e.matches[:0]
		e.counts = e.counts[:0]
		e.split.reset()
		for pos < end {
			maxLen := min(maxMatch, end-pos)
			if maxLen < 4 {
				e.counts = append(e.counts, 0)
				e.split.literal(buf[pos])
				pos++
				continue
			}
			nice := min(niceLen, maxLen)
			n0 := len(e.matches)
			e.matches = e.mf.advance(buf, pos, maxLen, nice, searchDepth, e.matches)
			n := len(e.matches) - n0
			e.counts = append(e.counts, uint16(n))
			pos++
			if n == 0 {
				e.split.literal(buf[pos-1])
			} else {
				best := int(e.matches[len(e.matches)-1].length)
				e.split.match(best)
				if best >= nice {
					// A long match is taken whole in practice: insert the positions
					// it covers without searching from them.
					for range best - 1 {
						if ml := min(maxMatch, end-pos); ml >= 4 {
							e.mf.insert(buf, pos, min(niceLen, ml), skipDepth)
						}
						e.counts = append(e.counts, 0)
						pos++
					}
				}
			}
			blockLen := pos - blockStart
			if blockLen >= maxBlockLen || len(e.matches) >= maxCachedMatches {
				break
			}
			if blockLen >= minBlockLen && e.split.shouldEnd(blockLen) {
				break
			}
		}
		e.encodeBlock(blockStart, pos, final && pos == end)
	}
}

// encodeBlock finds a near-optimal parse of buf[start:end] from the cached matches and
// writes it as one block.
func (e *Encoder) encodeBlock(start, end int, last bool) {
	n := end - start
	e.costs = grow(e.costs, n+maxMatch+1)
	e.choice = grow(e.choice, n+1)
	// Matches may run past the block's end; an unreachable cost there keeps the
	// parse inside the block.
	for i := n + 1; i <= n+maxMatch; i++ {
		e.costs[i] = 1 << 30
	}
	e.costs[n] = 0

	passes := laterPasses
	if !e.havePrev {
		e.greedy(start, n)
		e.buildCodes()
		passes = firstPasses
	}
	for range passes {
		e.model.fromCodes(&e.w.litLenLens, &e.w.distLens)
		e.minCostPath(start, n)
		e.tallyPath(start, n)
		e.buildCodes()
	}
	e.havePrev = true
	e.w.writeBlock(e.buf[start:end], e.choice[:n], &e.freqs, last)
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// greedy tallies the symbols of a parse that takes the longest match everywhere: a
// first, rough cost model for the first block.
func (e *Encoder) greedy(start, n int) {
	e.freqs.reset()
	buf := e.buf[start:]
	mi := 0
	// Match list offsets by position, walking forward.
	for i := 0; i < n; {
		c := int(e.counts[i])
		if c == 0 {
			e.freqs.litLen[buf[i]]++
			i++
			continue
		}
		m := e.matches[mi+c-1]
		l := min(int(m.length), n-i)
		if l < minMatch {
			e.freqs.litLen[buf[i]]++
			mi += c
			i++
			continue
		}
		e.freqs.litLen[257+int(lengthSlot[l])]++
		e.freqs.dist[distSlot(uint32(m.dist))]++
		for k := i; k < i+l; k++ {
			mi += int(e.counts[k])
		}
		i += l
	}
	e.freqs.litLen[endOfBlock]++
}

// minCostPath fills costs and choice backwards: from each position, the cheapest way
// to the block's end under the current model.
func (e *Encoder) minCostPath(start, n int) {
	buf := e.buf[start : start+n]
	costs := e.costs[:n+maxMatch+1]
	choice := e.choice[:n]
	counts := e.counts[:n]
	matches := e.matches
	lit := &e.model.lit
	lenCost := &e.model.length
	distCost := &e.model.dist
	mi := len(matches)
	for i := n - 1; i >= 0; i-- {
		// rest[k] is the cost after a step of k+1 bytes; it always holds maxMatch
		// entries, which lets the compiler drop bounds checks in the loop below.
		rest := costs[i+1 : i+1+maxMatch]
		best := lit[buf[i]] + rest[0]
		step := uint32(1)
		if c := int(counts[i]); c > 0 {
			mi -= c
			l := minMatch
			for _, m := range matches[mi : mi+c] {
				d := uint32(m.dist)
				dc := distCost[distSlot(d)]
				ml := int(m.length)
				if ml < l {
					continue
				}
				lc := lenCost[l : ml+1]
				rc := rest[l-1 : ml]
				rc = rc[:len(lc)]
				for k, c := range lc {
					if cost := dc + c + rc[k]; cost < best {
						best = cost
						step = uint32(l+k) | d<<9
					}
				}
				l = ml + 1
			}
		}
		costs[i] = best
		choice[i] = step
	}
}

// tallyPath counts the symbols of the path minCostPath chose.
func (e *Encoder) tallyPath(start, n int) {
	e.freqs.reset()
	buf := e.buf[start:]
	choice := e.choice[:n]
	for i := 0; i < n; {
		step := choice[i]
		l := int(step & 511)
		if l == 1 {
			e.freqs.litLen[buf[i]]++
			i++
			continue
		}
		e.freqs.litLen[257+int(lengthSlot[l])]++
		e.freqs.dist[distSlot(step>>9)]++
		i += l
	}
	e.freqs.litLen[endOfBlock]++
}

func (e *Encoder) buildCodes() {
	e.huff.lengths(e.freqs.litLen[:], maxCodeBits, e.w.litLenLens[:numLitLen])
	e.huff.lengths(e.freqs.dist[:], maxCodeBits, e.w.distLens[:numDist])
}

type freqs struct {
	litLen [numLitLen]uint32
	dist   [numDist]uint32
}

func (f *freqs) reset() {
	clear(f.litLen[:])
	clear(f.dist[:])
}

// Costs are in 1/16 bits so that models other than whole code lengths could be used.
const costShift = 4

// Symbols the previous code did not use get these lengths: rare, but not impossible.
const (
	unusedLitBits  = 13
	unusedLenBits  = 13
	unusedDistBits = 10
)

// costModel is the price of each step of a parse, from a set of code lengths.
type costModel struct {
	lit    [256]uint32
	length [maxMatch + 1]uint32 // length symbol plus extra bits, by match length
	dist   [numDist]uint32      // distance symbol plus extra bits, by slot
}

func (m *costModel) fromCodes(litLen *[288]uint8, dist *[32]uint8) {
	bitsOr := func(l uint8, unused uint32) uint32 {
		if l == 0 {
			return unused
		}
		return uint32(l)
	}
	for i := range m.lit {
		m.lit[i] = bitsOr(litLen[i], unusedLitBits) << costShift
	}
	for l := minMatch; l <= maxMatch; l++ {
		s := lengthSlot[l]
		m.length[l] = (bitsOr(litLen[257+int(s)], unusedLenBits) + uint32(lengthExtra[s])) << costShift
	}
	for s := range m.dist {
		m.dist[s] = (bitsOr(dist[s], unusedDistBits) + uint32(distExtra[s])) << costShift
	}
}

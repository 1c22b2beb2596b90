package deflate

import "encoding/binary"

// blockWriter turns parses into deflate blocks, appending to out.
type blockWriter struct {
	out  []byte
	acc  uint64
	nacc uint

	litLenLens  [288]uint8
	distLens    [32]uint8
	litLenCodes [288]uint16
	distCodes   [32]uint16

	// Dynamic header: code lengths run-length coded with symbols 16/17/18.
	clenSyms  []uint8 // symbol, extra value pairs
	clenFreq  [numCodeLen]uint32
	clenLens  [numCodeLen]uint8
	clenCodes [numCodeLen]uint16
	huff      huffBuilder
}

func (w *blockWriter) reset(dst []byte) {
	w.out = dst
	w.acc, w.nacc = 0, 0
}

// bits sends the low n (at most 32) bits of v.
func (w *blockWriter) bits(v uint32, n uint) {
	w.acc |= uint64(v) << w.nacc
	w.nacc += n
	if w.nacc >= 32 {
		w.out = binary.LittleEndian.AppendUint32(w.out, uint32(w.acc))
		w.acc >>= 32
		w.nacc -= 32
	}
}

// align pads with zero bits to a byte boundary and flushes.
func (w *blockWriter) align() {
	for w.nacc > 0 {
		w.out = append(w.out, byte(w.acc))
		w.acc >>= 8
		w.nacc -= min(8, w.nacc)
	}
	w.acc = 0
}

// writeSyncMarker writes an empty non-final stored block: what zlib's Z_SYNC_FLUSH
// writes, leaving the stream byte-aligned.
func (w *blockWriter) writeSyncMarker() {
	w.bits(0, 3)
	w.align()
	w.out = append(w.out, 0, 0, 0xff, 0xff)
}

// writeEmpty writes what an empty segment needs: nothing unless it ends the stream,
// in which case a final fixed block holding only end-of-block (10 bits).
func (w *blockWriter) writeEmpty(final bool) {
	if !final {
		return
	}
	w.bits(1|1<<1, 3)
	w.bits(0, 7) // end of block is the fixed code 0000000
}

// writeBlock writes the parse given by choice (see Encoder.choice) of raw as one
// block, stored, fixed or dynamic, whichever is smallest. f holds the parse's symbol
// counts and w.litLenLens/w.distLens the dynamic code built from them.
func (w *blockWriter) writeBlock(raw []byte, choice []uint32, f *freqs, last bool) {
	final := uint32(0)
	if last {
		final = 1
	}
	nl, nd := w.prepareHeader()
	var extra uint64 // extra bits are the same whichever code is used
	for s := 257; s < numLitLen; s++ {
		extra += uint64(f.litLen[s]) * uint64(lengthExtra[s-257])
	}
	for s := range numDist {
		extra += uint64(f.dist[s]) * uint64(distExtra[s])
	}
	dynamic := 3 + 5 + 5 + 4 + extra
	dynamic += w.headerBits()
	fixed := 3 + extra
	for s, c := range f.litLen {
		dynamic += uint64(c) * uint64(w.litLenLens[s])
		fixed += uint64(c) * uint64(fixedLitLenLens[s])
	}
	for s, c := range f.dist {
		dynamic += uint64(c) * uint64(w.distLens[s])
		fixed += uint64(c) * uint64(fixedDistLens[s])
	}
	stored := storedBits(len(raw), w.nacc)

	switch {
	case stored <= fixed && stored <= dynamic:
		w.writeStored(raw, final)
		return
	case fixed <= dynamic:
		w.bits(final|1<<1, 3)
		canonicalCodes(fixedLitLenLens[:], w.litLenCodes[:])
		canonicalCodes(fixedDistLens[:], w.distCodes[:])
		w.writeSymbols(raw, choice, &fixedLitLenLens, &fixedDistLens)
	default:
		w.bits(final|2<<1, 3)
		w.writeHeader(nl, nd)
		canonicalCodes(w.litLenLens[:], w.litLenCodes[:])
		canonicalCodes(w.distLens[:], w.distCodes[:])
		w.writeSymbols(raw, choice, &w.litLenLens, &w.distLens)
	}
}

// storedBits is the size of raw as stored blocks, starting nacc bits into a byte.
func storedBits(n int, nacc uint) uint64 {
	chunks := max(1, (n+maxStoredLen-1)/maxStoredLen)
	pad := (8 - (nacc+3)%8) % 8
	// Every chunk after the first starts aligned: 3 header bits, 5 padding.
	return uint64(3+pad) + uint64(chunks-1)*8 + uint64(chunks)*32 + uint64(n)*8
}

func (w *blockWriter) writeStored(raw []byte, final uint32) {
	for {
		k := min(len(raw), maxStoredLen)
		f := uint32(0)
		if k == len(raw) {
			f = final
		}
		w.bits(f, 3)
		w.align()
		w.out = binary.LittleEndian.AppendUint16(w.out, uint16(k))
		w.out = binary.LittleEndian.AppendUint16(w.out, ^uint16(k))
		w.out = append(w.out, raw[:k]...)
		raw = raw[k:]
		if len(raw) == 0 {
			return
		}
	}
}

func (w *blockWriter) writeSymbols(raw []byte, choice []uint32, litLenLens *[288]uint8, distLens *[32]uint8) {
	llCodes := &w.litLenCodes
	dCodes := &w.distCodes
	for i := 0; i < len(choice); {
		step := choice[i]
		l := int(step & 511)
		if l == 1 {
			b := raw[i]
			w.bits(uint32(llCodes[b]), uint(litLenLens[b]))
			i++
			continue
		}
		s := lengthSlot[l]
		sym := 257 + int(s)
		w.bits(uint32(llCodes[sym]), uint(litLenLens[sym]))
		if e := lengthExtra[s]; e > 0 {
			w.bits(uint32(l)-uint32(lengthBase[s]), uint(e))
		}
		d := step >> 9
		ds := distSlot(d)
		w.bits(uint32(dCodes[ds]), uint(distLens[ds]))
		if e := distExtra[ds]; e > 0 {
			w.bits(d-uint32(distBase[ds]), uint(e))
		}
		i += l
	}
	w.bits(uint32(llCodes[endOfBlock]), uint(litLenLens[endOfBlock]))
}

// prepareHeader run-length codes the dynamic code lengths and builds the code-length
// code. It returns how many literal/length and distance lengths the header lists.
func (w *blockWriter) prepareHeader() (int, int) {
	nl := numLitLen
	for nl > 257 && w.litLenLens[nl-1] == 0 {
		nl--
	}
	nd := numDist
	for nd > 1 && w.distLens[nd-1] == 0 {
		nd--
	}
	// Both lists are coded as one sequence: a run may cross from one to the other.
	var lens [numLitLen + numDist]uint8
	copy(lens[:nl], w.litLenLens[:nl])
	copy(lens[nl:], w.distLens[:nd])
	seq := lens[:nl+nd]
	w.clenSyms = w.clenSyms[:0]
	clear(w.clenFreq[:])
	for i := 0; i < len(seq); {
		v := seq[i]
		run := 1
		for i+run < len(seq) && seq[i+run] == v {
			run++
		}
		i += run
		if v == 0 {
			for run >= 11 {
				k := min(run, 138)
				w.clen(18, uint8(k-11))
				run -= k
			}
			if run >= 3 {
				w.clen(17, uint8(run-3))
				run = 0
			}
		} else {
			w.clen(v, 0)
			run--
			for run >= 3 {
				k := min(run, 6)
				w.clen(16, uint8(k-3))
				run -= k
			}
		}
		for ; run > 0; run-- {
			w.clen(v, 0)
		}
	}
	w.huff.lengths(w.clenFreq[:], maxCLenBits, w.clenLens[:])
	canonicalCodes(w.clenLens[:], w.clenCodes[:])
	return nl, nd
}

func (w *blockWriter) clen(sym, extra uint8) {
	w.clenSyms = append(w.clenSyms, sym, extra)
	w.clenFreq[sym]++
}

var clenExtraBits = [numCodeLen]uint8{16: 2, 17: 3, 18: 7}

// numCLen is how many code-length code lengths the header must list.
func (w *blockWriter) numCLen() int {
	n := numCodeLen
	for n > 4 && w.clenLens[codeLenOrder[n-1]] == 0 {
		n--
	}
	return n
}

// headerBits is the size of the dynamic header after its fixed 17 bits.
func (w *blockWriter) headerBits() uint64 {
	b := uint64(3 * w.numCLen())
	for s, c := range w.clenFreq {
		b += uint64(c) * uint64(w.clenLens[s]+clenExtraBits[s])
	}
	return b
}

func (w *blockWriter) writeHeader(nl, nd int) {
	ncl := w.numCLen()
	w.bits(uint32(nl-257), 5)
	w.bits(uint32(nd-1), 5)
	w.bits(uint32(ncl-4), 4)
	for _, s := range codeLenOrder[:ncl] {
		w.bits(uint32(w.clenLens[s]), 3)
	}
	for i := 0; i < len(w.clenSyms); i += 2 {
		s := w.clenSyms[i]
		w.bits(uint32(w.clenCodes[s]), uint(w.clenLens[s]))
		if e := clenExtraBits[s]; e > 0 {
			w.bits(uint32(w.clenSyms[i+1]), uint(e))
		}
	}
}

package deflate

// Format constants of RFC 1951.
const (
	windowSize   = 32 << 10
	windowMask   = windowSize - 1
	minMatch     = 3
	maxMatch     = 258
	numLitLen    = 286 // symbols a block may use: 0-255 literals, 256 end, 257-285 lengths
	numDist      = 30
	numCodeLen   = 19
	endOfBlock   = 256
	maxCodeBits  = 15
	maxCLenBits  = 7
	maxStoredLen = 65535
)

// lengthBase and lengthExtra describe length symbols 257-285.
var lengthBase = [29]uint16{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31,
	35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}

var lengthExtra = [29]uint8{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2,
	3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}

// distBase and distExtra describe distance symbols 0-29.
var distBase = [30]uint16{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193,
	257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}

var distExtra = [30]uint8{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6,
	7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}

// codeLenOrder is the order in which a dynamic header lists code-length code lengths.
var codeLenOrder = [numCodeLen]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}

// lengthSlot maps a match length (3-258) to its length symbol minus 257.
var lengthSlot = func() (t [maxMatch + 1]uint8) {
	for s := range lengthBase {
		for l := int(lengthBase[s]); l < int(lengthBase[s])+1<<lengthExtra[s] && l <= maxMatch; l++ {
			t[l] = uint8(s)
		}
	}
	// 258 has its own symbol (285), though slot 27's extra bits could also reach it;
	// zlib and every encoder use 285, and it is cheaper.
	t[maxMatch] = 28
	return t
}()

// distSlotSmall maps distances 1-256, distSlotLarge distances 257-32768 by (d-1)>>7:
// the slot boundaries above 256 are all multiples of 128, as in zlib's dist_code.
var distSlotSmall, distSlotLarge = func() (small, large [256]uint8) {
	for s := range distBase {
		for d := int(distBase[s]); d < int(distBase[s])+1<<distExtra[s]; d++ {
			if d <= 256 {
				small[d-1] = uint8(s)
			} else {
				large[(d-1)>>7] = uint8(s)
			}
		}
	}
	return small, large
}()

func distSlot(d uint32) uint32 {
	if d <= 256 {
		return uint32(distSlotSmall[d-1])
	}
	return uint32(distSlotLarge[(d-1)>>7&255])
}

// fixedLitLenLens and fixedDistLens are the code lengths of the fixed Huffman code
// (block type 1).
var fixedLitLenLens = func() (t [288]uint8) {
	for i := range t {
		switch {
		case i < 144:
			t[i] = 8
		case i < 256:
			t[i] = 9
		case i < 280:
			t[i] = 7
		default:
			t[i] = 8
		}
	}
	return t
}()

var fixedDistLens = func() (t [32]uint8) {
	for i := range t {
		t[i] = 5
	}
	return t
}()

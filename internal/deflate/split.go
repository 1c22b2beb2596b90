package deflate

// splitStats decides where blocks end, after libdeflate's heuristic: it counts a few
// coarse kinds of literal and match as the match finder goes, and ends the block when
// the distribution of the latest observations has drifted far enough from the block's
// so far that new Huffman codes would pay for their header.
type splitStats struct {
	newObs   [numObsTypes]uint32
	obs      [numObsTypes]uint32
	numNew   uint32
	numTotal uint32
}

const (
	numLitObsTypes = 8
	numObsTypes    = numLitObsTypes + 2
	obsPerCheck    = 512
)

func (s *splitStats) reset() { *s = splitStats{} }

func (s *splitStats) literal(b byte) {
	// High bits and the low bit separate text, binary and zero-heavy data cheaply.
	s.newObs[(b>>5)&6|b&1]++
	s.numNew++
}

func (s *splitStats) match(length int) {
	t := numLitObsTypes
	if length >= 9 {
		t++
	}
	s.newObs[t]++
	s.numNew++
}

// shouldEnd reports whether the block, blockLen bytes so far, should end here. It only
// looks once enough new observations have gathered, then folds them into the block's.
func (s *splitStats) shouldEnd(blockLen int) bool {
	if s.numNew < obsPerCheck {
		return false
	}
	if s.numTotal > 0 {
		// Sum of absolute differences of the two distributions, with both sides
		// scaled by numTotal*numNew to stay in integers.
		var delta uint64
		for i := range s.obs {
			expected := uint64(s.obs[i]) * uint64(s.numNew)
			actual := uint64(s.newObs[i]) * uint64(s.numTotal)
			if actual > expected {
				delta += actual - expected
			} else {
				delta += expected - actual
			}
		}
		items := s.numTotal + s.numNew
		cutoff := uint64(s.numNew) * 200 / 512 * uint64(s.numTotal)
		// Short blocks pay relatively more for their codes; end them only on a
		// clear change.
		if blockLen < 10000 && items < 8192 {
			cutoff += cutoff * uint64(8192-items) / 8192
		}
		if delta+uint64(blockLen/4096)*uint64(s.numTotal) >= cutoff {
			return true
		}
	}
	for i := range s.obs {
		s.obs[i] += s.newObs[i]
		s.newObs[i] = 0
	}
	s.numTotal += s.numNew
	s.numNew = 0
	return false
}

package tarball

import (
	"fmt"
	"strconv"
	"time"
)

// ParseSourceDateEpoch reads a SOURCE_DATE_EPOCH value, the reproducible-builds
// convention for the time stamped into outputs: seconds since 1970. Empty gives the
// zero time, which every option taking the epoch reads as the Unix epoch.
func ParseSourceDateEpoch(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("parsing SOURCE_DATE_EPOCH %q: want seconds since 1970", s)
	}
	return time.Unix(n, 0).UTC(), nil
}

package build

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/moby/buildkit/client"
)

func TestStepReportsThroughTheDisplayChannel(t *testing.T) {
	ch := make(chan *client.SolveStatus, 10)
	s := &stepper{ch: ch}
	ctx := context.WithValue(t.Context(), stepperKey{}, s)

	st := StartStep(ctx, "[slim] packing")
	fmt.Fprint(st, "first line\nsecond")
	st.Done(errors.New("boom"))
	st.Done(nil) // only the first call counts

	var got []string
	for len(ch) > 0 {
		ss := <-ch
		for _, v := range ss.Vertexes {
			got = append(got, fmt.Sprintf("vertex %s started=%v completed=%v error=%q", v.Name, v.Started != nil, v.Completed != nil, v.Error))
		}
		for _, l := range ss.Logs {
			if l.Vertex != st.vertex.Digest {
				t.Errorf("log for vertex %s, want %s", l.Vertex, st.vertex.Digest)
			}
			got = append(got, fmt.Sprintf("log %q", l.Data))
		}
	}
	want := []string{
		`vertex [slim] packing started=true completed=false error=""`,
		`log "first line\n"`,
		`log "second\n"`,
		`vertex [slim] packing started=true completed=true error="boom"`,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("statuses:\n%q\nwant\n%q", got, want)
	}

	// Once the display is over its channel is closed: steps send nothing.
	s.close()
	s.close() // only the first call closes
	late := StartStep(ctx, "late")
	fmt.Fprintln(late, "ignored")
	late.Done(nil)

	// Outside a Solve callback a step writes nowhere.
	free := StartStep(t.Context(), "nowhere")
	if n, err := fmt.Fprintln(free, "x"); n != 2 || err != nil {
		t.Errorf("write to a free step: %d, %v", n, err)
	}
	free.Done(nil)
}

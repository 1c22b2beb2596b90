package job

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/slim-dev/slim/extract"
	"github.com/slim-dev/slim/internal/jsonschema"
)

// TestReportMatchesSchema writes a report with every field set and checks it against the
// published schema: a Go field without its lowercase json tag is a key the schema lacks.
func TestReportMatchesSchema(t *testing.T) {
	d := "sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	r := &Result{Report: &Report{
		Base:    "static",
		Sources: []SizeReport{{Name: "builder", Platform: "linux/amd64", Size: -1, Uncompressed: -1}},
		Images: []SizeReport{{Platform: "linux/amd64", Digest: d, Size: 10, Uncompressed: 20,
			Layers: []LayerReport{{Digest: d, MediaType: "application/vnd.oci.image.layer.v1.tar+gzip", Size: 10, Uncompressed: 20, New: true}}}},
		Files:         []extract.File{{Path: "/app/server", Size: 3, Reason: "--from builder:/app/server", Source: "builder"}},
		Verifications: []Verification{{Command: []string{"--version"}, Platform: "linux/amd64", ResultTimedOut: true, Stderr: true, Equal: false}},
		Traces:        []TraceReport{{Command: []string{"/app/run"}, ExitCode: 1, TimedOut: true, Touched: 4, Taken: 2}},
	}}
	path := filepath.Join(t.TempDir(), "report.json")
	if err := r.WriteReport(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := jsonschema.Validate(ReportSchema(), b); err != nil {
		t.Fatalf("the report does not match report.schema.json:\n%v\n%s", err, b)
	}
	var keys struct {
		Files []map[string]any `json:"files"`
	}
	if err := json.Unmarshal(b, &keys); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"path", "size", "reason", "source"} {
		if _, ok := keys.Files[0][k]; !ok {
			t.Errorf("files[0] lacks the documented key %q: %v", k, keys.Files[0])
		}
	}
}

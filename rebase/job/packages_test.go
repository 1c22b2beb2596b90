package job

import (
	"testing"

	"github.com/slim-dev/slim/extract"
)

// TestTravelDest: a package's metadata goes beside its files wherever DEST put them.
func TestTravelDest(t *testing.T) {
	for _, c := range []struct {
		name  string
		files []extract.Taken
		m     string
		want  string
	}{
		{"in place", []extract.Taken{{Path: "/app/node_modules/x/index.js", Real: "/app/node_modules/x/index.js"}},
			"/app/node_modules/x/package.json", "/app/node_modules/x/package.json"},
		{"moved tree", []extract.Taken{{Path: "/srv/node_modules/x/lib/a.js", Real: "/app/node_modules/x/lib/a.js"}},
			"/app/node_modules/x/package.json", "/srv/node_modules/x/package.json"},
		{"nearest wins", []extract.Taken{
			{Path: "/usr/bin/python3", Real: "/usr/bin/python3"},
			{Path: "/opt/site-packages/yaml/__init__.py", Real: "/usr/lib/python3/site-packages/yaml/__init__.py"},
		}, "/usr/lib/python3/site-packages/PyYAML-6.0.dist-info/METADATA", "/opt/site-packages/PyYAML-6.0.dist-info/METADATA"},
		{"renamed file says nothing", []extract.Taken{{Path: "/main.js", Real: "/app/node_modules/x/index.js"}},
			"/app/node_modules/x/package.json", "/app/node_modules/x/package.json"},
	} {
		if got := travelDest(c.m, c.files); got != c.want {
			t.Errorf("%s: %s goes to %s, want %s", c.name, c.m, got, c.want)
		}
	}
}

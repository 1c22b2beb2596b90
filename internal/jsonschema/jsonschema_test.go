package jsonschema

import (
	"errors"
	"strings"
	"testing"
)

const schema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "required": ["name", "files"],
  "additionalProperties": false,
  "properties": {
    "name": {"type": "string", "pattern": "^[a-z]+$"},
    "kind": {"enum": ["a", "b"]},
    "files": {"type": "array", "items": {"$ref": "#/$defs/file"}},
    "ratio": {"type": "number", "minimum": 0, "maximum": 1},
    "extra": {"type": ["string", "null"]}
  },
  "$defs": {
    "file": {"type": "object", "required": ["path"], "additionalProperties": false,
             "properties": {"path": {"type": "string"}, "size": {"type": "integer", "minimum": -1}}}
  }
}`

func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		name, doc string
		wantErr   error
		wantIn    string
	}{
		{"valid", `{"name":"x","files":[{"path":"/a","size":3}],"ratio":0.5,"kind":"a","extra":null}`, nil, ""},
		{"missing required", `{"name":"x"}`, ErrInvalid, `required key "files"`},
		{"unknown key", `{"name":"x","files":[],"Path":"y"}`, ErrInvalid, `key "Path" is not in the schema`},
		{"capitalised key in an item", `{"name":"x","files":[{"Path":"/a"}]}`, ErrInvalid, `/files/0: required key "path"`},
		{"wrong type", `{"name":3,"files":[]}`, ErrInvalid, "/name: number 3 is not of type string"},
		{"not an integer", `{"name":"x","files":[{"path":"/a","size":1.5}]}`, ErrInvalid, "/files/0/size"},
		{"below minimum", `{"name":"x","files":[{"path":"/a","size":-2}]}`, ErrInvalid, "less than the minimum"},
		{"above maximum", `{"name":"x","files":[],"ratio":1.5}`, ErrInvalid, "more than the maximum"},
		{"pattern", `{"name":"X1","files":[]}`, ErrInvalid, "does not match"},
		{"enum", `{"name":"x","files":[],"kind":"c"}`, ErrInvalid, "not one of"},
		{"type list", `{"name":"x","files":[],"extra":1}`, ErrInvalid, "string or null"},
		{"not JSON", `{"name":`, ErrInvalid, "reading document"},
		{"trailing data", `{"name":"x","files":[]} {}`, ErrInvalid, "trailing"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate([]byte(schema), []byte(tt.doc))
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("got %v, want %v", err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), tt.wantIn) {
				t.Errorf("error %q lacks %q", err, tt.wantIn)
			}
		})
	}
}

func TestUnsupportedKeywordRefused(t *testing.T) {
	for _, s := range []string{
		`{"type":"object","oneOf":[{"type":"object"}]}`,
		`{"$ref":"other.json#/x"}`,
		`{"$ref":"#/$defs/none"}`,
	} {
		if err := Validate([]byte(s), []byte(`{}`)); !errors.Is(err, ErrSchema) {
			t.Errorf("schema %s: got %v, want ErrSchema", s, err)
		}
	}
}

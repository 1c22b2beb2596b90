// Package jsonschema validates JSON documents against the subset of JSON Schema
// (draft 2020-12) that slim's own schemas use: type, properties, required,
// additionalProperties (true or false), items, minimum, maximum, pattern, enum and local
// $ref to #/$defs. A schema using any other keyword is refused, so a schema cannot
// quietly promise more than is checked. It exists for tests (go.sum has no JSON Schema
// library) and keeps the reports slim writes in step with their published schemas.
package jsonschema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// ErrInvalid is a document that does not match its schema.
var ErrInvalid = errors.New("document does not match its schema")

// ErrSchema is a schema this package cannot check.
var ErrSchema = errors.New("unsupported schema")

// annotations are keywords that describe and never constrain.
var annotations = []string{"$schema", "$id", "$comment", "title", "description", "$defs", "examples", "default"}

var keywords = []string{"type", "properties", "required", "additionalProperties", "items", "minimum", "maximum", "pattern", "enum", "$ref"}

// Validate checks doc against schema and returns every mismatch found, each naming
// the JSON pointer of the value.
func Validate(schema, doc []byte) error {
	var root map[string]any
	if err := decode(schema, &root); err != nil {
		return fmt.Errorf("reading schema: %w: %w", err, ErrSchema)
	}
	var v any
	if err := decode(doc, &v); err != nil {
		return fmt.Errorf("reading document: %w: %w", err, ErrInvalid)
	}
	c := &checker{root: root}
	c.check(root, v, "")
	if len(c.errs) > 0 {
		return errors.Join(c.errs...)
	}
	return nil
}

func decode(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

type checker struct {
	root map[string]any
	errs []error
}

func (c *checker) fail(ptr, format string, args ...any) {
	if ptr == "" {
		ptr = "/"
	}
	c.errs = append(c.errs, fmt.Errorf("%s: %s: %w", ptr, fmt.Sprintf(format, args...), ErrInvalid))
}

func (c *checker) schemaErr(ptr, format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf("schema at %s: %s: %w", ptr, fmt.Sprintf(format, args...), ErrSchema))
}

func (c *checker) check(s map[string]any, v any, ptr string) {
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !slices.Contains(keywords, k) && !slices.Contains(annotations, k) {
			c.schemaErr(ptr, "keyword %q is not supported", k)
		}
	}
	if ref, ok := s["$ref"].(string); ok {
		target, err := c.resolve(ref)
		if err != nil {
			c.schemaErr(ptr, "%v", err)
			return
		}
		c.check(target, v, ptr)
	}
	if t, ok := s["type"]; ok && !c.hasType(t, v, ptr) {
		return
	}
	if e, ok := s["enum"].([]any); ok {
		if !slices.ContainsFunc(e, func(x any) bool { return equal(x, v) }) {
			c.fail(ptr, "%v is not one of %v", v, e)
		}
	}
	switch v := v.(type) {
	case map[string]any:
		c.object(s, v, ptr)
	case []any:
		if items, ok := s["items"].(map[string]any); ok {
			for i, x := range v {
				c.check(items, x, fmt.Sprintf("%s/%d", ptr, i))
			}
		}
	case json.Number:
		f, _ := v.Float64()
		if m, ok := s["minimum"].(json.Number); ok {
			if mf, _ := m.Float64(); f < mf {
				c.fail(ptr, "%s is less than the minimum %s", v, m)
			}
		}
		if m, ok := s["maximum"].(json.Number); ok {
			if mf, _ := m.Float64(); f > mf {
				c.fail(ptr, "%s is more than the maximum %s", v, m)
			}
		}
	case string:
		if p, ok := s["pattern"].(string); ok {
			re, err := regexp.Compile(p)
			if err != nil {
				c.schemaErr(ptr, "pattern %q: %v", p, err)
			} else if !re.MatchString(v) {
				c.fail(ptr, "%q does not match %s", v, p)
			}
		}
	}
}

func (c *checker) object(s, v map[string]any, ptr string) {
	props, _ := s["properties"].(map[string]any)
	if req, ok := s["required"].([]any); ok {
		for _, r := range req {
			if name, _ := r.(string); name != "" {
				if _, ok := v[name]; !ok {
					c.fail(ptr, "required key %q is missing", name)
				}
			}
		}
	}
	names := make([]string, 0, len(v))
	for k := range v {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		child := ptr + "/" + strings.NewReplacer("~", "~0", "/", "~1").Replace(k)
		if ps, ok := props[k].(map[string]any); ok {
			c.check(ps, v[k], child)
			continue
		}
		switch ap := s["additionalProperties"].(type) {
		case bool:
			if !ap {
				c.fail(ptr, "key %q is not in the schema", k)
			}
		case map[string]any:
			c.check(ap, v[k], child)
		}
	}
}

func (c *checker) resolve(ref string) (map[string]any, error) {
	name, ok := strings.CutPrefix(ref, "#/$defs/")
	if !ok {
		return nil, fmt.Errorf("$ref %q: only #/$defs/NAME is supported", ref)
	}
	defs, _ := c.root["$defs"].(map[string]any)
	s, ok := defs[name].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("$ref %q: no such definition", ref)
	}
	return s, nil
}

// hasType reports whether v is of the schema type t (a name or a list of names),
// recording a mismatch.
func (c *checker) hasType(t, v any, ptr string) bool {
	var names []string
	switch t := t.(type) {
	case string:
		names = []string{t}
	case []any:
		for _, x := range t {
			if s, ok := x.(string); ok {
				names = append(names, s)
			}
		}
	}
	for _, n := range names {
		if isType(n, v) {
			return true
		}
	}
	c.fail(ptr, "%s is not of type %s", kind(v), strings.Join(names, " or "))
	return false
}

func isType(name string, v any) bool {
	switch name {
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "null":
		return v == nil
	case "number":
		_, ok := v.(json.Number)
		return ok
	case "integer":
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		if _, err := n.Int64(); err == nil {
			return true
		}
		f, err := n.Float64()
		return err == nil && f == float64(int64(f))
	}
	return false
}

func kind(v any) string {
	switch v := v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return fmt.Sprintf("string %q", v)
	case bool:
		return "a boolean"
	case nil:
		return "null"
	case json.Number:
		return "number " + v.String()
	}
	return fmt.Sprintf("%T", v)
}

func equal(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

package extract

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/slim-dev/slim/internal/size"
)

// ErrBadRule is a CI rule value or file that cannot be read.
var ErrBadRule = errors.New("invalid CI rule")

// The CI rules by dive's names (dive --ci, .dive-ci), so a pipeline's thresholds carry over.
const (
	RuleLowestEfficiency         = "lowestEfficiency"
	RuleHighestWastedBytes       = "highestWastedBytes"
	RuleHighestUserWastedPercent = "highestUserWastedPercent"
)

// Rules are the CI thresholds as users write them: a ratio (0-1) or a size, or
// "disabled" (also "off", "false", empty).
type Rules struct {
	LowestEfficiency         string
	HighestWastedBytes       string
	HighestUserWastedPercent string
}

// DefaultRules are dive's defaults.
func DefaultRules() Rules {
	return Rules{LowestEfficiency: "0.9", HighestWastedBytes: "disabled", HighestUserWastedPercent: "0.1"}
}

// LoadRules reads a CI file in dive's .dive-ci form over r: a rules: map whose keys are
// the rule names in camelCase or kebab-case (lowest-efficiency), as dive accepts them.
// Rules the file does not name keep r's values.
func LoadRules(file string, r Rules) (Rules, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return r, fmt.Errorf("reading CI rules: %w", err)
	}
	var doc struct {
		Rules map[string]any `yaml:"rules"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return r, fmt.Errorf("reading CI rules %s: %v: %w", file, err, ErrBadRule)
	}
	for k, v := range doc.Rules {
		s := strings.TrimSpace(fmt.Sprint(v))
		switch k {
		case RuleLowestEfficiency, "lowest-efficiency":
			r.LowestEfficiency = s
		case RuleHighestWastedBytes, "highest-wasted-bytes":
			r.HighestWastedBytes = s
		case RuleHighestUserWastedPercent, "highest-user-wasted-percent":
			r.HighestUserWastedPercent = s
		}
		// Other keys (dive's plugin rules) are not slim's to judge.
	}
	return r, nil
}

// RuleStatus is how a rule came out.
type RuleStatus string

const (
	RulePassed   RuleStatus = "PASS"
	RuleFailed   RuleStatus = "FAIL"
	RuleDisabled RuleStatus = "SKIP"
)

// RuleResult is one rule applied to a report.
type RuleResult struct {
	Rule    string     `json:"rule"`
	Status  RuleStatus `json:"status"`
	Message string     `json:"message,omitempty"`
}

func disabled(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "disabled", "off", "false":
		return true
	}
	return false
}

func ratio(rule, v string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || f < 0 || f > 1 {
		return 0, fmt.Errorf("%s %q: want a ratio between 0 and 1: %w", rule, v, ErrBadRule)
	}
	return f, nil
}

// Validate checks every value before any image is read.
func (r Rules) Validate() error {
	_, err := r.Evaluate(&Report{})
	return err
}

// Evaluate applies the rules to rep, in dive's order.
func (r Rules) Evaluate(rep *Report) ([]RuleResult, error) {
	var out []RuleResult
	var errs []error
	t := rep.Totals
	if disabled(r.LowestEfficiency) {
		out = append(out, RuleResult{Rule: RuleLowestEfficiency, Status: RuleDisabled, Message: "rule disabled"})
	} else if th, err := ratio(RuleLowestEfficiency, r.LowestEfficiency); err != nil {
		errs = append(errs, err)
	} else if t.Efficiency < th {
		out = append(out, RuleResult{RuleLowestEfficiency, RuleFailed, fmt.Sprintf("image efficiency is too low (efficiency=%.4f < threshold=%v)", t.Efficiency, th)})
	} else {
		out = append(out, RuleResult{Rule: RuleLowestEfficiency, Status: RulePassed})
	}
	if disabled(r.HighestWastedBytes) {
		out = append(out, RuleResult{Rule: RuleHighestWastedBytes, Status: RuleDisabled, Message: "rule disabled"})
	} else if th, err := wastedBytes(r.HighestWastedBytes); err != nil {
		errs = append(errs, err)
	} else if t.WastedBytes > th {
		out = append(out, RuleResult{RuleHighestWastedBytes, RuleFailed, fmt.Sprintf("too many bytes wasted (wasted-bytes=%d > threshold=%d)", t.WastedBytes, th)})
	} else {
		out = append(out, RuleResult{Rule: RuleHighestWastedBytes, Status: RulePassed})
	}
	if disabled(r.HighestUserWastedPercent) {
		out = append(out, RuleResult{Rule: RuleHighestUserWastedPercent, Status: RuleDisabled, Message: "rule disabled"})
	} else if th, err := ratio(RuleHighestUserWastedPercent, r.HighestUserWastedPercent); err != nil {
		errs = append(errs, err)
	} else if t.UserWastedPercent > th {
		out = append(out, RuleResult{RuleHighestUserWastedPercent, RuleFailed, fmt.Sprintf("too many bytes wasted, relative to the user bytes added (user-wasted=%.4f > threshold=%v)", t.UserWastedPercent, th)})
	} else {
		out = append(out, RuleResult{Rule: RuleHighestUserWastedPercent, Status: RulePassed})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// wastedBytes reads a size as dive does, where 20Mb means 20 MB.
func wastedBytes(v string) (int64, error) {
	s := strings.TrimSpace(v)
	if n := len(s); n > 1 && s[n-1] == 'b' && s[n-2] >= 'A' && s[n-2] <= 'z' {
		s = s[:n-1] + "B"
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 {
		return n, nil
	}
	n, err := size.Parse(s)
	if err != nil {
		return 0, fmt.Errorf("%s %q: %w: %w", RuleHighestWastedBytes, v, err, ErrBadRule)
	}
	return n, nil
}

package directory_test

import (
	"slices"
	"strings"
	"testing"

	"omnicc/directory"
)

func TestDialPatternMatch(t *testing.T) {
	for _, c := range []struct {
		pattern, number string
		want            bool
	}{
		{"0612345678", "0612345678", true},
		{"0612345678", "061234567", false},
		{"+390612345678", "+390612345678", true},
		{"_X.", "1", false}, // '.' needs one more character after X
		{"_X.", "12", true},
		{"_X.", "+39", false},
		{"_+X.", "+39061234", true},
		{"_.", "anything", true},
		{"_!", "", true},
		{"_0!", "0", true},
		{"_0!", "0612", true},
		{"_NXXNXXXXXX", "2125551234", true},
		{"_NXXNXXXXXX", "1125551234", false}, // N is 2-9
		{"_NXXNXXXXXX", "212555123", false},
		{"_NXXNXXXXXX", "21255512345", false},
		{"_555XXXX", "5551234", true},
		{"_555XXXX", "5561234", false},
		{"_555-XXXX", "5551234", true}, // '-' is eye candy
		{"_Z", "0", false},
		{"_Z", "9", true},
		{"_[1-5]", "3", true},
		{"_[1-5]", "6", false},
		{"_[13-5#]X", "#0", true},
		{"_[13-5#]X", "20", false},
		{"_x", "7", true}, // X, Z and N in either case, as Asterisk
		{"_*XX", "*12", true},
	} {
		p, err := directory.ParseDialPattern(c.pattern)
		if err != nil {
			t.Fatalf("%s: %v", c.pattern, err)
		}
		if got := p.Match(c.number); got != c.want {
			t.Errorf("%s matches %q = %v, want %v", c.pattern, c.number, got, c.want)
		}
	}
}

// For one number, the patterns that match it are ranked as Asterisk ranks a
// context's extensions: exact first, then the more specific position by
// position (the first position decides: _0X. ranks before _[0-1]6XXXXXXXX),
// '!' last.
func TestDialPatternPrecedence(t *testing.T) {
	want := []string{"0612345678", "_0612345678", "_06123456[5-9]X", "_06XXXXXXXX", "_0NXXXXXXXX", "_0ZXXXXXXXX",
		"_0XXXXXXXXX", "_0X.", "_[0-1]6XXXXXXXX", "_X.", "_.", "_!"}
	shuffled := slices.Clone(want)
	slices.Reverse(shuffled)
	ps := make([]directory.DialPattern, len(shuffled))
	for i, s := range shuffled {
		ps[i] = directory.MustDialPattern(s)
		if !ps[i].Match("0612345678") {
			t.Fatalf("%s should match 0612345678", s)
		}
	}
	slices.SortFunc(ps, directory.CompareDialPatterns)
	got := make([]string, len(ps))
	for i, p := range ps {
		got[i] = p.String()
	}
	if !slices.Equal(got, want) {
		t.Fatalf("order\n got %v\nwant %v", got, want)
	}
	// Equal sizes: the set holding the lowest character first (Asterisk's
	// tie-break), and equal patterns compare equal.
	if c := directory.CompareDialPatterns(directory.MustDialPattern("_[12]X"), directory.MustDialPattern("_[23]X")); c >= 0 {
		t.Errorf("_[12]X should rank before _[23]X, got %d", c)
	}
	if c := directory.CompareDialPatterns(directory.MustDialPattern("_NXX-XXXX"), directory.MustDialPattern("_NXXXXXX")); c != 0 {
		t.Errorf("dashes must not change the rank, got %d", c)
	}
}

func TestDialPatternErrors(t *testing.T) {
	for in, want := range map[string]string{
		"":                            "is empty",
		"06 1234":                     "without spaces or dashes",
		"06-1234":                     "without spaces or dashes",
		"_":                           "matches nothing",
		"_X.5":                        "end the pattern at '.'",
		"_X!X":                        "end the pattern at '!'",
		"_[1-5":                       "no closing ']'",
		"_[]X":                        "empty set",
		"_[5-1]":                      "runs backwards",
		"_[a-c]":                      "not a digit",
		"_ABC":                        "neither a digit",
		"_" + strings.Repeat("X", 80): "longer than 80",
	} {
		_, err := directory.ParseDialPattern(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want an error saying %q", in, err, want)
		}
	}
}

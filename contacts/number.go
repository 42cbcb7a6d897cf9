package contacts

import (
	"errors"
	"fmt"
	"strings"
)

// NumberPlan says how phone numbers are normalised, so that a caller ID
// and a number typed into a contact compare equal however each is written.
//
// The normal form is the international number as digits only, without +
// or an international prefix: "+39 06 1234-5678", "0039 06 12345678" and,
// with CountryCode 39, "06 12345678" all become "390612345678". The steps:
//
//  1. spaces, '-', '.', '/', '(' and ')' are dropped;
//  2. a leading + or InternationalPrefix (default 00) is removed: the
//     number is international already;
//  3. otherwise, when CountryCode is set and the number has at least
//     MinNationalDigits digits, it is national: TrunkPrefix (e.g. 0 in the
//     UK or France; empty in Italy, where the 0 is part of the number) is
//     removed and CountryCode put in front. Shorter numbers (extensions,
//     short codes) are kept as they are;
//  4. anything left that is not a digit ("anonymous", letters, * or #)
//     gives "": such a caller is not looked up.
//
// Changing the plan changes the normal form: contacts stored before keep
// theirs until they are saved again.
type NumberPlan struct {
	CountryCode         string // e.g. "39"; empty: numbers stay as dialled
	TrunkPrefix         string // national trunk prefix dropped before CountryCode, e.g. "0"
	InternationalPrefix string // default "00" ("011" in North America)
	MinNationalDigits   int    // default 6
}

// maxNormalDigits is the longest normal form kept: E.164 allows 15 digits,
// the slack is for carriers' prefixes.
const maxNormalDigits = 20

func (p NumberPlan) withDefaults() NumberPlan {
	if p.InternationalPrefix == "" {
		p.InternationalPrefix = "00"
	}
	if p.MinNationalDigits == 0 {
		p.MinNationalDigits = 6
	}
	return p
}

// Validate reports settings that cannot work.
func (p NumberPlan) Validate() error {
	var errs []error
	for _, f := range []struct{ name, v string }{
		{"CountryCode", p.CountryCode}, {"TrunkPrefix", p.TrunkPrefix}, {"InternationalPrefix", p.InternationalPrefix},
	} {
		if strings.Trim(f.v, "0123456789") != "" || len(f.v) > 4 {
			errs = append(errs, fmt.Errorf("contacts number plan: %s %q must be up to 4 digits", f.name, f.v))
		}
	}
	if p.MinNationalDigits < 0 || p.MinNationalDigits > maxNormalDigits {
		errs = append(errs, fmt.Errorf("contacts number plan: MinNationalDigits %d must be between 0 and %d", p.MinNationalDigits, maxNormalDigits))
	}
	return errors.Join(errs...)
}

// Normalize returns the normal form of raw, or "" when raw is not a phone
// number.
func (p NumberPlan) Normalize(raw string) string {
	p = p.withDefaults()
	var buf [48]byte
	b := buf[:0]
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; c {
		case ' ', '-', '.', '/', '(', ')', '\t':
		default:
			if len(b) == cap(b) {
				return ""
			}
			b = append(b, c)
		}
	}
	s := b
	international := false
	switch {
	case len(s) > 0 && s[0] == '+':
		s, international = s[1:], true
	case len(s) > len(p.InternationalPrefix) && string(s[:len(p.InternationalPrefix)]) == p.InternationalPrefix:
		s, international = s[len(p.InternationalPrefix):], true
	}
	if len(s) == 0 {
		return ""
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return ""
		}
	}
	if !international && p.CountryCode != "" && len(s) >= p.MinNationalDigits {
		if p.TrunkPrefix != "" && len(s) > len(p.TrunkPrefix) && string(s[:len(p.TrunkPrefix)]) == p.TrunkPrefix {
			s = s[len(p.TrunkPrefix):]
		}
		if len(p.CountryCode)+len(s) > maxNormalDigits {
			return ""
		}
		return p.CountryCode + string(s)
	}
	if len(s) > maxNormalDigits {
		return ""
	}
	return string(s)
}

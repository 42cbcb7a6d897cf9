package directory

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// DialPattern is a number as routes give it — the DID of an inbound route,
// its caller ID, the dialled number of an outbound route — either exact
// ("0612345678") or an Asterisk extension pattern ("_06XXXXXXXX"), with
// Asterisk's own meaning, so that what an engineer writes in a route behaves
// as it would in extensions.conf:
//
//	_      starts a pattern; without it the value is matched exactly
//	X      any digit 0-9        Z  any digit 1-9        N  any digit 2-9
//	[15-7] one character of the set (here 1, 5, 6 or 7)
//	.      one or more characters of any kind, ending the pattern
//	!      zero or more characters of any kind, ending the pattern
//	-      ignored ("_NXX-XXXX" reads as "_NXXXXXX"), as Asterisk does
//
// Other characters (digits, +, *, #) match themselves. Asterisk ignores
// whatever follows '.' or '!': here such a pattern is refused instead, since
// the text after it can only be a mistake.
//
// Precedence between two patterns matching one number is Asterisk's
// (pbx.c ext_cmp): an exact number beats any pattern; between patterns the
// first position where they differ decides, and the one whose character
// class there is smaller wins (a literal digit beats N, N beats Z, Z beats
// X, X beats a larger set, any set beats '.', '.' beats '!'); equal sizes
// fall back to the set holding the lowest character. So for 0612345678,
// _0612345678 > _06XXXXXXXX > _0NXXXXXXXX > _0X. > _X. > _!.
type DialPattern struct {
	raw   string
	exact bool
	elems []patternElem
}

// patternElem is one position of a pattern.
type patternElem struct {
	kind elemKind
	set  charSet // the characters this position accepts (elemSet)
	// rank is Asterisk's ext_cmp_pattern_pos score: the number of
	// characters accepted, shifted, plus the lowest one; '.', '!' and the
	// end of the pattern score above every set.
	rank int
}

type elemKind uint8

const (
	elemSet       elemKind = iota // one character out of set
	elemOneOrMore                 // '.'
	elemAnyOrNone                 // '!'
)

// Ranks of the positions that are not sets (pbx.c ext_cmp_pattern_pos).
const (
	rankOneOrMore = 0x18000
	rankAnyOrNone = 0x28000
	rankEnd       = 0x30000
)

// charSet is a set of bytes as a 256-bit map, laid out as Asterisk's
// bitwise array (most significant bit first) so that comparing two sets'
// bytes orders them as Asterisk does: lower characters first.
type charSet [32]byte

func (s *charSet) add(c byte) bool {
	mask := byte(1) << (7 - c%8)
	if s[c/8]&mask != 0 {
		return false
	}
	s[c/8] |= mask
	return true
}

func (s *charSet) has(c byte) bool { return s[c/8]&(1<<(7-c%8)) != 0 }

// maxPatternLen bounds what a route stores: longer than any number plan.
const maxPatternLen = 80

// ParseDialPattern checks and compiles an exact number or an Asterisk
// pattern. Its errors say what is wrong in the value; callers add the field.
func ParseDialPattern(s string) (DialPattern, error) {
	switch {
	case s == "":
		return DialPattern{}, errors.New("is empty")
	case len(s) > maxPatternLen:
		return DialPattern{}, fmt.Errorf("%q is longer than %d characters", s, maxPatternLen)
	}
	if s[0] != '_' {
		for i := 0; i < len(s); i++ {
			if !isDialChar(s[i]) {
				return DialPattern{}, fmt.Errorf("%q: %q is not a dialable character: an exact number holds only digits, +, * and # "+
					"(write it without spaces or dashes), or start an Asterisk pattern with _ (e.g. _X.)", s, s[i])
			}
		}
		return DialPattern{raw: s, exact: true}, nil
	}
	p := DialPattern{raw: s}
	for i := 1; i < len(s); i++ {
		c := s[i]
		var e patternElem
		switch {
		case c == '-':
			continue // Asterisk's "eye candy"
		case c == '.' || c == '!':
			if i != len(s)-1 {
				return DialPattern{}, fmt.Errorf("%q has %q after %q at position %d, which Asterisk ignores: end the pattern at %q",
					s, s[i+1:], c, i+1, c)
			}
			e.kind, e.rank = elemOneOrMore, rankOneOrMore
			if c == '!' {
				e.kind, e.rank = elemAnyOrNone, rankAnyOrNone
			}
		case c == 'X' || c == 'x':
			e = digitClass('0', 0x0A00)
		case c == 'Z' || c == 'z':
			e = digitClass('1', 0x0900)
		case c == 'N' || c == 'n':
			e = digitClass('2', 0x0800)
		case c == '[':
			end := strings.IndexByte(s[i+1:], ']')
			if end < 0 {
				return DialPattern{}, fmt.Errorf("%q has a '[' at position %d with no closing ']'", s, i+1)
			}
			set, err := parseCharSet(s, s[i+1:i+1+end])
			if err != nil {
				return DialPattern{}, err
			}
			e = set
			i += end + 1
		case isDialChar(c):
			e.set.add(c)
			e.rank = 0x0100 | int(c)
		default:
			return DialPattern{}, fmt.Errorf("%q: %q at position %d is neither a digit, +, *, #, nor one of Asterisk's X Z N [ ] . !", s, c, i+1)
		}
		p.elems = append(p.elems, e)
	}
	if len(p.elems) == 0 {
		return DialPattern{}, fmt.Errorf("%q is a pattern that matches nothing: add characters after _ (e.g. _X.)", s)
	}
	return p, nil
}

// MustDialPattern is ParseDialPattern for patterns known to be valid.
func MustDialPattern(s string) DialPattern {
	p, err := ParseDialPattern(s)
	if err != nil {
		panic("directory: dial pattern " + err.Error())
	}
	return p
}

func isDialChar(c byte) bool { return '0' <= c && c <= '9' || c == '+' || c == '*' || c == '#' }

func digitClass(lowest byte, count int) patternElem {
	var e patternElem
	for c := lowest; c <= '9'; c++ {
		e.set.add(c)
	}
	e.rank = count | int(lowest)
	return e
}

// parseCharSet reads the inside of [...]: characters and c1-c2 ranges.
func parseCharSet(pattern, inner string) (patternElem, error) {
	var e patternElem
	if inner == "" {
		return e, fmt.Errorf("%q has an empty set []", pattern)
	}
	lowest := byte(0xFF)
	count := 0
	for i := 0; i < len(inner); i++ {
		c1, c2 := inner[i], inner[i]
		if i+2 < len(inner) && inner[i+1] == '-' {
			c2 = inner[i+2]
			i += 2
		}
		for _, c := range []byte{c1, c2} {
			if !isDialChar(c) {
				return e, fmt.Errorf("%q: %q in [%s] is not a digit, +, * or #", pattern, c, inner)
			}
		}
		if c1 > c2 {
			return e, fmt.Errorf("%q: range %c-%c in [%s] runs backwards: write %c-%c", pattern, c1, c2, inner, c2, c1)
		}
		lowest = min(lowest, c1)
		for c := int(c1); c <= int(c2); c++ {
			if e.set.add(byte(c)) {
				count += 0x100
			}
		}
	}
	e.rank = count | int(lowest)
	return e, nil
}

// String is the pattern as written.
func (p DialPattern) String() string { return p.raw }

// IsZero reports whether p is the zero value (no pattern given).
func (p DialPattern) IsZero() bool { return p.raw == "" }

// IsExact reports whether p is a plain number rather than a pattern.
func (p DialPattern) IsExact() bool { return p.exact }

// Match reports whether number matches p, with Asterisk's semantics: an
// exact value must be equal, a pattern must match every character (or reach
// '.' with at least one left, or '!').
func (p DialPattern) Match(number string) bool {
	if p.exact {
		return number == p.raw
	}
	if p.raw == "" {
		return false
	}
	i := 0
	for k := range p.elems {
		e := &p.elems[k]
		switch e.kind {
		case elemOneOrMore:
			return i < len(number)
		case elemAnyOrNone:
			return true
		}
		if i >= len(number) || !e.set.has(number[i]) {
			return false
		}
		i++
	}
	return i == len(number)
}

// CompareDialPatterns orders a before b (negative) when a is the more
// specific, as Asterisk orders a context's extensions; 0 when they rank the
// same. See DialPattern for the rules.
func CompareDialPatterns(a, b DialPattern) int {
	switch {
	case a.exact && b.exact:
		return strings.Compare(a.raw, b.raw)
	case a.exact:
		return -1
	case b.exact:
		return 1
	}
	for i := 0; ; i++ {
		ra, sa := a.position(i)
		rb, sb := b.position(i)
		if ra != rb {
			return ra - rb
		}
		// Same size: the set with the lowest characters first. The sets'
		// bytes compare that way because lower characters sit in the more
		// significant bits (Asterisk swaps the operands for the same
		// reason).
		if c := bytes.Compare(sb[:], sa[:]); c != 0 {
			return c
		}
		if ra == rankEnd || ra == rankOneOrMore || ra == rankAnyOrNone {
			return 0
		}
	}
}

// position is the rank and set of position i, the end past the last.
func (p DialPattern) position(i int) (int, *charSet) {
	if i >= len(p.elems) {
		return rankEnd, &charSet{}
	}
	return p.elems[i].rank, &p.elems[i].set
}

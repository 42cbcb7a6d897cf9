package realtime

import "strings"

// This file holds the byte-level rules res_config_curl and res_config_odbc
// apply to keys and values. They are Asterisk's own (main/utils.c
// ast_uri_encode/ast_uri_decode with ast_uri_http, main/config.c
// ast_realtime_encode_chunk), not those of net/url: Asterisk does not turn
// '+' into a space, and it escapes every byte that is not unreserved.

const hexUpper = "0123456789ABCDEF"

// isUnreserved reports the bytes ast_uri_encode leaves as they are.
func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// AppendEscaped appends s to dst the way Asterisk encodes a key or value:
// every byte but ALPHA / DIGIT / "-" / "." / "_" / "~" becomes %XX, so a
// space is %20 and a plus sign %2B.
func AppendEscaped(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isUnreserved(c) {
			dst = append(dst, c)
			continue
		}
		dst = append(dst, '%', hexUpper[c>>4], hexUpper[c&15])
	}
	return dst
}

// Escape is AppendEscaped for a string.
func Escape(s string) string { return string(AppendEscaped(nil, s)) }

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// Unescape decodes %XX escapes and nothing else. A '+' stays a '+' (Asterisk
// sends a real plus as %2B and never uses '+' for a space), and a '%' that
// is not followed by two hex digits is kept as it is, as Asterisk's decoder
// does, rather than failing the whole request.
func Unescape(s string) string {
	i := strings.IndexByte(s, '%')
	if i < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	b = append(b, s[:i]...)
	for ; i < len(s); i++ {
		c := s[i]
		if c == '%' && i+2 < len(s) {
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if ok1 && ok2 {
				b = append(b, hi<<4|lo)
				i += 2
				continue
			}
		}
		b = append(b, c)
	}
	return string(b)
}

// A value stored by res_config_odbc has its ';' and '^' written as ^3B and
// ^5E, because on the way back res_config_odbc splits a column on ';' into
// several variables of the same name. Through res_config_curl a contact id
// arrives as "agent;@hash", through ODBC it is stored as "agent^3B@hash":
// omniccd stores the ODBC form so that an Asterisk reading the MySQL tables
// directly and one talking to omniccd see the same rows.

// odbcEncode is ast_realtime_encode_chunk.
func odbcEncode(s string) string {
	if !strings.ContainsAny(s, ";^") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ';' || c == '^' {
			b.WriteByte('^')
			b.WriteByte(hexUpper[c>>4])
			b.WriteByte(hexUpper[c&15])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// odbcDecode is res_config_odbc's decode_chunk: ^XX with upper-case hex
// digits becomes the byte XX.
func odbcDecode(s string) string {
	i := strings.IndexByte(s, '^')
	if i < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	b = append(b, s[:i]...)
	for ; i < len(s); i++ {
		c := s[i]
		if c == '^' && i+2 < len(s) && isUpperHex(s[i+1]) && isUpperHex(s[i+2]) {
			hi, _ := unhex(s[i+1])
			lo, _ := unhex(s[i+2])
			b = append(b, hi<<4|lo)
			i += 2
			continue
		}
		b = append(b, c)
	}
	return string(b)
}

func isUpperHex(c byte) bool { return '0' <= c && c <= '9' || 'A' <= c && c <= 'F' }

// odbcChunks returns the variables res_config_odbc would make of one stored
// string: a value without ';' is one variable (even when empty, which
// res_config_curl passes on as "key="), a value with ';' is split into its
// non-blank pieces, each ^XX-decoded.
func odbcChunks(s string) []string {
	if !strings.Contains(s, ";") {
		return []string{odbcDecode(s)}
	}
	parts := strings.Split(s, ";")
	out := parts[:0]
	for _, p := range parts {
		if strings.TrimSpace(p) == "" {
			continue
		}
		out = append(out, odbcDecode(strings.TrimSpace(p)))
	}
	return out
}

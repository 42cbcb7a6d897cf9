package realtime

import (
	"fmt"
	"strconv"
	"strings"
)

// Verb is the res_config_curl operation, the last segment of the URL.
type Verb string

// The seven verbs res_config_curl appends to the URL in extconfig.conf.
const (
	VerbSingle  Verb = "single"
	VerbMulti   Verb = "multi"
	VerbUpdate  Verb = "update"
	VerbStore   Verb = "store"
	VerbDestroy Verb = "destroy"
	VerbRequire Verb = "require"
	VerbStatic  Verb = "static"
)

// isCount reports the verbs whose reply is an integer (rows changed, or 0
// for a satisfied require), never an empty body.
func (v Verb) isCount() bool {
	switch v {
	case VerbUpdate, VerbStore, VerbDestroy, VerbRequire:
		return true
	}
	return false
}

func (v Verb) valid() bool {
	switch v {
	case VerbSingle, VerbMulti, VerbUpdate, VerbStore, VerbDestroy, VerbRequire, VerbStatic:
		return true
	}
	return false
}

// Pair is one decoded key=value of a request, in the order Asterisk sent it.
type Pair struct {
	Key, Value string
}

// Condition is one lookup field: Asterisk writes the operator into the key
// ("id LIKE", "expiration_time <="); a key without one means "=".
type Condition struct {
	Column string
	Op     string
	Value  string
}

// Requirement is one column a `require` asks the table to hold, e.g.
// reason_paused=char:80.
type Requirement struct {
	Column string
	Type   string
	Size   int
}

// Request is a parsed res_config_curl request.
type Request struct {
	Verb Verb
	// Where holds the lookup fields: the body of single, multi and destroy,
	// the query string of update.
	Where []Condition
	// Set holds the values of store and update (the body).
	Set []Pair
	// Require holds the columns of a require.
	Require []Requirement
	// File is static's ?file=.
	File string
}

// RequestError is a request omniccd refuses; Key names the field at fault.
type RequestError struct {
	Key string
	Msg string
}

func (e *RequestError) Error() string {
	if e.Key == "" {
		return "realtime: " + e.Msg
	}
	return fmt.Sprintf("realtime: field %q: %s", e.Key, e.Msg)
}

func reqErr(key, format string, args ...any) error {
	return &RequestError{Key: key, Msg: fmt.Sprintf(format, args...)}
}

// operators are the ones res_config_odbc copies into its SQL; anything else
// in a key is refused rather than passed to the database.
var operators = map[string]string{
	"=": "=", "!=": "!=", "<>": "!=", "<": "<", ">": ">", "<=": "<=", ">=": ">=",
	"LIKE": "LIKE", "NOT LIKE": "NOT LIKE",
}

// maxPairs bounds the fields of one request; Asterisk's biggest (a contact
// store) has 16, a table has at most ~150 columns.
const maxPairs = 512

// ParsePairs splits a form-encoded string on '&' and each piece on its first
// '=', decoding both halves with Unescape. Empty pieces — the trailing '&' of
// destroy, the leading '&' of update2 — are skipped.
func ParsePairs(raw string) ([]Pair, error) {
	if raw == "" {
		return nil, nil
	}
	var pairs []Pair
	for piece := range strings.SplitSeq(raw, "&") {
		if piece == "" {
			continue
		}
		if len(pairs) == maxPairs {
			return nil, reqErr("", "more than %d fields", maxPairs)
		}
		k, v, _ := strings.Cut(piece, "=")
		pairs = append(pairs, Pair{Key: Unescape(k), Value: Unescape(v)})
	}
	return pairs, nil
}

// ParseKey splits a lookup key into its column and operator: "id" is
// ("id", "="), "id LIKE" is ("id", "LIKE"), "expiration_time <=" is
// ("expiration_time", "<=").
func ParseKey(key string) (column, op string, err error) {
	k := strings.TrimSpace(key)
	end := 0
	for end < len(k) && isColumnByte(k[end]) {
		end++
	}
	column = k[:end]
	if column == "" {
		return "", "", reqErr(key, "no column name")
	}
	if len(column) > 64 {
		return "", "", reqErr(key, "column name longer than 64 bytes")
	}
	rest := strings.ToUpper(strings.Join(strings.Fields(k[end:]), " "))
	if rest == "" {
		return column, "=", nil
	}
	op, ok := operators[rest]
	if !ok {
		return "", "", reqErr(key, "unsupported operator %q (use =, !=, <, >, <=, >=, LIKE or NOT LIKE)", rest)
	}
	return column, op, nil
}

func isColumnByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_'
}

// plainColumn checks a key that may not carry an operator (store and update
// values, require columns).
func plainColumn(key string) (string, error) {
	col, op, err := ParseKey(key)
	if err != nil {
		return "", err
	}
	if op != "=" || strings.TrimSpace(key) != col {
		return "", reqErr(key, "an operator is only allowed in lookup fields")
	}
	return col, nil
}

// ParseRequest parses what res_config_curl sent for verb: the raw (still
// escaped) query string and body. known reports whether a column exists in
// the table; it is used only to take apart Asterisk's malformed update2 (see
// unglue) and may be nil, which refuses that form.
func ParseRequest(verb Verb, rawQuery, body string, known func(column string) bool) (*Request, error) {
	if !verb.valid() {
		return nil, reqErr("", "unknown verb %q (want single, multi, update, store, destroy, require or static)", verb)
	}
	req := &Request{Verb: verb}
	switch verb {
	case VerbSingle, VerbMulti, VerbDestroy:
		src := body
		if strings.TrimSpace(src) == "" && verb != VerbDestroy {
			// Asterisk always POSTs; a GET with a query string is a person
			// trying a lookup by hand, e.g. with curl.
			src = rawQuery
		}
		pairs, err := ParsePairs(src)
		if err != nil {
			return nil, err
		}
		if req.Where, err = conditions(pairs); err != nil {
			return nil, err
		}
		if len(req.Where) == 0 {
			return nil, reqErr("", "%s needs at least one lookup field", verb)
		}
	case VerbUpdate:
		where, err := unglue(rawQuery, known)
		if err != nil {
			return nil, err
		}
		if req.Where, err = conditions(where); err != nil {
			return nil, err
		}
		if len(req.Where) == 0 {
			return nil, reqErr("", "update needs a lookup field in the query string (update?id=...)")
		}
		set, err := unglue(body, known)
		if err != nil {
			return nil, err
		}
		if req.Set, err = values(set); err != nil {
			return nil, err
		}
		if len(req.Set) == 0 {
			return nil, reqErr("", "update has no field to set")
		}
	case VerbStore:
		pairs, err := ParsePairs(body)
		if err != nil {
			return nil, err
		}
		if req.Set, err = values(pairs); err != nil {
			return nil, err
		}
		if len(req.Set) == 0 {
			return nil, reqErr("", "store has no field")
		}
	case VerbRequire:
		pairs, err := ParsePairs(body)
		if err != nil {
			return nil, err
		}
		for _, p := range pairs {
			col, err := plainColumn(p.Key)
			if err != nil {
				return nil, err
			}
			typ, size, ok := strings.Cut(p.Value, ":")
			n, aerr := strconv.Atoi(size)
			if !ok || typ == "" || aerr != nil || n < 0 {
				return nil, reqErr(p.Key, "requirement %q is not type:size", p.Value)
			}
			req.Require = append(req.Require, Requirement{Column: col, Type: typ, Size: n})
		}
	case VerbStatic:
		pairs, err := ParsePairs(rawQuery)
		if err != nil {
			return nil, err
		}
		for _, p := range pairs {
			if p.Key == "file" {
				req.File = p.Value
			}
		}
		if req.File == "" {
			return nil, reqErr("file", "static needs ?file=<name.conf>")
		}
	}
	return req, nil
}

func conditions(pairs []Pair) ([]Condition, error) {
	out := make([]Condition, 0, len(pairs))
	for _, p := range pairs {
		col, op, err := ParseKey(p.Key)
		if err != nil {
			return nil, err
		}
		out = append(out, Condition{Column: col, Op: op, Value: p.Value})
	}
	return out, nil
}

func values(pairs []Pair) ([]Pair, error) {
	out := make([]Pair, 0, len(pairs))
	seen := make(map[string]bool, len(pairs))
	for _, p := range pairs {
		col, err := plainColumn(p.Key)
		if err != nil {
			return nil, err
		}
		lc := strings.ToLower(col)
		if seen[lc] {
			return nil, reqErr(p.Key, "given twice")
		}
		seen[lc] = true
		out = append(out, Pair{Key: col, Value: p.Value})
	}
	return out, nil
}

// unglue parses the query string or body of an update. res_config_curl's
// update2 (several lookup keys; app_voicemail uses it to change a mailbox
// password) writes its separators inverted: "&k1=v1k2=v2" instead of
// "k1=v1&k2=v2". Because Asterisk escapes every '=' inside keys and values,
// a piece with more than one raw '=' can only be that form: each middle
// segment is a value with the next key glued to its end. The key is taken
// back as the one suffix of the segment that names a column of the table;
// when none or several do, the request is refused rather than guessed.
func unglue(raw string, known func(string) bool) ([]Pair, error) {
	var out []Pair
	for piece := range strings.SplitSeq(raw, "&") {
		if piece == "" {
			continue
		}
		segs := strings.Split(piece, "=")
		if len(segs) <= 2 {
			k, v, _ := strings.Cut(piece, "=")
			out = append(out, Pair{Key: Unescape(k), Value: Unescape(v)})
			continue
		}
		if known == nil {
			return nil, reqErr(Unescape(segs[0]), "malformed multi-key update (Asterisk's update2) cannot be read here")
		}
		key := segs[0]
		for _, mid := range segs[1 : len(segs)-1] {
			cut := -1
			for i := 0; i < len(mid); i++ {
				if known(mid[i:]) {
					if cut >= 0 {
						return nil, reqErr(Unescape(mid), "malformed multi-key update (Asterisk's update2): cannot tell value from key")
					}
					cut = i
				}
			}
			if cut < 0 {
				return nil, reqErr(Unescape(mid), "malformed multi-key update (Asterisk's update2): no column name at the end")
			}
			out = append(out, Pair{Key: Unescape(key), Value: Unescape(mid[:cut])})
			key = mid[cut:]
		}
		out = append(out, Pair{Key: Unescape(key), Value: Unescape(segs[len(segs)-1])})
		if len(out) > maxPairs {
			return nil, reqErr("", "more than %d fields", maxPairs)
		}
	}
	return out, nil
}

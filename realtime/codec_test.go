package realtime

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestEscape(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"agent200", "agent200"},
		{`"Agent 200" <200>`, "%22Agent%20200%22%20%3C200%3E"},
		{"Agent+201 & co <201>", "Agent%2B201%20%26%20co%20%3C201%3E"},
		{"agent200;@7775b6", "agent200%3B%407775b6"},
		{"10,+1", "10%2C%2B1"},
		{"a-b.c_d~e", "a-b.c_d~e"},
		{"é", "%C3%A9"},
		{"", ""},
		{"=&%", "%3D%26%25"},
	} {
		if got := Escape(tc.in); got != tc.want {
			t.Errorf("Escape(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if got := Unescape(Escape(tc.in)); got != tc.in {
			t.Errorf("Unescape(Escape(%q)) = %q", tc.in, got)
		}
	}
}

func TestUnescape(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"id%20LIKE", "id LIKE"},
		{"a+b", "a+b"}, // Asterisk never means a space by '+'
		{"%2b%2B", "++"},
		{"100%", "100%"},   // a lone % stays
		{"%4", "%4"},       // so does a short escape
		{"%zz%41", "%zzA"}, // and a bad one, without spoiling the rest
		{"%%41", "%A"},
	} {
		if got := Unescape(tc.in); got != tc.want {
			t.Errorf("Unescape(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestODBCEncoding(t *testing.T) {
	for _, tc := range []struct {
		in, stored string
		chunks     []string
	}{
		{"agent300;@eac09c", "agent300^3B@eac09c", []string{"agent300;@eac09c"}},
		{"a^b", "a^5Eb", []string{"a^b"}},
		{"plain", "plain", []string{"plain"}},
		{"", "", []string{""}},
	} {
		if got := odbcEncode(tc.in); got != tc.stored {
			t.Errorf("odbcEncode(%q) = %q, want %q", tc.in, got, tc.stored)
		}
		if got := odbcChunks(tc.stored); !reflect.DeepEqual(got, tc.chunks) {
			t.Errorf("odbcChunks(%q) = %q, want %q", tc.stored, got, tc.chunks)
		}
	}
	// A raw ';' in a stored value is several variables for res_config_odbc;
	// omniccd answers the same.
	if got := odbcChunks("A=1; B=2;;"); !reflect.DeepEqual(got, []string{"A=1", "B=2"}) {
		t.Errorf("odbcChunks split = %q", got)
	}
	if got := odbcDecode("^3b^3B^"); got != "^3b;^" {
		t.Errorf("odbcDecode = %q (lower-case hex is not ODBC's)", got)
	}
}

func TestParseKey(t *testing.T) {
	for _, tc := range []struct {
		key, col, op, errKey string
	}{
		{key: "id", col: "id", op: "="},
		{key: "id LIKE", col: "id", op: "LIKE"},
		{key: "id like", col: "id", op: "LIKE"},
		{key: "expiration_time <=", col: "expiration_time", op: "<="},
		{key: "contact !=", col: "contact", op: "!="},
		{key: "uniqueid>", col: "uniqueid", op: ">"},
		{key: "a <>", col: "a", op: "!="},
		{key: "name NOT  LIKE", col: "name", op: "NOT LIKE"},
		{key: "100rel", col: "100rel", op: "="},
		{key: "id; DROP TABLE x", errKey: "id; DROP TABLE x"},
		{key: "id OR 1=1", errKey: "id OR 1=1"},
		{key: "<=", errKey: "<="},
		{key: "", errKey: ""},
	} {
		col, op, err := ParseKey(tc.key)
		if tc.errKey != "" || tc.col == "" {
			var re *RequestError
			if !errors.As(err, &re) || re.Key != tc.key {
				t.Errorf("ParseKey(%q) error = %v, want a RequestError naming the key", tc.key, err)
			}
			continue
		}
		if err != nil || col != tc.col || op != tc.op {
			t.Errorf("ParseKey(%q) = %q %q %v, want %q %q", tc.key, col, op, err, tc.col, tc.op)
		}
	}
}

func TestParsePairs(t *testing.T) {
	got, err := ParsePairs("id=agent200%3B%407775&")
	want := []Pair{{"id", "agent200;@7775"}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("destroy body: %v %v", got, err)
	}
	got, _ = ParsePairs("reg_server=&path=&x")
	want = []Pair{{"reg_server", ""}, {"path", ""}, {"x", ""}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("empty values: %v", got)
	}
	if _, err := ParsePairs(strings.Repeat("a=1&", maxPairs+1)); err == nil {
		t.Error("no limit on the number of fields")
	}
}

func columnSet(cols ...string) func(string) bool {
	return func(c string) bool {
		for _, x := range cols {
			if x == c {
				return true
			}
		}
		return false
	}
}

func TestParseRequest(t *testing.T) {
	members := columnSet("queue_name", "interface", "membername", "state_interface", "penalty", "paused", "uniqueid", "reason_paused")
	voicemail := columnSet("context", "mailbox", "password", "imappassword", "fullname")
	for _, tc := range []struct {
		name        string
		verb        Verb
		query, body string
		known       func(string) bool
		want        *Request
		errKey      string // the key the error must name; "-" for an error with no key
	}{
		{name: "single", verb: VerbSingle, body: "id=agent200",
			want: &Request{Verb: VerbSingle, Where: []Condition{{"id", "=", "agent200"}}}},
		{name: "multi operators", verb: VerbMulti, body: "interface%20LIKE=%25&queue_name=rtsales",
			want: &Request{Verb: VerbMulti, Where: []Condition{{"interface", "LIKE", "%"}, {"queue_name", "=", "rtsales"}}}},
		{name: "multi by hand with GET", verb: VerbMulti, query: "id%20LIKE=agent%25",
			want: &Request{Verb: VerbMulti, Where: []Condition{{"id", "LIKE", "agent%"}}}},
		{name: "single without fields", verb: VerbSingle, errKey: "-"},
		{name: "bad operator", verb: VerbMulti, body: "id%20REGEXP=x", errKey: "id REGEXP"},
		{name: "update", verb: VerbUpdate, query: "uniqueid=1", body: "reason_paused=Lunch&paused=1",
			want: &Request{Verb: VerbUpdate, Where: []Condition{{"uniqueid", "=", "1"}}, Set: []Pair{{"reason_paused", "Lunch"}, {"paused", "1"}}}},
		{name: "update without match", verb: VerbUpdate, body: "paused=1", errKey: "-"},
		{name: "update operator in a value", verb: VerbUpdate, query: "uniqueid=1", body: "paused%20%3E=1", errKey: "paused >"},
		{name: "update2 queue member", verb: VerbUpdate, query: "&queue_name=rtsalesinterface=PJSIP%2Fagent201", body: "&membername=Agent_201", known: members,
			want: &Request{Verb: VerbUpdate, Where: []Condition{{"queue_name", "=", "rtsales"}, {"interface", "=", "PJSIP/agent201"}}, Set: []Pair{{"membername", "Agent_201"}}}},
		{name: "update2 voicemail password", verb: VerbUpdate, query: "&context=defaultmailbox=1000", body: "&password=4321", known: voicemail,
			want: &Request{Verb: VerbUpdate, Where: []Condition{{"context", "=", "default"}, {"mailbox", "=", "1000"}}, Set: []Pair{{"password", "4321"}}}},
		{name: "update2 two values", verb: VerbUpdate, query: "&context=defaultmailbox=1000", body: "&password=4321fullname=A%20B", known: voicemail,
			want: &Request{Verb: VerbUpdate, Where: []Condition{{"context", "=", "default"}, {"mailbox", "=", "1000"}}, Set: []Pair{{"password", "4321"}, {"fullname", "A B"}}}},
		{name: "update2 ambiguous", verb: VerbUpdate, query: "&context=ximappassword=1", body: "&fullname=x", known: voicemail, errKey: "ximappassword"},
		{name: "update2 no column", verb: VerbUpdate, query: "&queue_name=rtsalesnothing=1", body: "&membername=x", known: members, errKey: "rtsalesnothing"},
		{name: "update2 without schema", verb: VerbUpdate, query: "&queue_name=rtsalesinterface=x", body: "paused=1", errKey: "queue_name"},
		{name: "store keeps empty fields", verb: VerbStore, body: "id=a%3B%40b&reg_server=&path=",
			want: &Request{Verb: VerbStore, Set: []Pair{{"id", "a;@b"}, {"reg_server", ""}, {"path", ""}}}},
		{name: "store twice the same field", verb: VerbStore, body: "id=a&ID=b", errKey: "ID"},
		{name: "destroy trailing &", verb: VerbDestroy, body: "uniqueid=3&",
			want: &Request{Verb: VerbDestroy, Where: []Condition{{"uniqueid", "=", "3"}}}},
		{name: "destroy ignores the query string", verb: VerbDestroy, query: "id=x", errKey: "-"},
		{name: "require", verb: VerbRequire, body: "paused=integer1%3A1&uniqueid=uinteger2%3A5&reason_paused=char%3A80",
			want: &Request{Verb: VerbRequire, Require: []Requirement{{"paused", "integer1", 1}, {"uniqueid", "uinteger2", 5}, {"reason_paused", "char", 80}}}},
		{name: "require without size", verb: VerbRequire, body: "paused=integer1", errKey: "paused"},
		{name: "static", verb: VerbStatic, query: "file=queuerules.conf",
			want: &Request{Verb: VerbStatic, File: "queuerules.conf"}},
		{name: "static without file", verb: VerbStatic, errKey: "file"},
		{name: "unknown verb", verb: "drop", errKey: "-"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseRequest(tc.verb, tc.query, tc.body, tc.known)
			if tc.errKey != "" {
				var re *RequestError
				if !errors.As(err, &re) {
					t.Fatalf("got %+v, %v; want a RequestError", got, err)
				}
				if tc.errKey != "-" && re.Key != tc.errKey {
					t.Errorf("error %q names %q, want %q", err, re.Key, tc.errKey)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

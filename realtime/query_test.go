package realtime

import (
	"errors"
	"reflect"
	"testing"

	"omnicc/store"
)

func testTable() *table {
	return newTable("ps_endpoint_id_ips", []column{
		{Name: "id", Kind: kindText, Size: 255},
		{Name: "match", Kind: kindText, Size: 80, Nullable: true},
		{Name: "100rel", Kind: kindEnum, Enum: []string{"no", "required", "yes"}, Nullable: true},
		{Name: "via_port", Kind: kindInt, Nullable: true},
		{Name: "qualify_timeout", Kind: kindFloat, Nullable: true},
	})
}

func TestBuilder(t *testing.T) {
	tb := testTable()
	type built struct {
		sql  string
		args []any
	}
	for _, tc := range []struct {
		name   string
		build  func(b builder) (string, []any, error)
		mysql  built
		sqlite built
		errKey string
	}{
		{
			name: "single by id",
			build: func(b builder) (string, []any, error) {
				return b.selectRows(tb, []Condition{{"id", "=", "a;@b"}}, true)
			},
			mysql:  built{"SELECT * FROM `ps_endpoint_id_ips` WHERE `id` = ? ORDER BY `id` LIMIT 1", []any{"a^3B@b"}},
			sqlite: built{`SELECT * FROM "ps_endpoint_id_ips" WHERE "id" = ? ORDER BY "id" LIMIT 1`, []any{"a^3B@b"}},
		},
		{
			name: "multi with LIKE on quoted names",
			build: func(b builder) (string, []any, error) {
				return b.selectRows(tb, []Condition{{"MATCH", "LIKE", "10.%"}, {"100rel", "!=", "no"}}, false)
			},
			mysql:  built{"SELECT * FROM `ps_endpoint_id_ips` WHERE `match` LIKE ? AND `100rel` != ? ORDER BY `match`", []any{"10.%", "no"}},
			sqlite: built{`SELECT * FROM "ps_endpoint_id_ips" WHERE "match" LIKE ? ESCAPE '\' AND "100rel" != ? ORDER BY "match"`, []any{"10.%", "no"}},
		},
		{
			name: "empty number means NULL",
			build: func(b builder) (string, []any, error) {
				return b.selectRows(tb, []Condition{{"via_port", "=", ""}}, false)
			},
			mysql:  built{"SELECT * FROM `ps_endpoint_id_ips` WHERE `via_port` IS NULL ORDER BY `via_port`", []any{}},
			sqlite: built{`SELECT * FROM "ps_endpoint_id_ips" WHERE "via_port" IS NULL ORDER BY "via_port"`, []any{}},
		},
		{
			name: "unknown column",
			build: func(b builder) (string, []any, error) {
				return b.selectRows(tb, []Condition{{"id` OR 1", "=", "x"}}, false)
			},
			errKey: "id` OR 1",
		},
		{
			name: "insert converts and encodes",
			build: func(b builder) (string, []any, error) {
				return b.insert(tb, []Pair{{"id", "x;y"}, {"via_port", "5070"}, {"qualify_timeout", "3.000000"}, {"100rel", "YES"}, {"match", ""}})
			},
			mysql:  built{"INSERT INTO `ps_endpoint_id_ips` (`id`, `via_port`, `qualify_timeout`, `100rel`, `match`) VALUES (?, ?, ?, ?, ?)", []any{"x^3By", int64(5070), 3.0, "yes", ""}},
			sqlite: built{`INSERT INTO "ps_endpoint_id_ips" ("id", "via_port", "qualify_timeout", "100rel", "match") VALUES (?, ?, ?, ?, ?)`, []any{"x^3By", int64(5070), 3.0, "yes", ""}},
		},
		{
			name:   "insert bad integer",
			build:  func(b builder) (string, []any, error) { return b.insert(tb, []Pair{{"id", "x"}, {"via_port", "50x"}}) },
			errKey: "via_port",
		},
		{
			name:   "insert bad enum",
			build:  func(b builder) (string, []any, error) { return b.insert(tb, []Pair{{"100rel", "maybe"}}) },
			errKey: "100rel",
		},
		{
			name: "update: empty enum is NULL",
			build: func(b builder) (string, []any, error) {
				return b.update(tb, []Pair{{"100rel", ""}, {"match", "a"}}, []Condition{{"id", "=", "x"}})
			},
			mysql:  built{"UPDATE `ps_endpoint_id_ips` SET `100rel` = ?, `match` = ? WHERE `id` = ?", []any{nil, "a", "x"}},
			sqlite: built{`UPDATE "ps_endpoint_id_ips" SET "100rel" = ?, "match" = ? WHERE "id" = ?`, []any{nil, "a", "x"}},
		},
		{
			name:   "delete",
			build:  func(b builder) (string, []any, error) { return b.delete(tb, []Condition{{"id", "=", "x"}}) },
			mysql:  built{"DELETE FROM `ps_endpoint_id_ips` WHERE `id` = ?", []any{"x"}},
			sqlite: built{`DELETE FROM "ps_endpoint_id_ips" WHERE "id" = ?`, []any{"x"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for d, want := range map[store.Dialect]built{store.MySQL: tc.mysql, store.SQLite: tc.sqlite} {
				q, args, err := tc.build(builder{dialect: d})
				if tc.errKey != "" {
					var re *RequestError
					if !errors.As(err, &re) || re.Key != tc.errKey {
						t.Errorf("%s: error %v, want one naming %q", d, err, tc.errKey)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%s: %v", d, err)
				}
				if q != want.sql || !reflect.DeepEqual(args, want.args) {
					t.Errorf("%s:\n got %s %#v\nwant %s %#v", d, q, args, want.sql, want.args)
				}
			}
		})
	}
}

func TestCanHold(t *testing.T) {
	tb := newTable("t", []column{
		{Name: "reason_paused", Kind: kindText, Size: 80},
		{Name: "notes", Kind: kindText},
		{Name: "paused", Kind: kindInt},
		{Name: "time", Kind: kindTime},
		{Name: "qualify_timeout", Kind: kindFloat},
		{Name: "short", Kind: kindText, Size: 4},
	})
	for _, tc := range []struct {
		rq Requirement
		ok bool
	}{
		{Requirement{"reason_paused", "char", 80}, true},
		{Requirement{"reason_paused", "char", 81}, false},
		{Requirement{"notes", "char", 100000}, true},
		{Requirement{"paused", "integer1", 1}, true},
		{Requirement{"paused", "char", 10}, false},
		{Requirement{"time", "datetime", 26}, true},
		{Requirement{"time", "char", 20}, false},
		{Requirement{"qualify_timeout", "float", 8}, true},
		{Requirement{"short", "uinteger2", 5}, false}, // 65535 needs 5 characters
		{Requirement{"short", "uinteger1", 3}, true},
		{Requirement{"missing", "char", 1}, false},
	} {
		if got := tb.canHold(tc.rq) == ""; got != tc.ok {
			t.Errorf("canHold(%+v) = %v (%s), want %v", tc.rq, got, tb.canHold(tc.rq), tc.ok)
		}
	}
}

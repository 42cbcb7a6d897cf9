package realtime

import (
	"bufio"
	"context"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"omnicc/store"
	"omnicc/storetest"
)

// fixtureColumn is one line of realtime-schema.txt.
type fixtureColumn struct {
	Name, Type string
	NotNull    bool
	Extra      string
}

type fixtureTable struct {
	Columns []fixtureColumn
	Indexes []string // "UNIQUE id(id)", "INDEX ps_aors_id(id)", ...
}

// readSchemaFixture parses the summary of the tables Asterisk's alembic
// scripts create: testdata/realtime-schema.txt (copied from the captures)
// and testdata/realtime-schema-extra.txt (voicemail, queue_log, extensions).
func readSchemaFixture(t *testing.T) map[string]*fixtureTable {
	t.Helper()
	out := map[string]*fixtureTable{}
	readSchemaFile(t, "testdata/realtime-schema.txt", out)
	if len(out) != 9 {
		t.Fatalf("realtime-schema.txt: %d tables, want 9", len(out))
	}
	readSchemaFile(t, "testdata/realtime-schema-extra.txt", out)
	return out
}

func readSchemaFile(t *testing.T, path string, out map[string]*fixtureTable) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	head := regexp.MustCompile(`^\[(\w+)\]`)
	var cur *fixtureTable
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case head.MatchString(line):
			cur = &fixtureTable{}
			out[head.FindStringSubmatch(line)[1]] = cur
		case cur == nil || strings.TrimSpace(line) == "":
		case strings.HasPrefix(line, "#  "):
			cur.Indexes = append(cur.Indexes, strings.TrimSpace(line[3:]))
		case strings.HasPrefix(line, "#"):
		default:
			p := strings.Split(line, "\t")
			if len(p) < 4 {
				t.Fatalf("%s: bad column line %q", path, line)
			}
			c := fixtureColumn{Name: p[0], Type: p[1], NotNull: p[2] == "NOT NULL"}
			if len(p) > 4 {
				c.Extra = p[4]
			}
			cur.Columns = append(cur.Columns, c)
		}
	}
}

// normType makes MySQL 8's "int" and MariaDB's "int(11)" compare equal.
func normType(s string) string {
	s = strings.ToLower(s)
	return regexp.MustCompile(`^(tinyint|smallint|mediumint|int|bigint)\(\d+\)`).ReplaceAllString(s, "$1")
}

// TestMySQLTablesMatchAsterisk compares every column of the MySQL tables —
// name, position, type, nullability, auto-increment — and every index of the
// fixture with what the migrations created on MariaDB.
func TestMySQLTablesMatchAsterisk(t *testing.T) {
	want := readSchemaFixture(t)
	db := storetest.MariaDB(t)
	ctx := context.Background()
	for name, ft := range want {
		t.Run(name, func(t *testing.T) {
			rows, err := db.QueryContext(ctx, `SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, EXTRA
				FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?
				ORDER BY ORDINAL_POSITION`, name)
			if err != nil {
				t.Fatal(err)
			}
			var got []fixtureColumn
			for rows.Next() {
				var c fixtureColumn
				var nullable string
				if err := rows.Scan(&c.Name, &c.Type, &nullable, &c.Extra); err != nil {
					t.Fatal(err)
				}
				c.NotNull = nullable == "NO"
				got = append(got, c)
			}
			rows.Close()
			if len(got) != len(ft.Columns) {
				t.Errorf("%s has %d columns, Asterisk's has %d", name, len(got), len(ft.Columns))
			}
			for i, w := range ft.Columns {
				if i >= len(got) {
					t.Errorf("column %s missing", w.Name)
					continue
				}
				g := got[i]
				if g.Name != w.Name || normType(g.Type) != normType(w.Type) || g.NotNull != w.NotNull || !strings.Contains(g.Extra, w.Extra) {
					t.Errorf("column %d: got %s %s notnull=%v %q, want %s %s notnull=%v %q",
						i+1, g.Name, g.Type, g.NotNull, g.Extra, w.Name, w.Type, w.NotNull, w.Extra)
				}
			}
			// Indexes: every one of Asterisk's, with its uniqueness and columns.
			rows, err = db.QueryContext(ctx, `SELECT INDEX_NAME, NON_UNIQUE, GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX)
				FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?
				GROUP BY INDEX_NAME, NON_UNIQUE`, name)
			if err != nil {
				t.Fatal(err)
			}
			var have []string
			for rows.Next() {
				var idx, cols string
				var nonUnique int
				if err := rows.Scan(&idx, &nonUnique, &cols); err != nil {
					t.Fatal(err)
				}
				kind := "INDEX"
				if nonUnique == 0 {
					kind = "UNIQUE"
				}
				have = append(have, kind+" "+idx+"("+cols+")")
			}
			rows.Close()
			for _, w := range ft.Indexes {
				if !slices.Contains(have, w) {
					t.Errorf("index %q missing; the table has %v", w, have)
				}
			}
		})
	}
}

// TestEnginesAgree checks that the SQLite tables carry the same column names,
// in the same order, with the same kind of value and the same enum lists as
// the MySQL ones: the server's whitelist and conversions are read from the
// database, so this is what makes both engines answer alike.
func TestEnginesAgree(t *testing.T) {
	ctx := context.Background()
	schemas := map[store.Dialect]map[string]*table{}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s, err := loadSchema(ctx, db, db.Dialect)
		if err != nil {
			t.Fatal(err)
		}
		schemas[db.Dialect] = s
	})
	my, lite := schemas[store.MySQL], schemas[store.SQLite]
	if my == nil || lite == nil {
		t.Skip("needs both engines")
	}
	for name, mt := range my {
		lt := lite[name]
		if lt == nil {
			t.Errorf("%s missing on SQLite", name)
			continue
		}
		if len(mt.Columns) != len(lt.Columns) {
			t.Errorf("%s: %d columns on MySQL, %d on SQLite", name, len(mt.Columns), len(lt.Columns))
			continue
		}
		for i, m := range mt.Columns {
			l := lt.Columns[i]
			mk, lk := m.Kind, l.Kind
			if mk == kindTime {
				mk = kindText // SQLite keeps Asterisk's timestamp text as it came
			}
			if m.Name != l.Name || mk != lk || !slices.Equal(m.Enum, l.Enum) {
				t.Errorf("%s column %d: MySQL %s %s %v, SQLite %s %s %v", name, i+1, m.Name, m.Kind, m.Enum, l.Name, l.Kind, l.Enum)
			}
		}
	}
}

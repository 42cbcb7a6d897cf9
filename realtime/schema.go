package realtime

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"omnicc/store"
)

// Families are the realtime tables omniccd serves, as named in extconfig.conf
// and in the URL (/realtime/<family>/<verb>). A name outside this list is
// refused before any SQL is built.
var Families = []string{
	"ps_endpoints", "ps_aors", "ps_auths", "ps_contacts", "ps_domain_aliases", "ps_endpoint_id_ips",
	"queues", "queue_members", "queue_rules",
	"voicemail", "queue_log", "extensions",
}

// staticTable holds "static" realtime: whole configuration files as rows.
const staticTable = "ast_config"

// writable are the families Asterisk itself writes: contacts on REGISTER,
// member pauses (and the realtime CLI) on queue_members, app_queue's log,
// and app_voicemail's password change. The others are derived from the
// directory; a write there would be undone by the next change an admin makes,
// so it is refused.
var writable = map[string]bool{
	"ps_contacts": true, "queue_members": true, "queue_log": true, "voicemail": true,
}

// alwaysPresent are columns sent even when NULL. app_queue keeps pause
// reasons only if, at load, some queue_members row carries a reason_paused
// key; a NULL left out would silently turn pause reasons off.
var alwaysPresent = map[string][]string{
	"queue_members": {"reason_paused"},
}

// kind is how omniccd treats a column's values.
type kind int

const (
	kindText kind = iota
	kindEnum
	kindInt
	kindFloat
	kindDecimal
	kindTime
)

func (k kind) String() string {
	return [...]string{"text", "enum", "integer", "float", "decimal", "datetime"}[k]
}

// column is one column of a served table, read from the database itself so
// that the whitelist is exactly what the migrations created.
type column struct {
	Name     string
	Kind     kind
	Size     int // characters for text; 0 means no limit (TEXT, SQLite)
	Nullable bool
	Enum     []string // allowed values of an enum, lower case
}

type table struct {
	Name    string
	Columns []column
	index   map[string]int // lower-case name → position
}

func (t *table) column(name string) (*column, bool) {
	i, ok := t.index[strings.ToLower(name)]
	if !ok {
		return nil, false
	}
	return &t.Columns[i], true
}

func (t *table) has(name string) bool { _, ok := t.index[strings.ToLower(name)]; return ok }

func newTable(name string, cols []column) *table {
	t := &table{Name: name, Columns: cols, index: make(map[string]int, len(cols))}
	for i, c := range cols {
		t.index[strings.ToLower(c.Name)] = i
	}
	return t
}

// loadSchema reads the columns of every family (and the static table) from
// the database.
func loadSchema(ctx context.Context, db sqlDB, d store.Dialect) (map[string]*table, error) {
	names := append(append([]string(nil), Families...), staticTable)
	var (
		tables map[string]*table
		err    error
	)
	if d == store.MySQL {
		tables, err = loadMySQLSchema(ctx, db, names)
	} else {
		tables, err = loadSQLiteSchema(ctx, db, names)
	}
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if _, ok := tables[n]; !ok {
			return nil, fmt.Errorf("realtime: table %s is missing: run `omniccd migrate`", n)
		}
	}
	return tables, nil
}

func loadMySQLSchema(ctx context.Context, db sqlDB, names []string) (map[string]*table, error) {
	q := `SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, COALESCE(CHARACTER_MAXIMUM_LENGTH, 0), IS_NULLABLE, COLUMN_TYPE
		FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN (?` + strings.Repeat(", ?", len(names)-1) + `)
		ORDER BY TABLE_NAME, ORDINAL_POSITION`
	args := make([]any, len(names))
	for i, n := range names {
		args[i] = n
	}
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("realtime: read the realtime tables' columns: %w", err)
	}
	defer rows.Close()
	cols := map[string][]column{}
	for rows.Next() {
		var tname, cname, dtype, nullable, ctype string
		var size int64
		if err := rows.Scan(&tname, &cname, &dtype, &size, &nullable, &ctype); err != nil {
			return nil, fmt.Errorf("realtime: read the realtime tables' columns: %w", err)
		}
		c := column{Name: cname, Nullable: nullable == "YES"}
		switch strings.ToLower(dtype) {
		case "tinyint", "smallint", "mediumint", "int", "integer", "bigint":
			c.Kind = kindInt
		case "float", "double", "real":
			c.Kind = kindFloat
		case "decimal", "numeric":
			c.Kind = kindDecimal
		case "datetime", "timestamp", "date":
			c.Kind = kindTime
		case "enum":
			c.Kind = kindEnum
			c.Enum = enumValues(ctype)
		case "varchar", "char":
			c.Kind, c.Size = kindText, int(size)
		default: // text, mediumtext, longtext, set, ...
			c.Kind = kindText
		}
		cols[tname] = append(cols[tname], c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("realtime: read the realtime tables' columns: %w", err)
	}
	out := make(map[string]*table, len(cols))
	for n, cs := range cols {
		out[n] = newTable(n, cs)
	}
	return out, nil
}

var enumList = regexp.MustCompile(`'((?:[^']|'')*)'`)

// enumValues reads "enum('yes','no')" (MySQL's COLUMN_TYPE) or the list of an
// SQLite CHECK (lower(x) IN ('yes','no')).
func enumValues(s string) []string {
	var out []string
	for _, m := range enumList.FindAllStringSubmatch(s, -1) {
		out = append(out, strings.ToLower(strings.ReplaceAll(m[1], "''", "'")))
	}
	return out
}

// sqliteEnum finds the CHECK the SQLite migrations put on what MySQL declares
// as ENUM: col TEXT CHECK (lower(col) IN ('a','b')).
var sqliteEnum = regexp.MustCompile(`(?i)"?(\w+)"?\s+TEXT\s+CHECK\s*\(\s*lower\(\s*"?\w+"?\s*\)\s+IN\s*\(([^)]*)\)\s*\)`)

func loadSQLiteSchema(ctx context.Context, db sqlDB, names []string) (map[string]*table, error) {
	out := make(map[string]*table, len(names))
	for _, n := range names {
		var ddl string
		row := db.QueryRowContext(ctx, `SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?`, n)
		if err := row.Scan(&ddl); err != nil {
			continue // reported as missing by loadSchema
		}
		enums := map[string][]string{}
		for _, m := range sqliteEnum.FindAllStringSubmatch(ddl, -1) {
			enums[strings.ToLower(m[1])] = enumValues(m[2])
		}
		rows, err := db.QueryContext(ctx, `SELECT name, type, "notnull", pk FROM pragma_table_info(?) ORDER BY cid`, n)
		if err != nil {
			return nil, fmt.Errorf("realtime: read the columns of %s: %w", n, err)
		}
		var cols []column
		for rows.Next() {
			var name, typ string
			var notnull, pk int
			if err := rows.Scan(&name, &typ, &notnull, &pk); err != nil {
				rows.Close()
				return nil, fmt.Errorf("realtime: read the columns of %s: %w", n, err)
			}
			c := column{Name: name, Nullable: notnull == 0 && pk == 0}
			// SQLite's type affinity rules, in their order.
			t := strings.ToUpper(typ)
			switch {
			case strings.Contains(t, "INT"):
				c.Kind = kindInt
			case strings.Contains(t, "CHAR") || strings.Contains(t, "CLOB") || strings.Contains(t, "TEXT"):
				c.Kind = kindText
				if e, ok := enums[strings.ToLower(name)]; ok {
					c.Kind, c.Enum = kindEnum, e
				}
			case strings.Contains(t, "REAL") || strings.Contains(t, "FLOA") || strings.Contains(t, "DOUB"):
				c.Kind = kindFloat
			case t == "":
				c.Kind = kindText
			default:
				c.Kind = kindDecimal
			}
			cols = append(cols, c)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("realtime: read the columns of %s: %w", n, err)
		}
		if len(cols) > 0 {
			out[n] = newTable(n, cols)
		}
	}
	return out, nil
}

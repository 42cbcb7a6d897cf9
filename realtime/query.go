package realtime

import (
	"context"
	"database/sql"
	"strconv"
	"strings"

	"omnicc/store"
)

// sqlDB is what the server needs of *store.DB; tests wrap it to make the
// database fail on demand.
type sqlDB interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// builder turns parsed requests into parameterised SQL for one engine. Table
// and column names only ever come from the schema read out of the database
// (never from the request's bytes), and every value is a bound parameter.
type builder struct {
	dialect store.Dialect
}

func (b builder) quote(name string) string {
	if b.dialect == store.MySQL {
		return "`" + name + "`"
	}
	return `"` + name + `"`
}

// like is the LIKE operator with a backslash escape on both engines. MySQL
// escapes with '\' by default and res_config_odbc asks for it explicitly
// (pbx_realtime matches patterns with "exten LIKE \_%"); SQLite has no
// escape character unless told.
func (b builder) like(op string) string {
	if b.dialect == store.MySQL {
		return " " + op + " ?"
	}
	return " " + op + ` ? ESCAPE '\'`
}

// value converts what Asterisk sent for column c into the parameter to bind:
// numbers are checked here so that both engines refuse the same bad input
// with an error naming the field; an empty string means "no value" (NULL)
// for every column that is not free text; text is stored in res_config_odbc's
// encoding (see odbcEncode).
func value(c *column, v string, forMatch bool) (any, error) {
	switch c.Kind {
	case kindInt:
		if v == "" {
			return nil, nil
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			if forMatch {
				// A LIKE on a number column is legal SQL; let the
				// database compare the text.
				return v, nil
			}
			return nil, reqErr(c.Name, "%q is not an integer", v)
		}
		return n, nil
	case kindFloat, kindDecimal:
		if v == "" {
			return nil, nil
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			if forMatch {
				return v, nil
			}
			return nil, reqErr(c.Name, "%q is not a number", v)
		}
		return f, nil
	case kindEnum:
		if v == "" {
			return nil, nil
		}
		if !forMatch && len(c.Enum) > 0 {
			lv := strings.ToLower(v)
			ok := false
			for _, e := range c.Enum {
				if e == lv {
					ok = true
					break
				}
			}
			if !ok {
				return nil, reqErr(c.Name, "%q is not one of %s", v, strings.Join(c.Enum, ", "))
			}
			return lv, nil
		}
		return v, nil
	case kindTime:
		if v == "" {
			return nil, nil
		}
		return v, nil
	}
	return odbcEncode(v), nil
}

// where builds "WHERE a = ? AND b LIKE ?" and its arguments.
func (b builder) where(t *table, conds []Condition) (string, []any, error) {
	var sb strings.Builder
	args := make([]any, 0, len(conds))
	for i, c := range conds {
		col, ok := t.column(c.Column)
		if !ok {
			return "", nil, reqErr(c.Column, "no such column in %s", t.Name)
		}
		if i == 0 {
			sb.WriteString(" WHERE ")
		} else {
			sb.WriteString(" AND ")
		}
		sb.WriteString(b.quote(col.Name))
		v, err := value(col, c.Value, true)
		if err != nil {
			return "", nil, err
		}
		if v == nil {
			// "x = ''" on a number column: nothing but NULL can be meant.
			switch c.Op {
			case "=":
				sb.WriteString(" IS NULL")
				continue
			case "!=":
				sb.WriteString(" IS NOT NULL")
				continue
			}
			v = ""
		}
		switch c.Op {
		case "LIKE", "NOT LIKE":
			sb.WriteString(b.like(c.Op))
		default:
			sb.WriteString(" " + c.Op + " ?")
		}
		args = append(args, v)
	}
	return sb.String(), args, nil
}

// selectRows is the lookup of single and multi, ordered by the first lookup
// column as res_config_odbc orders its multi lookups; single keeps the first
// row, which is all res_config_curl reads.
func (b builder) selectRows(t *table, conds []Condition, single bool) (string, []any, error) {
	w, args, err := b.where(t, conds)
	if err != nil {
		return "", nil, err
	}
	first, _ := t.column(conds[0].Column)
	q := "SELECT * FROM " + b.quote(t.Name) + w + " ORDER BY " + b.quote(first.Name)
	if single {
		q += " LIMIT 1"
	}
	return q, args, nil
}

func (b builder) insert(t *table, set []Pair) (string, []any, error) {
	var cols, marks strings.Builder
	args := make([]any, 0, len(set))
	for i, p := range set {
		col, ok := t.column(p.Key)
		if !ok {
			return "", nil, reqErr(p.Key, "no such column in %s", t.Name)
		}
		v, err := value(col, p.Value, false)
		if err != nil {
			return "", nil, err
		}
		if i > 0 {
			cols.WriteString(", ")
			marks.WriteString(", ")
		}
		cols.WriteString(b.quote(col.Name))
		marks.WriteString("?")
		args = append(args, v)
	}
	return "INSERT INTO " + b.quote(t.Name) + " (" + cols.String() + ") VALUES (" + marks.String() + ")", args, nil
}

func (b builder) update(t *table, set []Pair, conds []Condition) (string, []any, error) {
	var sb strings.Builder
	sb.WriteString("UPDATE " + b.quote(t.Name) + " SET ")
	args := make([]any, 0, len(set)+len(conds))
	for i, p := range set {
		col, ok := t.column(p.Key)
		if !ok {
			return "", nil, reqErr(p.Key, "no such column in %s", t.Name)
		}
		v, err := value(col, p.Value, false)
		if err != nil {
			return "", nil, err
		}
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(b.quote(col.Name) + " = ?")
		args = append(args, v)
	}
	w, wargs, err := b.where(t, conds)
	if err != nil {
		return "", nil, err
	}
	return sb.String() + w, append(args, wargs...), nil
}

func (b builder) delete(t *table, conds []Condition) (string, []any, error) {
	w, args, err := b.where(t, conds)
	if err != nil {
		return "", nil, err
	}
	return "DELETE FROM " + b.quote(t.Name) + w, args, nil
}

// staticRows is res_config_odbc's query for a static file, in its order.
func (b builder) staticRows() string {
	return "SELECT cat_metric, category, var_name, var_val FROM " + b.quote(staticTable) +
		" WHERE filename = ? AND commented = 0 ORDER BY cat_metric DESC, var_metric ASC, category, var_name"
}

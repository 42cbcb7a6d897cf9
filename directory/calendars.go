package directory

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	// The calendars name IANA zones: embedding the zone database makes them
	// load on hosts without /usr/share/zoneinfo (minimal containers), where
	// every business-hours check would otherwise fail.
	_ "time/tzdata"

	"github.com/jmoiron/sqlx"

	"omnicc/store"
)

// Calendar is a business-hours calendar: weekly opening hours and
// exceptions by date (holidays, closures, half days), all as wall-clock
// times in TimeZone. Inbound routes with a calendar take their open or
// closed destination by it.
//
// A DST change moves nothing: "09:00" is nine o'clock local time on both
// sides of it. On the night clocks go forward the skipped hour simply never
// happens; on the night they go back the repeated hour is open or closed
// both times.
type Calendar struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	// TimeZone is an IANA zone name, e.g. Europe/Rome.
	TimeZone   string              `json:"time_zone"`
	Hours      []WeeklyHours       `json:"hours"`
	Exceptions []CalendarException `json:"exceptions"`
	CreatedAt  time.Time           `json:"created_at"`
	UpdatedAt  time.Time           `json:"updated_at"`
}

// WeeklyHours is one opening interval on a day of the week. A day may have
// several (09:00-13:00 and 14:00-18:00); a day with none is closed.
type WeeklyHours struct {
	Day    string `json:"day"`    // mon, tue, wed, thu, fri, sat, sun
	Opens  string `json:"opens"`  // HH:MM
	Closes string `json:"closes"` // HH:MM, after Opens; 24:00 is midnight at the end of the day
}

// CalendarException replaces the weekly hours on one date: with no Hours
// the calendar is closed all day (a holiday, a closure); with Hours it is
// open only then (a half day, or opening on a day that is normally closed).
type CalendarException struct {
	// Date is YYYY-MM-DD, or MM-DD for every year (25 December). A dated
	// exception wins over an every-year one on the same day.
	Date  string         `json:"date"`
	Name  string         `json:"name"`
	Hours []OpenInterval `json:"hours"`
}

// OpenInterval is a time range within one day.
type OpenInterval struct {
	Opens  string `json:"opens"`
	Closes string `json:"closes"`
}

// CalendarInput is a create or partial update of a calendar. Hours and
// Exceptions, when given, replace the whole list.
type CalendarInput struct {
	Name        *string              `json:"name"`
	Description *string              `json:"description"`
	TimeZone    *string              `json:"time_zone"`
	Hours       *[]WeeklyHours       `json:"hours"`
	Exceptions  *[]CalendarException `json:"exceptions"`
}

func (in *CalendarInput) apply(c *Calendar) {
	set(&c.Name, in.Name)
	set(&c.Description, in.Description)
	set(&c.TimeZone, in.TimeZone)
	if in.Hours != nil {
		c.Hours = slices.Clone(*in.Hours)
	}
	if in.Exceptions != nil {
		c.Exceptions = slices.Clone(*in.Exceptions)
	}
}

// weekdays are the day names the API uses, indexed by time.Weekday.
var weekdays = [7]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

func weekdayIndex(day string) (time.Weekday, bool) {
	i := slices.Index(weekdays[:], strings.ToLower(day))
	return time.Weekday(i), i >= 0
}

// maxCalendarRows bounds the lists of one calendar: a year of dated
// exceptions fits many times over.
const maxCalendarRows = 1000

// clockMinutes parses HH:MM into minutes since midnight; 24:00 is allowed
// as a closing time only.
func clockMinutes(field, v string, closing bool) (int, error) {
	h, m, ok := strings.Cut(v, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	switch {
	case !ok || len(h) != 2 || len(m) != 2 || err1 != nil || err2 != nil || hh < 0 || mm < 0 || mm > 59:
	case hh < 24:
		return hh*60 + mm, nil
	case hh == 24 && mm == 0 && closing:
		return 24 * 60, nil
	}
	if closing {
		return 0, fieldErr(field, "%q must be a time HH:MM between 00:01 and 24:00", v)
	}
	return 0, fieldErr(field, "%q must be a time HH:MM between 00:00 and 23:59", v)
}

// span is an opening interval in minutes since local midnight, [from, to).
type span struct{ from, to int }

func parseSpan(field, opens, closes string) (span, error) {
	from, err := clockMinutes(field+".opens", opens, false)
	if err != nil {
		return span{}, err
	}
	to, err := clockMinutes(field+".closes", closes, true)
	if err != nil {
		return span{}, err
	}
	if to <= from {
		return span{}, fieldErr(field+".closes", "%s is not after opens %s: an interval cannot cross midnight, split it in two (…-24:00 and 00:00-…)", closes, opens)
	}
	return span{from, to}, nil
}

// noOverlap refuses an interval that overlaps one already given for the
// same day: 09:00-13:00 with 12:00-18:00 is almost always a typo, and a
// schedule that reads the same either way is what the admin should see.
// Touching intervals (…-13:00, 13:00-…) are fine.
func noOverlap(field string, sp span, day []span) error {
	for _, o := range day {
		if sp.from < o.to && o.from < sp.to {
			return fieldErr(field, "%s-%s overlaps %s-%s on the same day: merge them or fix the times",
				clock(sp.from), clock(sp.to), clock(o.from), clock(o.to))
		}
	}
	return nil
}

func clock(m int) string { return fmt.Sprintf("%02d:%02d", m/60, m%60) }

// exceptionKey reads YYYY-MM-DD (dated) or MM-DD (every year) as a number
// the schedule looks up without formatting a string on every call.
func exceptionKey(field, v string) (key int, annual bool, err error) {
	if t, perr := time.Parse("2006-01-02", v); perr == nil {
		return t.Year()*10000 + int(t.Month())*100 + t.Day(), false, nil
	}
	// 2000 is a leap year, so 02-29 is accepted as an every-year date.
	if t, perr := time.Parse("2006-01-02", "2000-"+v); perr == nil && len(v) == 5 {
		return int(t.Month())*100 + t.Day(), true, nil
	}
	return 0, false, fieldErr(field, "%q must be a date YYYY-MM-DD, or MM-DD for every year", v)
}

// Schedule is a calendar compiled for the routing path: Open answers from
// memory with no allocation.
type Schedule struct {
	loc    *time.Location
	weekly [7][]span
	dated  map[int][]span // YYYYMMDD → hours (none: closed)
	annual map[int][]span // MMDD → hours
}

// Schedule checks the calendar and compiles it.
func (c *Calendar) Schedule() (*Schedule, error) {
	if strings.TrimSpace(c.Name) == "" || len(c.Name) > 128 {
		return nil, fieldErr("name", "is required, at most 128 characters")
	}
	if err := oneLine("name", c.Name); err != nil {
		return nil, err
	}
	if len(c.Description) > 2000 {
		return nil, fieldErr("description", "must be at most 2000 characters")
	}
	if c.TimeZone == "" || c.TimeZone == "Local" {
		return nil, fieldErr("time_zone", "%q must be an IANA time zone name such as Europe/Rome or America/New_York", c.TimeZone)
	}
	loc, err := time.LoadLocation(c.TimeZone)
	if err != nil {
		return nil, fieldErr("time_zone", "%q is not an IANA time zone name (e.g. Europe/Rome, America/New_York, UTC)", c.TimeZone)
	}
	if len(c.Hours) > maxCalendarRows || len(c.Exceptions) > maxCalendarRows {
		return nil, fieldErr("hours", "at most %d weekly intervals and %d exceptions", maxCalendarRows, maxCalendarRows)
	}
	s := &Schedule{loc: loc, dated: map[int][]span{}, annual: map[int][]span{}}
	for i, h := range c.Hours {
		field := fmt.Sprintf("hours[%d]", i)
		day, ok := weekdayIndex(h.Day)
		if !ok {
			return nil, fieldErr(field+".day", "%q must be one of %s", h.Day, strings.Join(weekdays[1:], ", ")+", sun")
		}
		sp, err := parseSpan(field, h.Opens, h.Closes)
		if err != nil {
			return nil, err
		}
		if err := noOverlap(field, sp, s.weekly[day]); err != nil {
			return nil, err
		}
		s.weekly[day] = append(s.weekly[day], sp)
	}
	for i, e := range c.Exceptions {
		field := fmt.Sprintf("exceptions[%d]", i)
		key, annual, err := exceptionKey(field+".date", e.Date)
		if err != nil {
			return nil, err
		}
		if len(e.Name) > 128 {
			return nil, fieldErr(field+".name", "must be at most 128 characters")
		}
		m := s.dated
		if annual {
			m = s.annual
		}
		if _, dup := m[key]; dup {
			return nil, fieldErr(field+".date", "%s is listed twice: give one exception per date, with all its hours", e.Date)
		}
		spans := []span{} // not nil: an empty list means closed all day
		for j, h := range e.Hours {
			hf := fmt.Sprintf("%s.hours[%d]", field, j)
			sp, err := parseSpan(hf, h.Opens, h.Closes)
			if err != nil {
				return nil, err
			}
			if err := noOverlap(hf, sp, spans); err != nil {
				return nil, err
			}
			spans = append(spans, sp)
		}
		m[key] = spans
	}
	return s, nil
}

// Open reports whether the calendar is open at t.
func (s *Schedule) Open(t time.Time) bool {
	lt := t.In(s.loc)
	y, m, d := lt.Date()
	minute := lt.Hour()*60 + lt.Minute()
	spans, ok := s.dated[y*10000+int(m)*100+d]
	if !ok {
		if spans, ok = s.annual[int(m)*100+d]; !ok {
			spans = s.weekly[lt.Weekday()]
		}
	}
	for _, sp := range spans {
		if sp.from <= minute && minute < sp.to {
			return true
		}
	}
	return false
}

// Location is the calendar's time zone.
func (s *Schedule) Location() *time.Location { return s.loc }

// normalise writes days and times the one way the store keeps them.
func (c *Calendar) normalise() {
	for i := range c.Hours {
		c.Hours[i].Day = strings.ToLower(c.Hours[i].Day)
	}
	if c.Hours == nil {
		c.Hours = []WeeklyHours{}
	}
	if c.Exceptions == nil {
		c.Exceptions = []CalendarException{}
	}
	for i := range c.Exceptions {
		if c.Exceptions[i].Hours == nil {
			c.Exceptions[i].Hours = []OpenInterval{}
		}
	}
}

// CreateCalendar stores a new calendar.
func (d *Directory) CreateCalendar(ctx context.Context, in CalendarInput) (*Calendar, error) {
	var c Calendar
	in.apply(&c)
	if _, err := c.Schedule(); err != nil {
		return nil, err
	}
	c.normalise()
	now := d.now()
	c.CreatedAt, c.UpdatedAt = now, now
	err := d.db.InTx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO calendars (name, description, time_zone, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?)`, c.Name, c.Description, c.TimeZone, c.CreatedAt, c.UpdatedAt)
		if err != nil {
			return err
		}
		if c.ID, err = res.LastInsertId(); err != nil {
			return err
		}
		return saveCalendarRows(ctx, tx, &c)
	})
	if store.IsUniqueViolation(err) {
		return nil, &ConflictError{Field: "name", Value: c.Name}
	}
	if err != nil {
		return nil, err
	}
	d.notify(Change{Entity: "calendar", Op: "create", ID: c.ID})
	return &c, nil
}

func saveCalendarRows(ctx context.Context, tx *sqlx.Tx, c *Calendar) error {
	for _, q := range []string{`DELETE FROM calendar_hours WHERE calendar_id = ?`, `DELETE FROM calendar_exceptions WHERE calendar_id = ?`} {
		if _, err := tx.ExecContext(ctx, q, c.ID); err != nil {
			return err
		}
	}
	for _, h := range c.Hours {
		day, _ := weekdayIndex(h.Day)
		if _, err := tx.ExecContext(ctx, `INSERT INTO calendar_hours (calendar_id, weekday, opens, closes) VALUES (?, ?, ?, ?)`,
			c.ID, int(day), h.Opens, h.Closes); err != nil {
			return err
		}
	}
	for _, e := range c.Exceptions {
		if _, err := tx.ExecContext(ctx, `INSERT INTO calendar_exceptions (calendar_id, day, name, hours) VALUES (?, ?, ?, ?)`,
			c.ID, e.Date, e.Name, formatIntervals(e.Hours)); err != nil {
			return err
		}
	}
	return nil
}

// formatIntervals stores an exception's hours as "09:00-13:00,14:00-18:00".
func formatIntervals(iv []OpenInterval) string {
	parts := make([]string, len(iv))
	for i, h := range iv {
		parts[i] = h.Opens + "-" + h.Closes
	}
	return strings.Join(parts, ",")
}

func parseIntervals(s string) []OpenInterval {
	out := []OpenInterval{}
	for p := range strings.SplitSeq(s, ",") {
		if o, c, ok := strings.Cut(p, "-"); ok {
			out = append(out, OpenInterval{Opens: o, Closes: c})
		}
	}
	return out
}

type calendarRow struct {
	ID          int64     `db:"id"`
	Name        string    `db:"name"`
	Description string    `db:"description"`
	TimeZone    string    `db:"time_zone"`
	CreatedAt   time.Time `db:"created_at"`
	UpdatedAt   time.Time `db:"updated_at"`
}

const calendarSelect = `SELECT id, name, description, time_zone, created_at, updated_at FROM calendars`

// Calendar returns one calendar with its hours and exceptions.
func (d *Directory) Calendar(ctx context.Context, id int64) (*Calendar, error) {
	return d.calendar(ctx, d.db, id)
}

func (d *Directory) calendar(ctx context.Context, q sqlx.QueryerContext, id int64) (*Calendar, error) {
	var rows []calendarRow
	if err := sqlx.SelectContext(ctx, q, &rows, calendarSelect+` WHERE id = ?`, id); err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("calendar %d: %w", id, ErrNotFound)
	}
	cs, err := loadCalendars(ctx, q, rows)
	if err != nil {
		return nil, err
	}
	return cs[0], nil
}

// loadCalendars adds the hours and exceptions of rows, in two queries.
func loadCalendars(ctx context.Context, q sqlx.QueryerContext, rows []calendarRow) ([]*Calendar, error) {
	out := make([]*Calendar, len(rows))
	byID := make(map[int64]*Calendar, len(rows))
	ids := make([]any, len(rows))
	for i, r := range rows {
		c := &Calendar{ID: r.ID, Name: r.Name, Description: r.Description, TimeZone: r.TimeZone,
			CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(), Hours: []WeeklyHours{}, Exceptions: []CalendarException{}}
		out[i], byID[r.ID], ids[i] = c, c, r.ID
	}
	if len(rows) == 0 {
		return out, nil
	}
	in := placeholders(len(ids))
	var hours []struct {
		CalendarID int64  `db:"calendar_id"`
		Weekday    int    `db:"weekday"`
		Opens      string `db:"opens"`
		Closes     string `db:"closes"`
	}
	// Ordered by id: the hours come back in the order they were given.
	if err := sqlx.SelectContext(ctx, q, &hours, `SELECT calendar_id, weekday, opens, closes FROM calendar_hours
		WHERE calendar_id IN (`+in+`) ORDER BY id`, ids...); err != nil {
		return nil, err
	}
	for _, h := range hours {
		c := byID[h.CalendarID]
		c.Hours = append(c.Hours, WeeklyHours{Day: weekdays[h.Weekday%7], Opens: h.Opens, Closes: h.Closes})
	}
	var exc []struct {
		CalendarID int64  `db:"calendar_id"`
		Day        string `db:"day"`
		Name       string `db:"name"`
		Hours      string `db:"hours"`
	}
	if err := sqlx.SelectContext(ctx, q, &exc, `SELECT calendar_id, day, name, hours FROM calendar_exceptions
		WHERE calendar_id IN (`+in+`) ORDER BY id`, ids...); err != nil {
		return nil, err
	}
	for _, e := range exc {
		c := byID[e.CalendarID]
		c.Exceptions = append(c.Exceptions, CalendarException{Date: e.Day, Name: e.Name, Hours: parseIntervals(e.Hours)})
	}
	return out, nil
}

// CalendarFilter selects calendars for a list.
type CalendarFilter struct {
	Q       string
	Sort    string
	Page    int
	PerPage int
}

var calendarSorts = map[string]string{"id": "id", "name": "name", "time_zone": "time_zone",
	"created_at": "created_at", "updated_at": "updated_at"}

// ListCalendars returns a page of calendars and the total.
func (d *Directory) ListCalendars(ctx context.Context, f CalendarFilter) ([]*Calendar, int, error) {
	where, args := " WHERE 1 = 1", []any{}
	if f.Q != "" {
		like := "%" + escapeLike(f.Q) + "%"
		where += ` AND (name LIKE ? ESCAPE '!' OR description LIKE ? ESCAPE '!')`
		args = append(args, like, like)
	}
	var rows []calendarRow
	total, err := d.selectPage(ctx, &rows, pageQuery{table: "calendars", selectSQL: calendarSelect,
		where: where, args: args, sort: f.Sort, sorts: calendarSorts, page: f.Page, perPage: f.PerPage})
	if err != nil {
		return nil, 0, err
	}
	cs, err := loadCalendars(ctx, d.db, rows)
	return cs, total, err
}

// UpdateCalendar applies a partial update.
func (d *Directory) UpdateCalendar(ctx context.Context, id int64, in CalendarInput) (*Calendar, error) {
	var after *Calendar
	err := d.db.InTx(ctx, func(tx *sqlx.Tx) error {
		c, err := d.calendar(ctx, tx, id)
		if err != nil {
			return err
		}
		in.apply(c)
		if _, err := c.Schedule(); err != nil {
			return err
		}
		c.normalise()
		c.UpdatedAt = d.now()
		if _, err := tx.ExecContext(ctx, `UPDATE calendars SET name = ?, description = ?, time_zone = ?, updated_at = ? WHERE id = ?`,
			c.Name, c.Description, c.TimeZone, c.UpdatedAt, id); err != nil {
			return err
		}
		after = c
		return saveCalendarRows(ctx, tx, c)
	})
	if store.IsUniqueViolation(err) {
		return nil, &ConflictError{Field: "name", Value: deref(in.Name)}
	}
	if err != nil {
		return nil, err
	}
	d.notify(Change{Entity: "calendar", Op: "update", ID: id})
	return after, nil
}

// DeleteCalendar removes a calendar no route uses.
func (d *Directory) DeleteCalendar(ctx context.Context, id int64) error {
	err := d.db.InTx(ctx, func(tx *sqlx.Tx) error {
		c, err := d.calendar(ctx, tx, id)
		if err != nil {
			return err
		}
		var users []string
		if err := tx.SelectContext(ctx, &users, `SELECT name FROM inbound_routes WHERE calendar_id = ? ORDER BY name`, id); err != nil {
			return err
		}
		if len(users) > 0 {
			return &InUseError{What: "calendar " + c.Name, UsedBy: prefixAll("inbound route ", users),
				Fix: "give those routes another calendar_id (or none) first"}
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM calendars WHERE id = ?`, id)
		return err
	})
	if err != nil {
		return err
	}
	d.notify(Change{Entity: "calendar", Op: "delete", ID: id})
	return nil
}

// deref is *p, or "" for nil: a unique clash on update names the value
// given, and only a given name can clash.
func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func prefixAll(prefix string, names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = prefix + n
	}
	return out
}

// allCalendars loads every calendar, for the route table.
func allCalendars(ctx context.Context, q sqlx.QueryerContext) (map[int64]*Calendar, error) {
	var rows []calendarRow
	if err := sqlx.SelectContext(ctx, q, &rows, calendarSelect); err != nil {
		return nil, err
	}
	cs, err := loadCalendars(ctx, q, rows)
	if err != nil {
		return nil, err
	}
	out := make(map[int64]*Calendar, len(cs))
	for _, c := range cs {
		out[c.ID] = c
	}
	return out, nil
}

// calendarExists is the write-time check of an inbound route's calendar_id.
func calendarExists(ctx context.Context, q sqlx.QueryerContext, id int64) error {
	var n int
	err := sqlx.GetContext(ctx, q, &n, `SELECT 1 FROM calendars WHERE id = ?`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return fieldErr("calendar_id", "no calendar has id %d: create it first (POST /api/v1/calendars) or leave calendar_id null", id)
	}
	return err
}

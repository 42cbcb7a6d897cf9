package directory_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"omnicc/directory"
	"omnicc/store"
	"omnicc/storetest"
)

// officeHours is Europe/Rome, Monday to Friday 09:00-13:00 and 14:00-18:00,
// Sunday 02:00-03:00 (the hour DST skips in March and repeats in October),
// Christmas closed, Christmas Eve every year a half day, one Saturday open
// in the morning, and New Year's Day 2027 open an hour though every 1
// January is closed.
func officeHours() directory.Calendar {
	var hours []directory.WeeklyHours
	for _, d := range []string{"mon", "tue", "wed", "thu", "fri"} {
		hours = append(hours, directory.WeeklyHours{Day: d, Opens: "09:00", Closes: "13:00"},
			directory.WeeklyHours{Day: d, Opens: "14:00", Closes: "18:00"})
	}
	hours = append(hours, directory.WeeklyHours{Day: "SUN", Opens: "02:00", Closes: "03:00"})
	return directory.Calendar{Name: "office", TimeZone: "Europe/Rome", Hours: hours,
		Exceptions: []directory.CalendarException{
			{Date: "2026-12-25", Name: "Christmas"},
			{Date: "12-24", Name: "Christmas Eve", Hours: []directory.OpenInterval{{Opens: "09:00", Closes: "13:00"}}},
			{Date: "2026-11-28", Name: "Black Friday weekend", Hours: []directory.OpenInterval{{Opens: "10:00", Closes: "12:00"}}},
			{Date: "01-01", Name: "New Year"},
			{Date: "2027-01-01", Name: "New Year hotline", Hours: []directory.OpenInterval{{Opens: "10:00", Closes: "11:00"}}},
		}}
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// Business hours are wall-clock times in the calendar's zone: the same UTC
// instant is open before the DST change and closed after it, or the other
// way round, and the hour DST skips never opens.
func TestScheduleAcrossDST(t *testing.T) {
	cal := officeHours()
	s, err := cal.Schedule()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		at   string
		want bool
		why  string
	}{
		// Last Sunday of March 2026 (29th): 02:00 CET becomes 03:00 CEST at 01:00 UTC.
		{"2026-03-27T07:30:00Z", false, "Fri 08:30 CET, before opening"},
		{"2026-03-27T08:30:00Z", true, "Fri 09:30 CET"},
		{"2026-03-30T07:30:00Z", true, "Mon 09:30 CEST: same UTC time as the Friday, an hour later locally"},
		{"2026-03-30T16:30:00Z", false, "Mon 18:30 CEST, after closing"},
		{"2026-03-30T15:59:00Z", true, "Mon 17:59 CEST"},
		{"2026-03-30T11:30:00Z", false, "Mon 13:30 CEST, lunch"},
		{"2026-03-29T00:59:00Z", false, "Sun 01:59 CET"},
		{"2026-03-29T01:00:00Z", false, "Sun 03:00 CEST: 02:00-03:00 never happened"},
		{"2026-03-22T01:30:00Z", true, "the Sunday before, 02:30 CET"},
		// Last Sunday of October 2026 (25th): 03:00 CEST becomes 02:00 CET at 01:00 UTC.
		{"2026-10-25T00:30:00Z", true, "Sun 02:30 CEST, first time round"},
		{"2026-10-25T01:30:00Z", true, "Sun 02:30 CET, second time round"},
		{"2026-10-25T02:00:00Z", false, "Sun 03:00 CET"},
		{"2026-10-23T07:30:00Z", true, "Fri 09:30 CEST"},
		{"2026-10-26T07:30:00Z", false, "Mon 08:30 CET: same UTC time as the Friday, an hour earlier locally"},
		{"2026-10-26T08:00:00Z", true, "Mon 09:00 CET, opening minute"},
		// Holidays and closures.
		{"2026-12-25T10:00:00Z", false, "Christmas, a Friday, closed all day"},
		{"2026-12-24T10:00:00Z", true, "Christmas Eve 11:00, morning open"},
		{"2026-12-24T13:00:00Z", false, "Christmas Eve 14:00, afternoon closed"},
		{"2027-12-24T09:00:00Z", true, "Christmas Eve every year"},
		{"2026-11-28T09:30:00Z", true, "an exceptional Saturday, 10:30"},
		{"2026-11-28T11:30:00Z", false, "an exceptional Saturday, 12:30"},
		{"2026-11-21T09:30:00Z", false, "an ordinary Saturday"},
		{"2028-01-03T09:00:00Z", true, "an ordinary Monday"},
		{"2029-01-01T09:00:00Z", false, "1 January, a Monday, closed every year"},
		{"2027-01-01T09:30:00Z", true, "1 January 2027: the dated exception wins over the every-year one"},
		{"2027-01-01T10:30:00Z", false, "1 January 2027 after its hour"},
	} {
		if got := s.Open(utc(c.at)); got != c.want {
			t.Errorf("%s (%s): open = %v, want %v", c.at, c.why, got, c.want)
		}
	}
}

func TestCalendarValidation(t *testing.T) {
	for _, c := range []struct {
		edit  func(*directory.Calendar)
		field string
	}{
		{func(c *directory.Calendar) { c.Name = "" }, "name"},
		{func(c *directory.Calendar) { c.TimeZone = "Mars/Olympus" }, "time_zone"},
		{func(c *directory.Calendar) { c.TimeZone = "" }, "time_zone"},
		{func(c *directory.Calendar) { c.TimeZone = "Local" }, "time_zone"},
		{func(c *directory.Calendar) { c.Hours[1].Day = "monday" }, "hours[1].day"},
		{func(c *directory.Calendar) { c.Hours[0].Opens = "9:00" }, "hours[0].opens"},
		{func(c *directory.Calendar) { c.Hours[0].Opens = "24:00" }, "hours[0].opens"},
		{func(c *directory.Calendar) { c.Hours[0].Closes = "24:01" }, "hours[0].closes"},
		{func(c *directory.Calendar) { c.Hours[2].Closes = "08:00" }, "hours[2].closes"},
		{func(c *directory.Calendar) { c.Exceptions[0].Date = "2026-02-30" }, "exceptions[0].date"},
		{func(c *directory.Calendar) { c.Exceptions[1].Date = "12/24" }, "exceptions[1].date"},
		{func(c *directory.Calendar) { c.Exceptions[2].Date = "2026-12-25" }, "exceptions[2].date"},
		{func(c *directory.Calendar) { c.Exceptions[1].Hours[0].Closes = "08:00" }, "exceptions[1].hours[0].closes"},
		// Overlapping hours on one day are refused; the later interval is named.
		{func(c *directory.Calendar) { c.Hours[1].Opens = "12:00" }, "hours[1]"},
		{func(c *directory.Calendar) {
			c.Exceptions[1].Hours = append(c.Exceptions[1].Hours, directory.OpenInterval{Opens: "10:00", Closes: "11:00"})
		}, "exceptions[1].hours[1]"},
		{func(c *directory.Calendar) { c.Name = "office\nhours" }, "name"},
	} {
		cal := officeHours()
		c.edit(&cal)
		_, err := cal.Schedule()
		var fe *directory.FieldError
		if !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("want an error on %s, got %v", c.field, err)
		}
	}
	touching := directory.Calendar{Name: "x", TimeZone: "UTC", Hours: []directory.WeeklyHours{
		{Day: "mon", Opens: "09:00", Closes: "13:00"}, {Day: "mon", Opens: "13:00", Closes: "18:00"}, {Day: "tue", Opens: "12:00", Closes: "14:00"}}}
	if _, err := touching.Schedule(); err != nil {
		t.Errorf("touching intervals: %v", err)
	}
	leap := directory.Calendar{Name: "x", TimeZone: "UTC", Exceptions: []directory.CalendarException{{Date: "02-29"}}}
	if _, err := leap.Schedule(); err != nil {
		t.Errorf("02-29 every year: %v", err)
	}
}

func TestCalendarStore(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		d := directory.New(db, directory.Options{})
		cal := officeHours()
		c, err := d.CreateCalendar(ctx, directory.CalendarInput{Name: &cal.Name, TimeZone: &cal.TimeZone, Hours: &cal.Hours, Exceptions: &cal.Exceptions})
		if err != nil {
			t.Fatal(err)
		}
		got, err := d.Calendar(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Hours) != 11 || got.Hours[10].Day != "sun" || got.Hours[1].Opens != "14:00" {
			t.Fatalf("hours did not round-trip: %+v", got.Hours)
		}
		if len(got.Exceptions) != 5 || got.Exceptions[1].Date != "12-24" || got.Exceptions[1].Hours[0].Closes != "13:00" ||
			got.Exceptions[0].Hours == nil || len(got.Exceptions[0].Hours) != 0 {
			t.Fatalf("exceptions did not round-trip: %+v", got.Exceptions)
		}
		if _, err := d.CreateCalendar(ctx, directory.CalendarInput{Name: strp("OFFICE"), TimeZone: strp("UTC")}); !isConflict(err, "name") {
			t.Fatalf("a second calendar named OFFICE: %v", err)
		}
		// Replacing the hours replaces them all; the exceptions stay.
		hours := []directory.WeeklyHours{{Day: "sat", Opens: "08:00", Closes: "24:00"}}
		up, err := d.UpdateCalendar(ctx, c.ID, directory.CalendarInput{Hours: &hours, TimeZone: strp("America/New_York")})
		if err != nil {
			t.Fatal(err)
		}
		got, _ = d.Calendar(ctx, c.ID)
		if len(got.Hours) != 1 || got.TimeZone != "America/New_York" || len(got.Exceptions) != 5 || up.Hours[0].Closes != "24:00" {
			t.Fatalf("after update: %+v", got)
		}
		if _, err := d.UpdateCalendar(ctx, c.ID, directory.CalendarInput{TimeZone: strp("Nowhere/Else")}); !isField(err, "time_zone") {
			t.Fatalf("bad zone on update: %v", err)
		}
		list, total, err := d.ListCalendars(ctx, directory.CalendarFilter{Q: "offi"})
		if err != nil || total != 1 || len(list) != 1 || len(list[0].Exceptions) != 5 {
			t.Fatalf("list: %v %d %v", list, total, err)
		}
		if err := d.DeleteCalendar(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Calendar(ctx, c.ID); !errors.Is(err, directory.ErrNotFound) {
			t.Fatalf("after delete: %v", err)
		}
	})
}

func isField(err error, field string) bool {
	var fe *directory.FieldError
	return errors.As(err, &fe) && fe.Field == field
}

func isConflict(err error, field string) bool {
	var ce *directory.ConflictError
	return errors.As(err, &ce) && ce.Field == field
}

package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"omnicc/calllog"
	"omnicc/contacts"
	"omnicc/directory"
)

// CallLogReader lists routing decisions: *calllog.Log.
type CallLogReader interface {
	List(ctx context.Context, f calllog.Filter) ([]calllog.Entry, int, error)
}

// ContactLists are the lists unknown callers can be added to:
// *contacts.Manager.
type ContactLists interface {
	Lists(ctx context.Context) ([]*contacts.List, error)
	CreateList(ctx context.Context, in contacts.ListInput) (*contacts.List, error)
}

// Routing serves what FastAGI routes calls by — inbound and outbound
// routes, business-hours calendars, the contact lists unknown callers go
// to — and the call log of its decisions. Changes apply to the next call:
// the route table FastAGI reads is rebuilt after each one.
type Routing struct {
	calls CallLogReader
	lists ContactLists
}

// NewRouting builds the routes; mount them with
// Options.Mounts = append(..., routing.Mount).
func NewRouting(calls CallLogReader, lists ContactLists) *Routing {
	return &Routing{calls: calls, lists: lists}
}

// Mount registers the routes. Admins change the configuration;
// supervisors may read it and the call log.
func (rt *Routing) Mount(r *Router) {
	s := r.s
	d := func() *directory.Directory { return s.dir() }

	r.Handle("GET", "/inbound-routes", staff, func(c *gin.Context) {
		f, ok := routeFilter(c, "did")
		if !ok {
			return
		}
		items, total, err := d().ListInboundRoutes(c.Request.Context(), f)
		respondList(s, c, items, total, err)
	})
	r.Handle("POST", "/inbound-routes", adminOnly, func(c *gin.Context) {
		var in directory.InboundRouteInput
		if s.decode(c, &in) {
			respond(s, c, http.StatusCreated)(d().CreateInboundRoute(c.Request.Context(), in))
		}
	})
	r.Handle("GET", "/inbound-routes/:id", staff, func(c *gin.Context) {
		if id, ok := pathID(c, "id"); ok {
			respond(s, c, http.StatusOK)(d().InboundRoute(c.Request.Context(), id))
		}
	})
	r.Handle("PATCH", "/inbound-routes/:id", adminOnly, func(c *gin.Context) {
		id, ok := pathID(c, "id")
		if !ok {
			return
		}
		cur, err := d().InboundRoute(c.Request.Context(), id)
		if err != nil {
			routingFail(s, c, err)
			return
		}
		var in directory.InboundRouteInput
		if s.decodePatch(c, cur, &in) {
			respond(s, c, http.StatusOK)(d().UpdateInboundRoute(c.Request.Context(), id, in))
		}
	})
	r.Handle("DELETE", "/inbound-routes/:id", adminOnly, func(c *gin.Context) {
		if id, ok := pathID(c, "id"); ok {
			respondDeleted(s, c, d().DeleteInboundRoute(c.Request.Context(), id))
		}
	})

	r.Handle("GET", "/outbound-routes", staff, func(c *gin.Context) {
		f, ok := routeFilter(c)
		if !ok {
			return
		}
		items, total, err := d().ListOutboundRoutes(c.Request.Context(), f)
		respondList(s, c, items, total, err)
	})
	r.Handle("POST", "/outbound-routes", adminOnly, func(c *gin.Context) {
		var in directory.OutboundRouteInput
		if s.decode(c, &in) {
			respond(s, c, http.StatusCreated)(d().CreateOutboundRoute(c.Request.Context(), in))
		}
	})
	r.Handle("GET", "/outbound-routes/:id", staff, func(c *gin.Context) {
		if id, ok := pathID(c, "id"); ok {
			respond(s, c, http.StatusOK)(d().OutboundRoute(c.Request.Context(), id))
		}
	})
	r.Handle("PATCH", "/outbound-routes/:id", adminOnly, func(c *gin.Context) {
		id, ok := pathID(c, "id")
		if !ok {
			return
		}
		cur, err := d().OutboundRoute(c.Request.Context(), id)
		if err != nil {
			routingFail(s, c, err)
			return
		}
		var in directory.OutboundRouteInput
		if s.decodePatch(c, cur, &in) {
			respond(s, c, http.StatusOK)(d().UpdateOutboundRoute(c.Request.Context(), id, in))
		}
	})
	r.Handle("DELETE", "/outbound-routes/:id", adminOnly, func(c *gin.Context) {
		if id, ok := pathID(c, "id"); ok {
			respondDeleted(s, c, d().DeleteOutboundRoute(c.Request.Context(), id))
		}
	})

	r.Handle("GET", "/calendars", staff, func(c *gin.Context) {
		page, per, ok := listParams(c, "q", "sort")
		if !ok {
			return
		}
		items, total, err := d().ListCalendars(c.Request.Context(), directory.CalendarFilter{Q: c.Query("q"), Sort: c.Query("sort"), Page: page, PerPage: per})
		respondList(s, c, items, total, err)
	})
	r.Handle("POST", "/calendars", adminOnly, func(c *gin.Context) {
		var in directory.CalendarInput
		if s.decode(c, &in) {
			respond(s, c, http.StatusCreated)(d().CreateCalendar(c.Request.Context(), in))
		}
	})
	r.Handle("GET", "/calendars/:id", staff, func(c *gin.Context) {
		if id, ok := pathID(c, "id"); ok {
			respond(s, c, http.StatusOK)(d().Calendar(c.Request.Context(), id))
		}
	})
	r.Handle("PATCH", "/calendars/:id", adminOnly, func(c *gin.Context) {
		id, ok := pathID(c, "id")
		if !ok {
			return
		}
		cur, err := d().Calendar(c.Request.Context(), id)
		if err != nil {
			routingFail(s, c, err)
			return
		}
		var in directory.CalendarInput
		if s.decodePatch(c, cur, &in) {
			respond(s, c, http.StatusOK)(d().UpdateCalendar(c.Request.Context(), id, in))
		}
	})
	r.Handle("DELETE", "/calendars/:id", adminOnly, func(c *gin.Context) {
		if id, ok := pathID(c, "id"); ok {
			respondDeleted(s, c, d().DeleteCalendar(c.Request.Context(), id))
		}
	})

	// /contact-lists is the contact manager's (api/contacts.go), with its grants.
	r.Handle("GET", "/call-log", staff, func(c *gin.Context) { rt.callLog(s, c) })
}

// callLog answers GET /call-log?id=&contact_id=&did=&caller=&from=&to=&direction=&page=&per_page=.
func (rt *Routing) callLog(s *Server, c *gin.Context) {
	f := calllog.Filter{DID: c.Query("did"), Caller: c.Query("caller"), Direction: c.Query("direction")}
	var ok bool
	if f.Page, f.PerPage, ok = listParams(c, "id", "contact_id", "did", "caller", "from", "to", "direction"); !ok {
		return
	}
	if f.ID, ok = queryPositiveID(c, "id"); !ok {
		return
	}
	if f.ContactID, ok = queryPositiveID(c, "contact_id"); !ok {
		return
	}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		v := c.Query(p.name)
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			// A plain date is a whole UTC day: from=2026-12-06 starts at
			// its midnight, to=2026-12-06 ends at the next one, so
			// from=D&to=D is that one day.
			day, derr := time.Parse(time.DateOnly, v)
			if derr != nil {
				writeError(c, http.StatusBadRequest, "bad_query", p.name+" "+strconv.Quote(v)+
					" is neither a date such as 2026-03-30 (a UTC day) nor an RFC 3339 time such as 2026-03-30T09:00:00+02:00", p.name)
				return
			}
			t = day
			if p.name == "to" {
				t = day.AddDate(0, 0, 1)
			}
		}
		*p.dst = t
	}
	items, total, err := rt.calls.List(c.Request.Context(), f)
	respondList(s, c, items, total, err)
}

// routeFilter reads a route list's query; extra are the filters only that
// list has (did for inbound routes).
func routeFilter(c *gin.Context, extra ...string) (directory.RouteFilter, bool) {
	f := directory.RouteFilter{Q: c.Query("q"), Sort: c.Query("sort"), DID: c.Query("did")}
	var ok bool
	f.Page, f.PerPage, ok = listParams(c, append([]string{"q", "sort"}, extra...)...)
	return f, ok
}

// respond writes v with status, or the error's answer. It returns a
// function so that a (value, error) call can be passed to it whole.
func respond(s *Server, c *gin.Context, status int) func(v any, err error) {
	return func(v any, err error) {
		if err != nil {
			routingFail(s, c, err)
			return
		}
		c.JSON(status, v)
	}
}

func respondList[T any](s *Server, c *gin.Context, items []T, total int, err error) {
	if err != nil {
		routingFail(s, c, err)
		return
	}
	c.JSON(http.StatusOK, list[T]{Items: items, Total: total})
}

func respondDeleted(s *Server, c *gin.Context, err error) {
	if err != nil {
		routingFail(s, c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// routingFail answers the errors of the packages these routes use besides
// the directory's, which fail handles.
func routingFail(s *Server, c *gin.Context, err error) {
	// contacts' errors are the core's (domain), mapped by s.fail; only the
	// call log's bad query parameter is a 400 of its own.
	var logFe *calllog.FieldError
	if errors.As(err, &logFe) {
		writeError(c, http.StatusBadRequest, "bad_query", logFe.Error(), logFe.Field)
		return
	}
	s.fail(c, err)
}

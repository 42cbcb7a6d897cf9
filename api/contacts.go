package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"omnicc/contacts"
)

// Contacts serves the contact manager: lists with their custom fields and
// grants, contacts, search, merge, duplicate and journey. Admins see every
// list; supervisors and agents only the lists granted to them or to one of
// their teams (403 otherwise). Users with mask_sensitive_data get names,
// numbers and e-mail addresses masked in every answer.
type Contacts struct {
	m *contacts.Manager
}

// NewContacts builds the routes; mount them with
// Options.Mounts = append(..., contacts.Mount).
func NewContacts(m *contacts.Manager) *Contacts { return &Contacts{m: m} }

// Mount registers the routes.
func (ct *Contacts) Mount(r *Router) {
	s := r.s
	// GET and POST /contact-lists were first served by the routing routes
	// (for inbound routes' unknown callers); these take over once those
	// are removed there, and until then are not registered twice.
	if !r.has("GET", "/contact-lists") {
		r.Handle("GET", "/contact-lists", everyone, func(c *gin.Context) {
			items, err := ct.m.ListsFor(c.Request.Context(), contactActor(c))
			ct.respondList(s, c, items, len(items), err)
		})
	}
	if !r.has("POST", "/contact-lists") {
		r.Handle("POST", "/contact-lists", adminOnly, func(c *gin.Context) {
			var in contacts.ListInput
			if s.decode(c, &in) {
				ct.respond(s, c, http.StatusCreated)(ct.m.CreateList(c.Request.Context(), in))
			}
		})
	}
	r.Handle("GET", "/contact-lists/:id", everyone, func(c *gin.Context) {
		if id, ok := pathID(c, "id"); ok {
			ct.respond(s, c, http.StatusOK)(ct.m.GetList(c.Request.Context(), contactActor(c), id))
		}
	})
	r.Handle("PATCH", "/contact-lists/:id", adminOnly, func(c *gin.Context) {
		var in contacts.ListPatch
		if id, ok := pathID(c, "id"); ok && s.decode(c, &in) {
			ct.respond(s, c, http.StatusOK)(ct.m.UpdateList(c.Request.Context(), id, in))
		}
	})
	r.Handle("DELETE", "/contact-lists/:id", adminOnly, func(c *gin.Context) {
		id, ok := pathID(c, "id")
		if !ok {
			return
		}
		force, ok := queryBool(c, "force")
		if !ok {
			return
		}
		if err := ct.m.DeleteList(c.Request.Context(), id, force != nil && *force); err != nil {
			ct.fail(s, c, err)
			return
		}
		c.Status(http.StatusNoContent)
	})
	r.Handle("PUT", "/contact-lists/:id/agents", adminOnly, func(c *gin.Context) {
		var in struct {
			AgentIDs []int64 `json:"agent_ids"`
		}
		if id, ok := pathID(c, "id"); ok && s.decode(c, &in) {
			ct.respond(s, c, http.StatusOK)(ct.m.SetListAgents(c.Request.Context(), id, in.AgentIDs))
		}
	})
	r.Handle("PUT", "/contact-lists/:id/teams", adminOnly, func(c *gin.Context) {
		var in struct {
			TeamIDs []int64 `json:"team_ids"`
		}
		if id, ok := pathID(c, "id"); ok && s.decode(c, &in) {
			ct.respond(s, c, http.StatusOK)(ct.m.SetListTeams(c.Request.Context(), id, in.TeamIDs))
		}
	})

	r.Handle("GET", "/contact-tags", everyone, func(c *gin.Context) {
		items, err := ct.m.Tags(c.Request.Context())
		ct.respondList(s, c, items, len(items), err)
	})
	r.Handle("PUT", "/contact-tags/:name", staff, func(c *gin.Context) {
		var in struct {
			Color string `json:"color"`
		}
		if s.decode(c, &in) {
			ct.respond(s, c, http.StatusOK)(ct.m.SetTagColor(c.Request.Context(), c.Param("name"), in.Color))
		}
	})
	r.Handle("GET", "/contacts", everyone, func(c *gin.Context) { ct.search(s, c) })
	r.Handle("GET", "/contacts/export.csv", everyone, func(c *gin.Context) { ct.export(s, c) })
	r.Handle("POST", "/contact-lists/:id/import", everyone, func(c *gin.Context) { ct.importCSV(s, c) })
	r.Handle("POST", "/contacts", everyone, func(c *gin.Context) {
		var in contacts.ContactInput
		if !s.decode(c, &in) {
			return
		}
		a := contactActor(c)
		ctx := c.Request.Context()
		if in.ListID > 0 {
			if err := ct.m.CanUseList(ctx, a, in.ListID); err != nil && !errors.Is(err, contacts.ErrNotFound) {
				ct.fail(s, c, err)
				return
			}
		}
		in.By = a.UserID
		cn, err := ct.m.Create(ctx, in)
		ct.contact(s, c, http.StatusCreated, cn, err)
	})
	r.Handle("GET", "/contacts/:id", everyone, func(c *gin.Context) {
		if id, ok := pathID(c, "id"); ok {
			cn, err := ct.m.GetFor(c.Request.Context(), contactActor(c), id)
			ct.contact(s, c, http.StatusOK, cn, err)
		}
	})
	r.Handle("PATCH", "/contacts/:id", everyone, func(c *gin.Context) {
		var in contacts.ContactPatch
		id, ok := pathID(c, "id")
		if !ok || !s.decode(c, &in) || !ct.allowed(s, c, id) {
			return
		}
		cn, err := ct.m.Update(c.Request.Context(), id, in, contactActor(c).UserID)
		ct.contact(s, c, http.StatusOK, cn, err)
	})
	r.Handle("DELETE", "/contacts/:id", everyone, func(c *gin.Context) {
		id, ok := pathID(c, "id")
		if !ok || !ct.allowed(s, c, id) {
			return
		}
		if err := ct.m.Delete(c.Request.Context(), id); err != nil {
			ct.fail(s, c, err)
			return
		}
		c.Status(http.StatusNoContent)
	})
	r.Handle("POST", "/contacts/:id/merge", everyone, func(c *gin.Context) {
		var in contacts.MergeInput
		id, ok := pathID(c, "id")
		if !ok || !s.decode(c, &in) || !ct.allowed(s, c, id) {
			return
		}
		if in.FromID > 0 && !ct.allowed(s, c, in.FromID) {
			return
		}
		in.By = contactActor(c).UserID
		cn, err := ct.m.Merge(c.Request.Context(), id, in)
		ct.contact(s, c, http.StatusOK, cn, err)
	})
	r.Handle("POST", "/contacts/:id/duplicate", everyone, func(c *gin.Context) {
		var in struct {
			ListID int64 `json:"list_id"`
		}
		id, ok := pathID(c, "id")
		if !ok || !s.decode(c, &in) || !ct.allowed(s, c, id) {
			return
		}
		if in.ListID > 0 {
			if err := ct.m.CanUseList(c.Request.Context(), contactActor(c), in.ListID); err != nil && !errors.Is(err, contacts.ErrNotFound) {
				ct.fail(s, c, err)
				return
			}
		}
		cn, err := ct.m.Duplicate(c.Request.Context(), id, in.ListID, contactActor(c).UserID)
		ct.contact(s, c, http.StatusCreated, cn, err)
	})
	r.Handle("GET", "/contacts/:id/journey", everyone, func(c *gin.Context) {
		id, ok := pathID(c, "id")
		if !ok || !ct.allowed(s, c, id) {
			return
		}
		page, ok := queryInt(c, "page")
		if !ok {
			return
		}
		perPage, ok := queryInt(c, "per_page")
		if !ok {
			return
		}
		items, total, err := ct.m.Journey(c.Request.Context(), id, page, perPage)
		ct.respondList(s, c, items, total, err)
	})
}

// has reports whether a route is registered already.
func (r *Router) has(method, path string) bool {
	for _, ri := range r.routes {
		if ri.Method == method && ri.Path == "/api/v1"+path {
			return true
		}
	}
	return false
}

func contactActor(c *gin.Context) contacts.Actor {
	p := principal(c)
	return contacts.Actor{UserID: p.UserID, Role: p.Role}
}

// allowed answers 404 or 403 unless the caller may use contact id.
func (ct *Contacts) allowed(s *Server, c *gin.Context, id int64) bool {
	if _, err := ct.m.GetFor(c.Request.Context(), contactActor(c), id); err != nil {
		ct.fail(s, c, err)
		return false
	}
	return true
}

func (ct *Contacts) fail(s *Server, c *gin.Context, err error) {
	if errors.Is(err, contacts.ErrForbidden) {
		writeError(c, http.StatusForbidden, "forbidden", err.Error(), "list_id")
		return
	}
	s.fail(c, err)
}

func (ct *Contacts) respond(s *Server, c *gin.Context, status int) func(v any, err error) {
	return func(v any, err error) {
		if err != nil {
			ct.fail(s, c, err)
			return
		}
		c.JSON(status, v)
	}
}

func (ct *Contacts) respondList(s *Server, c *gin.Context, items any, total int, err error) {
	if err != nil {
		ct.fail(s, c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"items": items, "total": total})
}

// masks reports whether the caller sees personal data masked.
func (ct *Contacts) masks(ctx context.Context, c *gin.Context) (bool, error) {
	p := principal(c)
	if p.UserID == 0 {
		return false, nil
	}
	return ct.m.MaskFor(ctx, p.UserID)
}

func (ct *Contacts) contact(s *Server, c *gin.Context, status int, cn *contacts.Contact, err error) {
	if err == nil {
		var mask bool
		if mask, err = ct.masks(c.Request.Context(), c); err == nil && mask {
			cn = contacts.Masked(cn)
		}
	}
	ct.respond(s, c, status)(cn, err)
}

// search answers GET /contacts?q=&list_id=&tag=&mine=true&cf.<field>=&first_name=
// &last_name=&company=&phone=&email=&channel=&external_id=&created_from=&created_to=
// &updated_from=&updated_to=&sort=&page=&per_page=&after=.
func (ct *Contacts) search(s *Server, c *gin.Context) {
	f, ok := ct.filter(s, c)
	if !ok {
		return
	}
	page, err := ct.m.Search(c.Request.Context(), contactActor(c), f)
	if err == nil {
		var mask bool
		if mask, err = ct.masks(c.Request.Context(), c); err == nil && mask {
			for i, cn := range page.Items {
				page.Items[i] = contacts.Masked(cn)
			}
		}
	}
	if err != nil {
		ct.fail(s, c, err)
		return
	}
	body := gin.H{"items": page.Items, "total": page.Total}
	if page.TotalCapped {
		body["total_capped"] = true
	}
	if page.NextAfter > 0 {
		body["next_after"] = page.NextAfter
	}
	c.JSON(http.StatusOK, body)
}

// filter reads the search parameters (answering 400 or 403 when it fails).
func (ct *Contacts) filter(s *Server, c *gin.Context) (contacts.Filter, bool) {
	f := contacts.Filter{Q: c.Query("q"), Tag: c.Query("tag"), FirstName: c.Query("first_name"), LastName: c.Query("last_name"),
		Company: c.Query("company"), Phone: c.Query("phone"), Email: c.Query("email"), Channel: c.Query("channel"),
		ExternalID: c.Query("external_id"), Sort: c.Query("sort")}
	var ok bool
	if f.Page, ok = queryInt(c, "page"); !ok {
		return f, false
	}
	if f.PerPage, ok = queryInt(c, "per_page"); !ok {
		return f, false
	}
	if f.After, ok = queryPositiveID(c, "after"); !ok {
		return f, false
	}
	if v := c.Query("list_id"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id < 1 {
			writeError(c, http.StatusBadRequest, "bad_query", "list_id "+strconv.Quote(v)+" is not an id", "list_id")
			return f, false
		}
		f.ListID = id
		if err := ct.m.CanUseList(c.Request.Context(), contactActor(c), id); err != nil {
			ct.fail(s, c, err)
			return f, false
		}
	}
	mine, ok := queryBool(c, "mine")
	if !ok {
		return f, false
	}
	f.Mine = mine != nil && *mine
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"created_from", &f.CreatedFrom}, {"created_to", &f.CreatedTo}, {"updated_from", &f.UpdatedFrom}, {"updated_to", &f.UpdatedTo}} {
		v := c.Query(p.name)
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			if t, err = time.Parse(time.DateOnly, v); err != nil {
				writeError(c, http.StatusBadRequest, "bad_query", p.name+" "+strconv.Quote(v)+" is not a time: use RFC 3339 or YYYY-MM-DD", p.name)
				return f, false
			}
		}
		*p.dst = t
	}
	for k, v := range c.Request.URL.Query() {
		if name, ok := strings.CutPrefix(k, "cf."); ok && len(v) > 0 {
			if f.Custom == nil {
				f.Custom = map[string]string{}
			}
			f.Custom[name] = v[0]
		}
	}
	if f.ExternalID != "" && f.Channel == "" {
		writeError(c, http.StatusBadRequest, "bad_query", "external_id needs channel (e.g. channel=whatsapp)", "channel")
		return f, false
	}
	return f, true
}

// export answers GET /contacts/export.csv with the search's filters.
func (ct *Contacts) export(s *Server, c *gin.Context) {
	f, ok := ct.filter(s, c)
	if !ok {
		return
	}
	mask, err := ct.masks(c.Request.Context(), c)
	if err != nil {
		ct.fail(s, c, err)
		return
	}
	c.Header("Content-Type", "text/csv; charset=utf-8")
	c.Header("Content-Disposition", `attachment; filename="contacts.csv"`)
	if err := ct.m.Export(c.Request.Context(), contactActor(c), f, mask, c.Writer); err != nil {
		// Headers may be gone already: the log is all that is left.
		s.log.Error("contacts export failed", "err", err)
	}
}

// importCSV answers POST /contact-lists/:id/import?dry_run=true&map.<column>=<field>
// with the CSV file as the body.
func (ct *Contacts) importCSV(s *Server, c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	a := contactActor(c)
	if err := ct.m.CanUseList(c.Request.Context(), a, id); err != nil {
		ct.fail(s, c, err)
		return
	}
	dry, ok := queryBool(c, "dry_run")
	if !ok {
		return
	}
	opts := contacts.ImportOptions{DryRun: dry != nil && *dry, By: a.UserID, Mapping: map[string]string{}}
	for k, v := range c.Request.URL.Query() {
		if col, ok := strings.CutPrefix(k, "map."); ok && len(v) > 0 {
			opts.Mapping[col] = v[0]
		}
	}
	rep, err := ct.m.Import(c.Request.Context(), id, c.Request.Body, opts)
	if err != nil {
		ct.fail(s, c, err)
		return
	}
	status := http.StatusOK
	if len(rep.Errors) > 0 {
		status = http.StatusUnprocessableEntity
	}
	c.JSON(status, rep)
}

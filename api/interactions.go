package api

import (
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"omnicc/contacts"
	"omnicc/directory"
	"omnicc/router"
)

// Interactions serves the router's REST side: agents act on their own
// interactions and their queues' waiting ones, supervisors and admins on
// all; dispositions; the agent dashboard.
type Interactions struct {
	r *router.Router
	// Files, when set, takes agents' attachments: a multipart POST
	// /interactions/{id}/messages with one file (up to 15 MB), served back
	// at /interactions/{id}/attachments/{ref}. *router.Files.
	Files AttachmentFiles
	// MaskFor reports whether a user sees personal data masked
	// (mask_sensitive_data): such a user gets the customer's identity and
	// name masked in every interaction answered. Nil: no one.
	MaskFor func(ctx context.Context, userID int64) (bool, error)
	s       *Server
}

// AttachmentFiles keeps the files agents attach: *router.Files.
type AttachmentFiles interface {
	Save(interactionID int64, name string, r io.Reader) (ref string, size int64, err error)
	Open(interactionID int64, ref string) (*os.File, error)
	Remove(interactionID int64, ref string)
}

// NewInteractions builds the routes; mount them with
// Options.Mounts = append(..., interactions.Mount).
func NewInteractions(r *router.Router) *Interactions { return &Interactions{r: r} }

func actorOf(c *gin.Context) router.Actor {
	p := principal(c)
	return router.Actor{AgentID: p.UserID, Staff: p.Role == directory.RoleAdmin || p.Role == directory.RoleSupervisor}
}

// offerGoneBody is the 409 of an accept or reject of an offer that is gone:
// the usual error with the reason (taken, expired) a desktop shows.
type offerGoneBody struct {
	Error struct {
		ErrorDetail
		Reason string `json:"reason"`
	} `json:"error"`
}

// interactionFail answers the router's errors.
func interactionFail(s *Server, c *gin.Context, err error) {
	// FieldError and ErrNotFound are the core's, mapped by s.fail.
	var gone *router.OfferGoneError
	var refused *router.RefusedError
	switch {
	case errors.As(err, &refused):
		writeError(c, http.StatusConflict, refused.Code, err.Error(), "")
	case errors.Is(err, router.ErrDispositionRequired):
		writeError(c, http.StatusBadRequest, "disposition_required", err.Error(), "disposition")
	case errors.As(err, &gone):
		var b offerGoneBody
		b.Error.ErrorDetail = ErrorDetail{Code: "offer_gone", Message: gone.Error()}
		b.Error.Reason = gone.Reason
		c.AbortWithStatusJSON(http.StatusConflict, b)
	case errors.Is(err, router.ErrForbidden):
		writeError(c, http.StatusForbidden, "forbidden", err.Error(), "")
	case errors.Is(err, router.ErrClosed):
		writeError(c, http.StatusConflict, "closed", err.Error(), "")
	case errors.Is(err, router.ErrTooLarge):
		writeError(c, http.StatusRequestEntityTooLarge, "too_large", err.Error(), "body")
	case errors.Is(err, router.ErrConflict):
		writeError(c, http.StatusConflict, "conflict", err.Error(), "")
	default:
		s.fail(c, err)
	}
}

// ownInteraction reads interaction id for an action only its owner (or
// staff) may take, answering the refusal itself when the caller may not.
func ownInteraction(s *Server, c *gin.Context, get func(context.Context, router.Actor, int64) (*router.Interaction, error), id int64) (*router.Interaction, bool) {
	who := actorOf(c)
	it, err := get(c.Request.Context(), who, id)
	if err != nil {
		interactionFail(s, c, err)
		return nil, false
	}
	if !who.Staff && (it.AgentID == nil || *it.AgentID != who.AgentID) {
		writeError(c, http.StatusForbidden, "forbidden", "interaction "+strconv.FormatInt(id, 10)+" belongs to another agent", "")
		return nil, false
	}
	return it, true
}

// answer is answer with the interaction masked for a user who sees
// personal data masked.
func (h *Interactions) answer(c *gin.Context, status int) func(v any, err error) {
	return func(v any, err error) {
		if it, ok := v.(*router.Interaction); ok && err == nil && it != nil {
			var mask bool
			if mask, err = h.masks(c); mask {
				v = maskedInteraction(it)
			}
		}
		answer(h.s, c, status)(v, err)
	}
}

func (h *Interactions) masks(c *gin.Context) (bool, error) {
	p := principal(c)
	if h.MaskFor == nil || p.UserID == 0 {
		return false, nil
	}
	return h.MaskFor(c.Request.Context(), p.UserID)
}

func maskedInteraction(it *router.Interaction) *router.Interaction {
	out := *it
	out.Customer = contacts.MaskIdentity(it.Customer)
	out.CustomerName = contacts.MaskName(it.CustomerName)
	return &out
}

func answer(s *Server, c *gin.Context, status int) func(v any, err error) {
	return func(v any, err error) {
		if err != nil {
			interactionFail(s, c, err)
			return
		}
		c.JSON(status, v)
	}
}

// Mount registers the routes.
func (h *Interactions) Mount(r *Router) {
	s := r.s
	h.s = s
	withID := func(fn func(c *gin.Context, id int64)) gin.HandlerFunc {
		return func(c *gin.Context) {
			if id, ok := pathID(c, "id"); ok {
				fn(c, id)
			}
		}
	}
	r.Handle("GET", "/interactions", everyone, func(c *gin.Context) {
		f, ok := interactionFilter(c)
		if !ok {
			return
		}
		items, total, err := h.r.List(c.Request.Context(), actorOf(c), f)
		var mask bool
		if err == nil {
			mask, err = h.masks(c)
		}
		if err != nil {
			interactionFail(s, c, err)
			return
		}
		if mask {
			for i, it := range items {
				items[i] = maskedInteraction(it)
			}
		}
		c.JSON(http.StatusOK, list[*router.Interaction]{Items: items, Total: total})
	})
	// The offers standing for an agent now: a desktop reloaded during an
	// offer shows it again. An agent reads its own; staff name agent_id.
	r.Handle("GET", "/offers", everyone, func(c *gin.Context) {
		who := actorOf(c)
		agentID := who.AgentID
		if v := c.Query("agent_id"); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 1 {
				writeError(c, http.StatusBadRequest, "bad_query", "agent_id "+strconv.Quote(v)+" is not a positive integer", "agent_id")
				return
			}
			if n != agentID && !who.Staff {
				writeError(c, http.StatusForbidden, "forbidden", "an agent reads only its own offers: leave agent_id out", "agent_id")
				return
			}
			agentID = n
		}
		items, err := h.r.OffersTo(c.Request.Context(), agentID)
		var mask bool
		if err == nil {
			mask, err = h.masks(c)
		}
		if err != nil {
			interactionFail(s, c, err)
			return
		}
		if mask {
			for i := range items {
				items[i].Interaction = maskedInteraction(items[i].Interaction)
			}
		}
		c.JSON(http.StatusOK, list[router.OfferEvent]{Items: items, Total: len(items)})
	})
	r.Handle("GET", "/interactions/:id", everyone, withID(func(c *gin.Context, id int64) {
		h.answer(c, http.StatusOK)(h.r.Get(c.Request.Context(), actorOf(c), id))
	}))
	r.Handle("GET", "/interactions/:id/messages", everyone, withID(func(c *gin.Context, id int64) {
		after, ok := queryInt(c, "after_seq")
		if !ok {
			return
		}
		answer(s, c, http.StatusOK)(h.r.Messages(c.Request.Context(), actorOf(c), id, int64(after)))
	}))
	r.BodyLimit("POST", "/interactions/:id/messages", router.MaxAttachment+maxCaptionPart)
	r.Handle("GET", "/interactions/:id/attachments/:ref", everyone, withID(h.attachment))
	r.Handle("POST", "/interactions/:id/messages", everyone, withID(func(c *gin.Context, id int64) {
		if strings.HasPrefix(c.ContentType(), "multipart/form-data") {
			h.replyWithFile(s, c, id)
			return
		}
		if c.Request.ContentLength > s.opts.MaxBodyBytes {
			writeError(c, http.StatusRequestEntityTooLarge, "too_large", "the body is larger than OMNICC_HTTP_MAX_BODY: send files as multipart/form-data", "body")
			return
		}
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, s.opts.MaxBodyBytes)
		var in struct {
			Body     string `json:"body"`
			ClientID string `json:"client_id"`
		}
		if !s.decode(c, &in) {
			return
		}
		m, fresh, err := h.r.Reply(c.Request.Context(), actorOf(c), id, in.Body, in.ClientID)
		status := http.StatusCreated
		if !fresh {
			status = http.StatusOK
		}
		answer(s, c, status)(m, err)
	}))
	r.Handle("POST", "/interactions/:id/accept", everyone, withID(func(c *gin.Context, id int64) {
		h.answer(c, http.StatusOK)(h.r.Accept(c.Request.Context(), principal(c).UserID, id))
	}))
	r.Handle("POST", "/interactions/:id/reject", everyone, withID(func(c *gin.Context, id int64) {
		if err := h.r.Reject(c.Request.Context(), principal(c).UserID, id); err != nil {
			interactionFail(s, c, err)
			return
		}
		c.Status(http.StatusNoContent)
	}))
	r.Handle("POST", "/interactions/:id/read", everyone, withID(func(c *gin.Context, id int64) {
		h.answer(c, http.StatusOK)(h.r.Read(c.Request.Context(), actorOf(c), id))
	}))
	r.Handle("POST", "/interactions/:id/reopen", everyone, withID(func(c *gin.Context, id int64) {
		h.answer(c, http.StatusOK)(h.r.Reopen(c.Request.Context(), actorOf(c), id))
	}))
	r.Handle("POST", "/interactions/:id/close", everyone, withID(func(c *gin.Context, id int64) {
		var in struct {
			Disposition string `json:"disposition"`
		}
		if c.Request.ContentLength != 0 && !s.decode(c, &in) {
			return
		}
		h.answer(c, http.StatusOK)(h.r.Close(c.Request.Context(), actorOf(c), id, in.Disposition))
	}))
	r.Handle("POST", "/interactions/:id/transfer", everyone, withID(func(c *gin.Context, id int64) {
		var in struct {
			AgentID int64 `json:"agent_id"`
			QueueID int64 `json:"queue_id"`
		}
		if s.decode(c, &in) {
			h.answer(c, http.StatusAccepted)(h.r.Transfer(c.Request.Context(), actorOf(c), id, in.AgentID, in.QueueID))
		}
	}))
	r.Handle("POST", "/interactions/:id/notes", everyone, withID(func(c *gin.Context, id int64) {
		var in struct {
			Body string `json:"body"`
		}
		if s.decode(c, &in) {
			answer(s, c, http.StatusCreated)(h.r.AddNote(c.Request.Context(), actorOf(c), id, in.Body))
		}
	}))
	r.Handle("GET", "/interactions/:id/notes", everyone, withID(func(c *gin.Context, id int64) {
		answer(s, c, http.StatusOK)(h.r.Notes(c.Request.Context(), actorOf(c), id))
	}))
	r.Handle("PUT", "/interactions/:id/tags", everyone, withID(func(c *gin.Context, id int64) {
		var in struct {
			Tags []string `json:"tags"`
		}
		if s.decode(c, &in) {
			h.answer(c, http.StatusOK)(h.r.SetTags(c.Request.Context(), actorOf(c), id, in.Tags))
		}
	}))

	r.Handle("GET", "/dispositions", everyone, func(c *gin.Context) {
		items, err := h.r.Dispositions(c.Request.Context())
		if err != nil {
			interactionFail(s, c, err)
			return
		}
		c.JSON(http.StatusOK, list[*router.Disposition]{Items: items, Total: len(items)})
	})
	r.Handle("POST", "/dispositions", adminOnly, func(c *gin.Context) {
		var in router.DispositionInput
		if s.decode(c, &in) {
			answer(s, c, http.StatusCreated)(h.r.CreateDisposition(c.Request.Context(), in))
		}
	})
	r.Handle("GET", "/dispositions/:id", everyone, withID(func(c *gin.Context, id int64) {
		answer(s, c, http.StatusOK)(h.r.Disposition(c.Request.Context(), id))
	}))
	r.Handle("PATCH", "/dispositions/:id", adminOnly, withID(func(c *gin.Context, id int64) {
		var in router.DispositionInput
		if s.decode(c, &in) {
			answer(s, c, http.StatusOK)(h.r.UpdateDisposition(c.Request.Context(), id, in))
		}
	}))
	r.Handle("DELETE", "/dispositions/:id", adminOnly, withID(func(c *gin.Context, id int64) {
		if err := h.r.DeleteDisposition(c.Request.Context(), id); err != nil {
			interactionFail(s, c, err)
			return
		}
		c.Status(http.StatusNoContent)
	}))

	r.Handle("GET", "/agents/:id/dashboard", everyone, withID(func(c *gin.Context, id int64) {
		if a := actorOf(c); !a.Staff && a.AgentID != id {
			writeError(c, http.StatusForbidden, "forbidden", "an agent sees only its own dashboard", "id")
			return
		}
		answer(s, c, http.StatusOK)(h.r.Dashboard(c.Request.Context(), id))
	}))
}

// maxCaptionPart bounds what a multipart reply carries beside its file
// (the body, the client_id, the part headers).
const maxCaptionPart = 64 << 10

// replyWithFile is an agent's file message: multipart/form-data with one
// part "file" (at most 15 MB) and optional "body" (a caption) and
// "client_id". The file is kept first, then the message stored and sent;
// a message that is not stored (refused, a retried client_id) leaves no
// file behind.
func (h *Interactions) replyWithFile(s *Server, c *gin.Context, id int64) {
	if h.Files == nil {
		writeError(c, http.StatusServiceUnavailable, "attachments_off", "this server keeps no attachments", "file")
		return
	}
	ctx := c.Request.Context()
	who := actorOf(c)
	if _, ok := ownInteraction(s, c, h.r.Get, id); !ok {
		return
	}
	mr, err := c.Request.MultipartReader()
	if err != nil {
		writeError(c, http.StatusBadRequest, "bad_multipart", err.Error(), "file")
		return
	}
	var body, clientID, ref string
	drop := func() {
		if ref != "" {
			h.Files.Remove(id, ref)
		}
	}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			drop()
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				writeError(c, http.StatusRequestEntityTooLarge, "too_large", "a file message is at most 15 MB", "file")
				return
			}
			writeError(c, http.StatusBadRequest, "bad_multipart", err.Error(), "file")
			return
		}
		switch part.FormName() {
		case "file":
			if ref != "" {
				drop()
				writeError(c, http.StatusBadRequest, "invalid", "one file per message", "file")
				return
			}
			r, _, err := h.Files.Save(id, part.FileName(), part)
			if errors.Is(err, router.ErrAttachmentTooLarge) {
				writeError(c, http.StatusRequestEntityTooLarge, "too_large", "the file is larger than 15 MB", "file")
				return
			}
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				writeError(c, http.StatusRequestEntityTooLarge, "too_large", "a file message is at most 15 MB", "file")
				return
			}
			if err != nil {
				s.fail(c, err)
				return
			}
			ref = r
		case "body", "client_id":
			v, err := io.ReadAll(io.LimitReader(part, router.MaxBody+1))
			if err != nil || len(v) > router.MaxBody {
				drop()
				writeError(c, http.StatusRequestEntityTooLarge, "too_large", part.FormName()+" is too long", part.FormName())
				return
			}
			if part.FormName() == "body" {
				body = string(v)
			} else {
				clientID = string(v)
			}
		}
	}
	if ref == "" {
		writeError(c, http.StatusUnprocessableEntity, "invalid", "a multipart message needs one part named file", "file")
		return
	}
	m, fresh, err := h.r.Reply(ctx, who, id, body, clientID, router.AttachmentURL(id, ref))
	if err != nil || !fresh {
		drop()
	}
	status := http.StatusCreated
	if !fresh {
		status = http.StatusOK
	}
	answer(s, c, status)(m, err)
}

// attachment serves a file of an interaction to whoever may see it, never
// inline (no script runs from it on our origin).
func (h *Interactions) attachment(c *gin.Context, id int64) {
	s := h.s
	if _, err := h.r.Get(c.Request.Context(), actorOf(c), id); err != nil {
		interactionFail(s, c, err)
		return
	}
	if h.Files == nil {
		writeError(c, http.StatusNotFound, "not_found", "this server keeps no attachments", "ref")
		return
	}
	ref := c.Param("ref")
	f, err := h.Files.Open(id, ref)
	if err != nil {
		interactionFail(s, c, err)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		s.fail(c, err)
		return
	}
	ctype := mime.TypeByExtension(filepath.Ext(ref))
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	c.Header("Content-Type", ctype)
	c.Header("X-Content-Type-Options", "nosniff")
	c.Header("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": ref[strings.IndexByte(ref, '-')+1:]}))
	http.ServeContent(c.Writer, c.Request, "", st.ModTime(), f)
}

func interactionFilter(c *gin.Context) (router.Filter, bool) {
	f := router.Filter{Status: c.Query("status"), Channel: c.Query("channel"), Tag: c.Query("tag"), Q: c.Query("q"),
		Unread: c.Query("unread") == "true"}
	ints := map[string]*int64{"queue_id": &f.QueueID, "agent_id": &f.AgentID, "contact_id": &f.ContactID}
	for name, dst := range ints {
		if v := c.Query(name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 1 {
				writeError(c, http.StatusBadRequest, "bad_query", name+" "+strconv.Quote(v)+" is not a positive integer", name)
				return f, false
			}
			*dst = n
		}
	}
	times := map[string]*time.Time{"from": &f.From, "to": &f.To}
	for name, dst := range times {
		if v := c.Query(name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				writeError(c, http.StatusBadRequest, "bad_query", name+" "+strconv.Quote(v)+" is not an RFC 3339 time", name)
				return f, false
			}
			*dst = t
		}
	}
	page, ok := queryInt(c, "page")
	if !ok {
		return f, false
	}
	if f.Limit, ok = queryInt(c, "per_page"); !ok {
		return f, false
	}
	if f.Limit <= 0 {
		f.Limit = 50
	}
	f.Offset = max(page-1, 0) * f.Limit
	return f, true
}

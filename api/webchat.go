package api

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"omnicc/channels/webchat"
	"omnicc/router"
)

// ChatUploadPath is the visitor's upload route: its body is bounded by the
// website's max_file_bytes, not OMNICC_HTTP_MAX_BODY.
const ChatUploadPath = "/api/v1/chat/files"

// WebChat serves the web chat: admins manage websites; visitors' pages
// (any origin the website allows, no login) open sessions, send, read,
// upload and hold a websocket; agents show they are typing.
type WebChat struct {
	c  *webchat.Connector
	rt *router.Router
}

// NewWebChat builds the routes; rt authorises an agent's typing.
func NewWebChat(c *webchat.Connector, rt *router.Router) *WebChat { return &WebChat{c: c, rt: rt} }

func webChatFail(s *Server, c *gin.Context, err error) {
	var fe *webchat.FieldError
	var file *webchat.FileError
	switch {
	case errors.As(err, &fe):
		writeError(c, http.StatusUnprocessableEntity, "invalid", fe.Error(), fe.Field)
	case errors.As(err, &file) && file.TooLarge:
		writeError(c, http.StatusRequestEntityTooLarge, "too_large", file.Message, "file")
	case errors.As(err, &file):
		writeError(c, http.StatusUnsupportedMediaType, "unsupported_type", file.Message, "file")
	case errors.Is(err, webchat.ErrNotFound):
		// The same answer for a token that never existed and one that was
		// disabled: a caller learns nothing.
		writeError(c, http.StatusNotFound, "not_found", "not found", "")
	case errors.Is(err, webchat.ErrOrigin):
		// Not readable by the refused page: the browser sees a CORS error.
		c.Writer.Header().Del("Access-Control-Allow-Origin")
		writeError(c, http.StatusForbidden, "origin_not_allowed", "this page's origin may not use this chat: add it to the website's allowed_origins", "")
	case errors.Is(err, webchat.ErrSession):
		writeError(c, http.StatusUnauthorized, "invalid_session", "the visitor session is missing or invalid: POST /chat/sessions for a new one", "session")
	case errors.Is(err, webchat.ErrRate):
		writeError(c, http.StatusTooManyRequests, "rate_limited", "too many messages or new visitors from this address: slow down", "")
	case errors.Is(err, webchat.ErrConflict):
		writeError(c, http.StatusConflict, "conflict", err.Error(), "name")
	default:
		interactionFail(s, c, err)
	}
}

// allowOrigin lets the page read the answer: visitor calls are CORS
// "simple" requests (GET, or POST of text/plain or multipart), so no
// preflight is needed; the origin itself is checked against the website.
func allowOrigin(c *gin.Context) {
	if o := c.GetHeader("Origin"); o != "" {
		c.Header("Access-Control-Allow-Origin", o)
		c.Header("Vary", "Origin")
	}
}

// chatSessionRequest opens (or resumes) a visitor session.
type chatSessionRequest struct {
	Website string `json:"website"`
	Session string `json:"session"`
}

type chatSendRequest struct {
	Session string `json:"session"`
	webchat.SendInput
}

type chatIdentifyRequest struct {
	Session string `json:"session"`
	webchat.IdentifyInput
}

// ChatHistory answers GET /chat/messages.
type ChatHistory struct {
	Items        []webchat.MessageView `json:"items"`
	Conversation *webchat.Conversation `json:"conversation"`
}

// ChatSent answers POST /chat/messages.
type ChatSent struct {
	Message webchat.MessageView `json:"message"`
}

// Mount registers the routes.
func (h *WebChat) Mount(r *Router) {
	s := r.s
	ok := func(c *gin.Context, status int) func(v any, err error) {
		return func(v any, err error) {
			if err != nil {
				webChatFail(s, c, err)
				return
			}
			c.JSON(status, v)
		}
	}
	r.Handle("GET", "/chat-websites", adminOnly, func(c *gin.Context) {
		items, err := h.c.Websites(c.Request.Context())
		if err != nil {
			webChatFail(s, c, err)
			return
		}
		c.JSON(http.StatusOK, list[*webchat.Website]{Items: items, Total: len(items)})
	})
	r.Handle("POST", "/chat-websites", adminOnly, func(c *gin.Context) {
		var in webchat.WebsiteInput
		if s.decode(c, &in) {
			ok(c, http.StatusCreated)(h.c.CreateWebsite(c.Request.Context(), in))
		}
	})
	r.Handle("GET", "/chat-websites/:id", adminOnly, func(c *gin.Context) {
		if id, good := pathID(c, "id"); good {
			ok(c, http.StatusOK)(h.c.Website(c.Request.Context(), id))
		}
	})
	r.Handle("PATCH", "/chat-websites/:id", adminOnly, func(c *gin.Context) {
		id, good := pathID(c, "id")
		var in webchat.WebsiteInput
		if good && s.decode(c, &in) {
			ok(c, http.StatusOK)(h.c.UpdateWebsite(c.Request.Context(), id, in))
		}
	})
	r.Handle("DELETE", "/chat-websites/:id", adminOnly, func(c *gin.Context) {
		if id, good := pathID(c, "id"); good {
			if err := h.c.DeleteWebsite(c.Request.Context(), id); err != nil {
				webChatFail(s, c, err)
				return
			}
			c.Status(http.StatusNoContent)
		}
	})
	r.Handle("POST", "/interactions/:id/typing", everyone, func(c *gin.Context) {
		id, good := pathID(c, "id")
		if !good {
			return
		}
		who := actorOf(c)
		it, err := h.rt.Get(c.Request.Context(), who, id)
		if err == nil && !who.Staff && (it.AgentID == nil || *it.AgentID != who.AgentID) {
			err = router.ErrForbidden
		}
		if err == nil {
			err = h.c.AgentTyping(c.Request.Context(), it)
		}
		if err != nil {
			webChatFail(s, c, err)
			return
		}
		c.Status(http.StatusNoContent)
	})

	serveWidget := func(c *gin.Context) {
		js, version := webchat.WidgetJS()
		etag := `"` + version + `"`
		c.Header("ETag", etag)
		c.Header("Access-Control-Allow-Origin", "*")
		c.Header("X-Content-Type-Options", "nosniff")
		if c.Query("v") == version {
			// A versioned URL never changes.
			c.Header("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			// The snippet's unversioned URL: cached, then revalidated.
			c.Header("Cache-Control", "public, max-age=300")
		}
		if c.GetHeader("If-None-Match") == etag {
			c.Status(http.StatusNotModified)
			return
		}
		c.Data(http.StatusOK, "text/javascript; charset=utf-8", js)
	}
	r.PublicNoDatabase("GET", "/chat/widget.js", serveWidget)
	// Also at the root, as the snippet's BASE may be the server itself:
	// https://host/chat/widget.js and https://host/api/v1/chat/widget.js
	// are the same file.
	r.s.engine.GET("/chat/widget.js", serveWidget)
	r.Public("POST", "/chat/sessions", func(c *gin.Context) {
		allowOrigin(c)
		var in chatSessionRequest
		if s.decode(c, &in) {
			ok(c, http.StatusOK)(h.c.StartSession(c.Request.Context(), in.Website, in.Session, c.GetHeader("Origin"), c.ClientIP()))
		}
	})
	visitor := func(c *gin.Context, session string) (*webchat.Visitor, bool) {
		v, err := h.c.CheckSession(c.Request.Context(), session, c.GetHeader("Origin"))
		if err != nil {
			webChatFail(s, c, err)
			return nil, false
		}
		return v, true
	}
	r.Public("GET", "/chat/messages", func(c *gin.Context) {
		allowOrigin(c)
		after, good := queryInt(c, "after_seq")
		if !good {
			return
		}
		v, good := visitor(c, c.Query("session"))
		if !good {
			return
		}
		items, conv, err := h.c.History(c.Request.Context(), v, int64(after))
		if err != nil {
			webChatFail(s, c, err)
			return
		}
		c.JSON(http.StatusOK, ChatHistory{Items: items, Conversation: conv})
	})
	r.Public("POST", "/chat/messages", func(c *gin.Context) {
		allowOrigin(c)
		var in chatSendRequest
		if !s.decode(c, &in) {
			return
		}
		v, good := visitor(c, in.Session)
		if !good {
			return
		}
		m, fresh, err := h.c.Send(c.Request.Context(), v, in.SendInput)
		if err != nil {
			webChatFail(s, c, err)
			return
		}
		status := http.StatusCreated
		if !fresh {
			status = http.StatusOK
		}
		c.JSON(status, ChatSent{Message: m})
	})
	r.Public("POST", "/chat/identify", func(c *gin.Context) {
		allowOrigin(c)
		var in chatIdentifyRequest
		if !s.decode(c, &in) {
			return
		}
		v, good := visitor(c, in.Session)
		if !good {
			return
		}
		verified, err := h.c.Identify(c.Request.Context(), v, in.IdentifyInput)
		if err != nil {
			webChatFail(s, c, err)
			return
		}
		c.JSON(http.StatusOK, gin.H{"verified": verified})
	})
	r.Public("POST", "/chat/files", func(c *gin.Context) {
		allowOrigin(c)
		v, good := visitor(c, c.Query("session"))
		if !good {
			return
		}
		// The whole body may be the file plus the multipart framing.
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, v.Website.MaxFileBytes+64<<10)
		mr, err := c.Request.MultipartReader()
		if err != nil {
			writeError(c, http.StatusBadRequest, "bad_upload", "send the file as multipart/form-data in a part named file", "file")
			return
		}
		for {
			part, err := mr.NextPart()
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				webChatFail(s, c, &webchat.FileError{TooLarge: true, Message: "the file is over this website's limit of " +
					strconv.FormatInt(v.Website.MaxFileBytes, 10) + " bytes (max_file_bytes)"})
				return
			}
			if err != nil {
				writeError(c, http.StatusBadRequest, "bad_upload", "send the file as multipart/form-data in a part named file", "file")
				return
			}
			if part.FormName() != "file" {
				_, _ = io.Copy(io.Discard, part)
				continue
			}
			f, err := h.c.Upload(c.Request.Context(), v, part.FileName(), part)
			if errors.As(err, &mbe) {
				err = &webchat.FileError{TooLarge: true, Message: "the file is over this website's limit of " +
					strconv.FormatInt(v.Website.MaxFileBytes, 10) + " bytes (max_file_bytes)"}
			}
			ok(c, http.StatusCreated)(f, err)
			return
		}
	})
	r.Public("GET", "/chat/files/:key", func(c *gin.Context) {
		f, path, err := h.c.OpenFile(c.Request.Context(), c.Param("key"))
		if err != nil {
			webChatFail(s, c, err)
			return
		}
		file, err := os.Open(path)
		if err != nil {
			webChatFail(s, c, webchat.ErrNotFound)
			return
		}
		defer file.Close()
		disposition := "attachment"
		if strings.HasPrefix(f.ContentType, "image/") {
			disposition = "inline"
		}
		c.Header("Content-Disposition", mime.FormatMediaType(disposition, map[string]string{"filename": f.Name}))
		c.Header("X-Content-Type-Options", "nosniff")
		c.Header("Content-Security-Policy", "default-src 'none'; sandbox")
		c.Header("Cache-Control", "private, max-age=86400")
		c.DataFromReader(http.StatusOK, f.Size, f.ContentType, file, nil)
	})
	r.Public("GET", "/chat/ws", func(c *gin.Context) {
		after, good := queryInt(c, "after_seq")
		if !good {
			return
		}
		v, good := visitor(c, c.Query("session"))
		if !good {
			return
		}
		h.c.ServeVisitor(c.Writer, c.Request, v, int64(after))
	})
}

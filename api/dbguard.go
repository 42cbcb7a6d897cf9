package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"omnicc/store"
)

// DefaultDBTimeout bounds one REST request when Options.DBTimeout is zero.
// It is a backstop, generous because it also covers the request's CPU work
// (bcrypt on a loaded 2-core box took over 5 s in tests under -race): the
// health monitor, not this, fails requests within a second of a stall.
const DefaultDBTimeout = 30 * time.Second

// errDBTimeout is the cause of a request context that reached
// Options.DBTimeout.
var errDBTimeout = errors.New("api: the request's database work reached OMNICC_HTTP_DB_TIMEOUT")

// databaseGuard stands in front of every route that needs the database.
// A REST client must never wait out a database stall: while the health
// monitor knows the database is down the request is answered 503
// database_unavailable at once; a request already running when the stall
// is found has its context ended (cause store.ErrUnavailable), so its
// query returns and fail answers 503 too; and Options.DBTimeout bounds the
// rest, for a stall the monitor has not seen yet.
//
// A websocket is only checked on the way in: once open it outlives any
// deadline, and a stall must not drop the agents' desktops.
func (s *Server) databaseGuard() gin.HandlerFunc {
	return func(c *gin.Context) {
		h := s.opts.Health
		if h.Down() {
			c.Header("Retry-After", "1")
			writeError(c, http.StatusServiceUnavailable, "database_unavailable",
				"the database does not answer; omniccd checks it twice a second and serves again as soon as it answers: retry shortly", "")
			return
		}
		if c.IsWebsocket() {
			c.Next()
			return
		}
		ctx, cancel := context.WithTimeoutCause(c.Request.Context(), s.opts.DBTimeout, errDBTimeout)
		defer cancel()
		if h != nil {
			ctx2, end := context.WithCancelCause(ctx)
			defer end(nil)
			stop := context.AfterFunc(h.UpContext(), func() { end(store.ErrUnavailable) })
			defer stop()
			ctx = ctx2
		}
		c.Request = c.Request.WithContext(ctx)
		c.Next()
	}
}

// databaseFailure says whether a request failed because the database did
// not answer, and how to tell the client, or "" when it did not.
func (s *Server) databaseFailure(c *gin.Context, err error) string {
	switch cause := context.Cause(c.Request.Context()); {
	case errors.Is(cause, store.ErrUnavailable):
		return "the database stopped answering during this request; retry shortly"
	case errors.Is(cause, errDBTimeout):
		return fmt.Sprintf("the database did not answer within %s (OMNICC_HTTP_DB_TIMEOUT); retry shortly", s.opts.DBTimeout)
	case c.Request.Context().Err() == nil && store.IsUnavailable(err):
		return "the database cannot be reached; retry shortly"
	}
	return ""
}

package api

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"omnicc/directory"
)

// queryHints point a caller who used a filter a list does not have at the
// route that has it.
var queryHints = map[string]string{
	"state": "agents' live state is filtered by GET /api/v1/agents/states?state=…",
}

// onlyParams refuses a query parameter the route does not know: a filter
// silently ignored returns everything, and an admin acting on that list
// (an export, a bulk delete) acts on the wrong agents.
func onlyParams(c *gin.Context, allowed ...string) bool {
	for name := range c.Request.URL.Query() {
		if slices.Contains(allowed, name) {
			continue
		}
		msg := "unknown query parameter " + strconv.Quote(name) + "; this list takes " + strings.Join(slices.Sorted(slices.Values(allowed)), ", ")
		if h, ok := queryHints[name]; ok {
			msg += " (" + h + ")"
		}
		writeError(c, http.StatusBadRequest, "unknown_parameter", msg, name)
		return false
	}
	return true
}

// pageParams reads page and per_page. Absent means the defaults (page 1,
// 50 a page); given, they must be in range — page=0 or per_page=0 is
// refused like per_page=1000 rather than quietly read as the default.
func pageParams(c *gin.Context) (page, perPage int, ok bool) {
	if page, ok = queryInt(c, "page"); !ok {
		return 0, 0, false
	}
	if c.Query("page") != "" && page < 1 {
		writeError(c, http.StatusBadRequest, "bad_query", "page "+strconv.Quote(c.Query("page"))+" must be 1 or more", "page")
		return 0, 0, false
	}
	if perPage, ok = queryInt(c, "per_page"); !ok {
		return 0, 0, false
	}
	if c.Query("per_page") != "" && (perPage < 1 || perPage > directory.MaxPerPage) {
		writeError(c, http.StatusBadRequest, "bad_query", "per_page "+strconv.Quote(c.Query("per_page"))+
			" must be between 1 and "+strconv.Itoa(directory.MaxPerPage), "per_page")
		return 0, 0, false
	}
	return page, perPage, true
}

// listParams is onlyParams with page and per_page allowed, then pageParams.
func listParams(c *gin.Context, allowed ...string) (page, perPage int, ok bool) {
	if !onlyParams(c, append(allowed, "page", "per_page")...) {
		return 0, 0, false
	}
	return pageParams(c)
}

// queryPositiveID reads an optional id filter (0 when absent).
func queryPositiveID(c *gin.Context, name string) (int64, bool) {
	v := c.Query(name)
	if v == "" {
		return 0, true
	}
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id < 1 {
		writeError(c, http.StatusBadRequest, "bad_query", name+" "+strconv.Quote(v)+" is not an id", name)
		return 0, false
	}
	return id, true
}

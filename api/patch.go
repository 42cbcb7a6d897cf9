package api

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"
)

// A client edits what it read: GET a resource, change a field, PATCH the
// whole object back. The object carries fields the server owns (id,
// created_at, updated_at, ...); those are accepted when they still hold the
// stored value and refused, by name, when they differ — a changed id or
// creation time is a mistake, and a different updated_at means someone
// else changed the resource since it was read.

// readOnlyKeys are the JSON keys of current that in (the PATCH input type)
// does not accept.
func readOnlyKeys(current any, in any) []string {
	accepted := map[string]bool{}
	t := reflect.TypeOf(in)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		accepted[name] = true
	}
	var cur map[string]json.RawMessage
	raw, _ := json.Marshal(current)
	_ = json.Unmarshal(raw, &cur)
	var out []string
	for k := range cur {
		if !accepted[k] {
			out = append(out, k)
		}
	}
	slices.Sort(out) // the same bad body always names the same field
	return out
}

// dropUnchangedReadOnly rewrites the request body without the keys of
// readOnly that hold current's values; a key holding another value answers
// 422 read_only naming it. A body that is not a JSON object is left for
// decode to refuse.
func dropUnchangedReadOnly(c *gin.Context, current any, readOnly []string) bool {
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		writeError(c, http.StatusBadRequest, "bad_json", "cannot read the request body: "+err.Error(), "")
		return false
	}
	c.Request.Body = io.NopCloser(bytes.NewReader(body))
	var patch map[string]json.RawMessage
	if json.Unmarshal(body, &patch) != nil {
		return true
	}
	var cur map[string]json.RawMessage
	raw, _ := json.Marshal(current)
	if err := json.Unmarshal(raw, &cur); err != nil {
		return true
	}
	changed := false
	for _, k := range readOnly {
		sent, ok := patch[k]
		if !ok {
			continue
		}
		if !sameJSON(sent, cur[k]) {
			msg := k + " is read-only: leave it out or send the stored value"
			if k == "updated_at" {
				msg = "updated_at " + string(sent) + " is not the stored " + string(cur[k]) + ": the resource changed since you read it; GET it again and re-apply your edit"
			}
			writeError(c, http.StatusUnprocessableEntity, "read_only", msg, k)
			return false
		}
		delete(patch, k)
		changed = true
	}
	if changed {
		body, _ = json.Marshal(patch)
		c.Request.Body = io.NopCloser(bytes.NewReader(body))
	}
	return true
}

// sameJSON compares two JSON values by meaning (1.0 is 1, key order and
// spacing do not matter); times compare as the strings the server wrote.
func sameJSON(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// decodePatch decodes a PATCH body into in after dropping the read-only
// fields of current that were sent back unchanged.
func (s *Server) decodePatch(c *gin.Context, current any, in any) bool {
	return dropUnchangedReadOnly(c, current, readOnlyKeys(current, in)) && s.decode(c, in)
}

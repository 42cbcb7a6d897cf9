package presence

import (
	"context"
	"strconv"
	"strings"
)

// pauseTypeFromDB looks a pause type up in the database when the cache does
// not know it: the cache is reloaded by Run after a directory change, so a
// pause type created a moment ago may not be in it yet, and an agent must
// not be told it does not exist.
func (s *Service) pauseTypeFromDB(ctx context.Context, reason string) (string, *int64, bool) {
	reason = strings.TrimSpace(reason)
	var row struct {
		ID   int64  `db:"id"`
		Name string `db:"name"`
	}
	id, _ := strconv.ParseInt(reason, 10, 64)
	err := s.db.GetContext(ctx, &row, `SELECT id, name FROM pause_types WHERE id = ? OR LOWER(name) = LOWER(?) ORDER BY id LIMIT 1`, id, reason)
	if err != nil {
		return "", nil, false
	}
	s.mu.Lock()
	s.pauses[strings.ToLower(row.Name)] = row.ID
	s.pauseIDs[row.ID] = row.Name
	s.mu.Unlock()
	return row.Name, &row.ID, true
}

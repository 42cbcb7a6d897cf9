package contacts

import (
	"context"
	"strings"

	"github.com/jmoiron/sqlx"
)

// CallerQuery lets the tests look at the lookup's query plan.
const CallerQuery = callerQuery

// QuickSearchIDs is the statement a quick search for q (by an admin, no
// other filter) lists its matches with, so a test can show its plan.
func QuickSearchIDs(ctx context.Context, m *Manager, q string) (string, []any, error) {
	qs, err := m.quickSearch(ctx, m.queryWords(q))
	if err != nil {
		return "", nil, err
	}
	sql, args := qs.idsQuery("1 = 1", nil)
	return sql, args, nil
}

// SetSearchBounds lowers the quick search's bounds (the total it counts,
// the counts that choose its plan) so a test reaches them with a few
// contacts; the returned func restores them.
func SetSearchBounds(total int, selectivity []int) func() {
	oldTotal, oldSel := quickTotalCap, selectivityCaps
	quickTotalCap, selectivityCaps = total, selectivity
	return func() { quickTotalCap, selectivityCaps = oldTotal, oldSel }
}

// BulkSeed writes contacts (names, company, numbers, e-mails: what the
// benchmarks generate) with their search tokens, 500 to a statement and
// with ids chosen here, so a benchmark can build a set of a million
// contacts in minutes; Import, which also matches every row against the
// list, is what the benchmark measures for throughput. Nothing else may
// write contacts meanwhile.
func BulkSeed(ctx context.Context, m *Manager, listID int64, cs []*Contact) error {
	const batch = 500
	for len(cs) > 0 {
		n := min(batch, len(cs))
		part := cs[:n]
		cs = cs[n:]
		err := m.db.InTx(ctx, func(tx *sqlx.Tx) error {
			var next int64
			if err := tx.GetContext(ctx, &next, `SELECT COALESCE(MAX(id), 0) + 1 FROM contacts`); err != nil {
				return err
			}
			now := m.stamp()
			var rows, toks, mails []string
			var args, targs, eargs []any
			for _, c := range part {
				c.ID, c.ListID, c.Source, c.CreatedAt, c.UpdatedAt = next, listID, "import", now, now
				next++
				if len(c.Emails) > 0 {
					c.Email = c.Emails[0]
				}
				rows = append(rows, `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
				args = append(args, c.ID, listID, c.FirstName, c.LastName, c.Company, c.Phone, c.Mobile, c.Email,
					m.plan.Normalize(c.Phone), m.plan.Normalize(c.Mobile), marshalJSON(c.Emails), marshalJSON(c.Tags),
					marshalJSON(c.CustomFields), marshalJSON(c.ExternalIDs), c.Source, now, now)
				for _, t := range m.tokens(c) {
					toks = append(toks, `(?, ?)`)
					targs = append(targs, t, c.ID)
				}
				for _, e := range c.Emails {
					mails = append(mails, `(?, ?, ?)`)
					eargs = append(eargs, c.ID, listID, strings.ToLower(e))
				}
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO contacts (id, list_id, first_name, last_name, company, phone, mobile, email,
				phone_norm, mobile_norm, emails, tags, custom_fields, external_ids, source, created_at, updated_at)
				VALUES `+strings.Join(rows, ", "), args...); err != nil {
				return err
			}
			if len(toks) > 0 {
				if _, err := tx.ExecContext(ctx, `INSERT INTO contact_tokens (token, contact_id) VALUES `+strings.Join(toks, ", "), targs...); err != nil {
					return err
				}
			}
			if len(mails) > 0 {
				if _, err := tx.ExecContext(ctx, m.db.InsertIgnore()+` contact_emails (contact_id, list_id, email) VALUES `+strings.Join(mails, ", "), eargs...); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// SetImportBatch sets how many rows Import writes at a time, so a test
// crosses batches with a few rows; the returned func restores it.
func SetImportBatch(n int) func() {
	old := importBatchSize
	importBatchSize = n
	return func() { importBatchSize = old }
}

// SetQuickWalk sets how many ids a newest-first quick search walks before
// it reads the rest from the index ranges; the returned func restores it.
func SetQuickWalk(n int64) func() {
	old := quickWalk
	quickWalk = n
	return func() { quickWalk = old }
}

// SetWholeRatio sets how readily MariaDB's quick search reads a word's
// range whole (0: never, a lookup per candidate; large: always); the
// returned func restores it.
func SetWholeRatio(r float64) func() {
	old := wholeRatio
	wholeRatio = r
	return func() { wholeRatio = old }
}

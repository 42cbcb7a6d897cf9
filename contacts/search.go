package contacts

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"omnicc/directory"
	"omnicc/store"
)

// Quick search works on tokens: the lower-cased, accent-free words of the
// names, company and e-mail addresses (whole and split at @ and .), and for
// each number its digits as stored, as typed and in the national form, so
// "+39 06 1234", "0612" and "390612" all find +39 06 12345678. A query word
// matches a token it prefixes; the words of a query must all match.

const maxTokenLen = 64

// accents maps the accented Latin letters of Western European names to
// their base letter, so that "muller" finds "Müller".
var accents = strings.NewReplacer(
	"à", "a", "á", "a", "â", "a", "ã", "a", "ä", "a", "å", "a", "æ", "ae", "ç", "c",
	"è", "e", "é", "e", "ê", "e", "ë", "e", "ì", "i", "í", "i", "î", "i", "ï", "i",
	"ñ", "n", "ò", "o", "ó", "o", "ô", "o", "õ", "o", "ö", "o", "ø", "o", "œ", "oe",
	"ù", "u", "ú", "u", "û", "u", "ü", "u", "ý", "y", "ÿ", "y", "ß", "ss",
)

// foldWord lower-cases s and drops accents ("Müller" → "muller").
func foldWord(s string) string { return accents.Replace(strings.ToLower(s)) }

func splitWords(s string) []string {
	return strings.FieldsFunc(foldWord(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

func digitsOf(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func (m *Manager) tokens(c *Contact) []string {
	seen := map[string]bool{}
	var out []string
	add := func(t string) {
		if len(t) > maxTokenLen {
			t = t[:maxTokenLen]
		}
		if t != "" && !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	for _, s := range []string{c.FirstName, c.LastName, c.Company} {
		for _, w := range splitWords(s) {
			add(w)
		}
	}
	for _, e := range c.Emails {
		add(foldWord(e))
		for _, w := range splitWords(e) {
			add(w)
		}
	}
	for _, n := range []string{c.Phone, c.Mobile} {
		if n == "" {
			continue
		}
		normal := m.plan.Normalize(n)
		add(normal)
		add(digitsOf(n))
		if cc := m.plan.CountryCode; cc != "" && strings.HasPrefix(normal, cc) {
			add(strings.TrimPrefix(normal, cc))
			add(m.plan.TrunkPrefix + strings.TrimPrefix(normal, cc))
		}
	}
	for _, id := range c.ExternalIDs {
		add(foldWord(id))
	}
	return out
}

// queryWords are the tokens a quick search looks up: numbers are searched
// by their digits (a leading + or international prefix dropped).
func (m *Manager) queryWords(q string) []string {
	q = strings.TrimSpace(q)
	if d := digitsOf(q); d != "" && strings.Trim(q, "0123456789+-.() /") == "" {
		if strings.HasPrefix(strings.TrimSpace(q), "+") {
			return []string{d}
		}
		if ip := m.plan.withDefaults().InternationalPrefix; strings.HasPrefix(d, ip) && len(d) > len(ip) {
			d = d[len(ip):]
		}
		return []string{d}
	}
	words := []string{}
	if strings.Contains(q, "@") {
		words = append(words, foldWord(q))
	} else {
		words = splitWords(q)
	}
	if len(words) > 5 {
		words = words[:5]
	}
	for i, w := range words {
		if len(w) > maxTokenLen {
			words[i] = w[:maxTokenLen]
		}
	}
	return words
}

// prefixEnd is the smallest string greater than every string with the
// prefix p, so that "token >= p AND token < prefixEnd(p)" is an index range
// on both engines (a LIKE 'p%' is one only on some collations).
func prefixEnd(p string) (string, bool) {
	b := []byte(p)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1]), true
		}
	}
	return "", false
}

// Filter selects contacts. Zero fields do not filter.
type Filter struct {
	Q      string
	ListID int64
	Tag    string
	// Mine keeps the contacts owned by the actor.
	Mine                   bool
	FirstName              string
	LastName               string
	Company                string
	Phone                  string // any form; matches phone or mobile
	Email                  string
	Channel                string // with ExternalID
	ExternalID             string
	Custom                 map[string]string // cf.<name>=value
	CreatedFrom, CreatedTo time.Time
	UpdatedFrom, UpdatedTo time.Time
	Sort                   string // field, "-field" for descending
	Page                   int
	PerPage                int
	// After is a keyset page in the default order (newest first): the
	// contacts with an id below it. Deep pages cost what the first does,
	// unlike Page, which skips rows.
	After int64
}

var sortColumns = map[string]string{
	"id": "id", "first_name": "first_name", "last_name": "last_name", "company": "company",
	"created_at": "created_at", "updated_at": "updated_at",
}

// quickTotalCap bounds the total a quick search (q) counts: as-you-type
// must not pay for counting every contact a common word matches. Past it
// Page.Total is quickTotalCap (1,000) and Page.TotalCapped is set.
var quickTotalCap = 1000

// Page is one page of a search.
type Page struct {
	Items []*Contact
	// Total counts every match, or 1,000 for a quick search that
	// matches more (TotalCapped).
	Total       int
	TotalCapped bool
	// NextAfter is the Filter.After of the next page in the default order
	// (0 on the last page).
	NextAfter int64
}

// Search lists the contacts the actor may see that match f.
func (m *Manager) Search(ctx context.Context, a Actor, f Filter) (Page, error) {
	return m.search(ctx, a, f, true)
}

func (m *Manager) search(ctx context.Context, a Actor, f Filter, count bool) (Page, error) {
	if f.PerPage <= 0 {
		f.PerPage = 50
	}
	if f.PerPage > directory.MaxPerPage {
		return Page{}, fieldErr("per_page", "must be at most %d", directory.MaxPerPage)
	}
	if f.Page <= 0 {
		f.Page = 1
	}
	order := "id DESC"
	if f.Sort != "" && f.Sort != "-id" {
		if f.After > 0 {
			return Page{}, fieldErr("after", "pages by id in the default order only: leave sort out (or -id) to use after")
		}
		name, desc := strings.CutPrefix(f.Sort, "-")
		col, ok := sortColumns[name]
		if !ok {
			return Page{}, fieldErr("sort", "%q: sort by id, first_name, last_name, company, created_at or updated_at (- in front for descending)", f.Sort)
		}
		dir := " ASC"
		if desc {
			dir = " DESC"
		}
		order = col + dir + ", id" + dir
	}
	if f.After > 0 && f.Page > 1 {
		return Page{}, fieldErr("after", "is a keyset page: use after or page, not both")
	}
	where, args, err := m.where(ctx, a, f)
	if err != nil {
		return Page{}, err
	}
	var p Page
	if words := m.queryWords(f.Q); len(words) > 0 {
		qs, err := m.quickSearch(ctx, words)
		if err != nil {
			return Page{}, err
		}
		if p, err = m.quickPage(ctx, f, order, where, args, qs); err != nil {
			return Page{}, err
		}
	} else {
		if count {
			countSQL, countArgs := `SELECT COUNT(*) FROM contacts WHERE `+where, args
			if f.Q != "" {
				// A q of no words (punctuation) matches everything, counted
				// up to the cap like any q.
				countSQL = `SELECT COUNT(*) FROM (SELECT 1 FROM contacts WHERE ` + where + ` LIMIT ?) x`
				countArgs = append(slices.Clip(args), quickTotalCap+1)
			}
			if err := m.db.GetContext(ctx, &p.Total, countSQL, countArgs...); err != nil {
				return Page{}, err
			}
			if f.Q != "" && p.Total > quickTotalCap {
				p.Total, p.TotalCapped = quickTotalCap, true
			}
		}
		if f.After > 0 {
			where += ` AND id < ?`
			args = append(args, f.After)
		}
		items, err := m.selectContacts(ctx, `SELECT `+contactCols+` FROM contacts WHERE `+where+` ORDER BY `+order+` LIMIT ? OFFSET ?`,
			append(args, f.PerPage, (f.Page-1)*f.PerPage)...)
		if err != nil {
			return Page{}, err
		}
		p.Items = items
	}
	if order == "id DESC" && len(p.Items) == f.PerPage {
		p.NextAfter = p.Items[len(p.Items)-1].ID
	}
	return p, nil
}

// selectivityCaps are the bounds quickSearch counts a word's matches up
// to, in turn, to choose the word that drives: a rare word costs one small
// index range, and only when every word fills a bound are they counted up
// to the next. A query of one word is not counted.
var selectivityCaps = []int{2000, 50000}

// quickWalk bounds the newest-first walk of a quick search (see quickPage):
// how many ids down from the newest it looks before it reads the matches
// from the index ranges instead.
var quickWalk = int64(5000)

// quickPlan is how a quick search reads: the contacts whose tokens match
// the rarest word (an index range, t0) that also have tokens matching each
// other word. ids selects them from from and cond (with a DISTINCT: a
// contact may have several tokens in a range); in is the same as a
// condition on contacts. exists is the condition a newest-first walk of
// contacts checks per contact, which stops after a page of matches.
//
// Each other word is checked one of two ways. By default a correlated
// EXISTS looks the candidate's tokens up by contact (an index lookup per
// candidate). On MariaDB a word can instead be read whole, as a derived
// table of its contact ids that the candidates join by key: one
// sequential index range, where the lookups touch a page of the
// (contact_id) index each. Measured at 1M contacts on the default 128 MB
// buffer pool, 7,169 lookups ("sofia1 romano") took 330 ms and reading
// the 62,500-token range 25 ms; past a few hundred thousand tokens
// ("company") the lookups win, the more so as every candidate matches
// and the capped count stops early. quickSearch chooses with MariaDB's
// own range estimates (see mysqlPlan).
type quickPlan struct {
	from, cond         string
	fromArgs, condArgs []any
	in, exists         string
	inArgs, existsArgs []any
}

// quickWord is a query word's token range and its count (or estimate).
type quickWord struct {
	lo, hi string
	n      int
	// whole: read as a derived table rather than looked up per candidate.
	whole bool
}

func (m *Manager) quickSearch(ctx context.Context, words []string) (quickPlan, error) {
	ws := make([]quickWord, len(words))
	for i, w := range words {
		hi, ok := prefixEnd(w)
		if !ok {
			hi = "\xff\xff\xff\xff"
		}
		ws[i] = quickWord{lo: w, hi: hi}
	}
	best := 0
	var err error
	switch {
	case len(ws) == 1:
		// Nothing to choose.
	case m.db.Dialect == store.MySQL:
		best, err = m.mysqlPlan(ctx, ws)
	default:
		best, err = m.countWords(ctx, ws)
	}
	if err != nil {
		return quickPlan{}, err
	}
	ws[0], ws[best] = ws[best], ws[0]
	var p quickPlan
	var from, cond strings.Builder
	from.WriteString(`contact_tokens t0`)
	cond.WriteString(`t0.token >= ? AND t0.token < ?`)
	p.condArgs = append(p.condArgs, ws[0].lo, ws[0].hi)
	for i, w := range ws[1:] {
		if w.whole {
			// DISTINCT keeps the derived table whole (not merged into the
			// join) and one row per contact.
			fmt.Fprintf(&from, ` JOIN (SELECT DISTINCT contact_id FROM contact_tokens WHERE token >= ? AND token < ?) w%d ON w%d.contact_id = t0.contact_id`, i+1, i+1)
			p.fromArgs = append(p.fromArgs, w.lo, w.hi)
			continue
		}
		cond.WriteString(` AND EXISTS (SELECT 1 FROM contact_tokens t1 WHERE t1.contact_id = t0.contact_id AND t1.token >= ? AND t1.token < ?)`)
		p.condArgs = append(p.condArgs, w.lo, w.hi)
	}
	p.from, p.cond = from.String(), cond.String()
	p.in = `id IN (SELECT t0.contact_id FROM ` + p.from + ` WHERE ` + p.cond + `)`
	p.inArgs = append(slices.Clip(p.fromArgs), p.condArgs...)
	var b strings.Builder
	for i, w := range ws {
		if i > 0 {
			b.WriteString(` AND `)
		}
		b.WriteString(`EXISTS (SELECT 1 FROM contact_tokens t WHERE t.contact_id = contacts.id AND t.token >= ? AND t.token < ?)`)
		p.existsArgs = append(p.existsArgs, w.lo, w.hi)
	}
	p.exists = b.String()
	return p, nil
}

// countWords counts each word's matches, up to selectivityCaps, and
// returns the rarest. While even the rarest word fills the bound, every
// word is counted again up to the next one. A word is counted no further
// than the rarest so far: past that it cannot be the one to drive.
func (m *Manager) countWords(ctx context.Context, ws []quickWord) (int, error) {
	best := 0
	for _, limit := range selectivityCaps {
		for i := range ws {
			bound := limit
			if i > 0 && ws[best].n < bound {
				bound = ws[best].n
			}
			if err := m.db.GetContext(ctx, &ws[i].n, `SELECT COUNT(*) FROM (SELECT 1 FROM contact_tokens WHERE token >= ? AND token < ? LIMIT ?) x`, ws[i].lo, ws[i].hi, bound); err != nil {
				return 0, err
			}
			if ws[i].n < ws[best].n {
				best = i
			}
		}
		if ws[best].n < limit {
			break
		}
	}
	return best, nil
}

// wholeRatio is how many tokens reading a word whole may cost per lookup
// it saves (see quickPlan).
var wholeRatio = 32.0

// mysqlPlan chooses the driving word and which others are read whole from
// MariaDB's estimates of each range (EXPLAIN's rows: index dives, a
// fraction of a millisecond, where counting 50,000 tokens took 50 ms).
// The driver's n candidates cost n lookups for a word, unless most match
// it and the capped count stops after about cap·N/n_w of them; reading
// the word costs n_w. So a word is read whole below both wholeRatio·n and
// sqrt(wholeRatio·cap·N), N the contacts (by the largest id).
func (m *Manager) mysqlPlan(ctx context.Context, ws []quickWord) (int, error) {
	best := 0
	for i := range ws {
		rows, err := m.db.QueryxContext(ctx, `EXPLAIN SELECT 1 FROM contact_tokens WHERE token >= ? AND token < ?`, ws[i].lo, ws[i].hi)
		if err != nil {
			return 0, err
		}
		for rows.Next() {
			row := map[string]any{}
			if err := rows.MapScan(row); err != nil {
				rows.Close()
				return 0, err
			}
			n, _ := strconv.Atoi(fmt.Sprintf("%s", row["rows"]))
			ws[i].n = max(ws[i].n, n)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return 0, err
		}
		if ws[i].n < ws[best].n {
			best = i
		}
	}
	var total int64
	if err := m.db.GetContext(ctx, &total, `SELECT COALESCE(MAX(id), 0) FROM contacts`); err != nil {
		return 0, err
	}
	limit := min(wholeRatio*float64(ws[best].n), math.Sqrt(wholeRatio*float64(quickTotalCap+1)*float64(total)))
	for i := range ws {
		ws[i].whole = i != best && float64(ws[i].n) < limit
	}
	return best, nil
}

// quickPage is one page of a quick search. It first lists the matching
// ids, up to one past the cap on the total, in one statement that stops
// there (a DISTINCT ... LIMIT over the rarest word's range; MariaDB
// materialises an IN subquery whole before a LIMIT outside it applies).
// Under the cap those are all the matches: the page is read by id. Past
// it the matches are many, and a page newest first walks contacts down
// from the newest, checking each (quickWalk ids at most), and reads what
// it still lacks from the index ranges below where the walk stopped: the
// walk is cheap when matches are dense among recent contacts, the ranges
// when they are not (a number prefix matching only old contacts).
func (m *Manager) quickPage(ctx context.Context, f Filter, order, where string, args []any, qs quickPlan) (Page, error) {
	var p Page
	idsSQL, idsArgs := qs.idsQuery(where, args)
	var ids []int64
	if err := m.db.SelectContext(ctx, &ids, idsSQL, idsArgs...); err != nil {
		return Page{}, err
	}
	p.Total = len(ids)
	if p.Total > quickTotalCap {
		p.Total, p.TotalCapped = quickTotalCap, true
	}
	offset := (f.Page - 1) * f.PerPage
	if len(ids) <= quickTotalCap {
		// Every match: the page by id.
		if f.After > 0 {
			ids = slices.DeleteFunc(ids, func(id int64) bool { return id >= f.After })
		}
		limit := f.PerPage
		if order == "id DESC" {
			// Only the page's rows are read.
			slices.Sort(ids)
			slices.Reverse(ids)
			ids = ids[min(offset, len(ids)):min(offset+f.PerPage, len(ids))]
			offset = 0
		}
		if len(ids) == 0 {
			p.Items = []*Contact{}
			return p, nil
		}
		in := make([]any, len(ids))
		for i, id := range ids {
			in[i] = id
		}
		items, err := m.selectContacts(ctx, `SELECT `+contactCols+` FROM contacts WHERE id IN (`+inList(len(ids))+`) ORDER BY `+order+` LIMIT ? OFFSET ?`,
			append(in, limit, offset)...)
		p.Items = items
		return p, err
	}
	if f.After > 0 {
		where += ` AND id < ?`
		args = append(slices.Clip(args), f.After)
	}
	if order != "id DESC" {
		items, err := m.selectContacts(ctx, `SELECT `+contactCols+` FROM contacts WHERE `+where+` AND `+qs.in+` ORDER BY `+order+` LIMIT ? OFFSET ?`,
			append(append(slices.Clip(args), qs.inArgs...), f.PerPage, offset)...)
		p.Items = items
		return p, err
	}
	need := offset + f.PerPage
	top := f.After - 1
	if f.After <= 0 {
		if err := m.db.GetContext(ctx, &top, `SELECT COALESCE(MAX(id), 0) FROM contacts`); err != nil {
			return Page{}, err
		}
	}
	floor := top - quickWalk
	items, err := m.selectContacts(ctx, `SELECT `+contactCols+` FROM contacts WHERE `+where+` AND id > ? AND `+qs.exists+` ORDER BY id DESC LIMIT ?`,
		append(append(append(slices.Clip(args), floor), qs.existsArgs...), need)...)
	if err != nil {
		return Page{}, err
	}
	// Below the walk: the newest matches, sorted from the index ranges
	// alone and then read by id, a chunk at a time when the actor's
	// filters may turn some down. As "id <= floor AND id IN (...)" MariaDB
	// walked on down contacts (75,000 rows, 100 ms at 100,000 contacts for
	// "+39 06 0001", whose matches are all old); with the filters joined
	// in, it read every candidate's row first. The sort is outside the
	// DISTINCT: with ORDER BY ... LIMIT beside the range MariaDB read the
	// (contact_id) index backwards instead, all ten million tokens below
	// the walk at 1M contacts.
	chunk := need - len(items)
	if where != "1 = 1" {
		chunk *= 4
	}
	for bound := floor; len(items) < need && bound > 0; chunk *= 4 {
		var ids []int64
		if err := m.db.SelectContext(ctx, &ids, `SELECT id FROM (SELECT DISTINCT t0.contact_id AS id FROM `+qs.from+` WHERE `+qs.cond+` AND t0.contact_id <= ?) m ORDER BY id DESC LIMIT ?`,
			append(append(slices.Clip(qs.fromArgs), qs.condArgs...), bound, chunk)...); err != nil {
			return Page{}, err
		}
		if len(ids) == 0 {
			break
		}
		in := make([]any, 0, len(ids)+len(args)+1)
		for _, id := range ids {
			in = append(in, id)
		}
		more, err := m.selectContacts(ctx, `SELECT `+contactCols+` FROM contacts WHERE id IN (`+inList(len(ids))+`) AND `+where+` ORDER BY id DESC LIMIT ?`,
			append(append(in, args...), need-len(items))...)
		if err != nil {
			return Page{}, err
		}
		items = append(items, more...)
		if len(ids) < chunk {
			break
		}
		bound = ids[len(ids)-1] - 1
	}
	p.Items = []*Contact{}
	if offset < len(items) {
		p.Items = items[offset:]
	}
	return p, nil
}

// idsQuery lists the matches the actor may see (where), up to one past
// the cap on the total.
func (qs quickPlan) idsQuery(where string, args []any) (string, []any) {
	q := `SELECT DISTINCT t0.contact_id FROM ` + qs.from + ` WHERE ` + qs.cond
	a := append(slices.Clip(qs.fromArgs), qs.condArgs...)
	if where != "1 = 1" {
		// CROSS JOIN keeps the token range driving on SQLite (MariaDB
		// reads it as JOIN): given list_id = ?, SQLite's planner walked the
		// list's index and looked tokens up per contact, a second for
		// "u4242@ex" in a list of a million.
		q = `SELECT DISTINCT t0.contact_id FROM ` + qs.from + ` CROSS JOIN contacts ON contacts.id = t0.contact_id WHERE ` + qs.cond + ` AND ` + where
		a = append(a, args...)
	}
	return q + ` LIMIT ?`, append(a, quickTotalCap+1)
}

func (m *Manager) selectContacts(ctx context.Context, q string, args ...any) ([]*Contact, error) {
	rows, err := m.db.QueryxContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	items := []*Contact{}
	for rows.Next() {
		c, err := scanContact(rows)
		if err != nil {
			return nil, err
		}
		items = append(items, c)
	}
	return items, rows.Err()
}

func (m *Manager) where(ctx context.Context, a Actor, f Filter) (string, []any, error) {
	conds, args := []string{"1 = 1"}, []any{}
	add := func(cond string, a ...any) {
		conds = append(conds, cond)
		args = append(args, a...)
	}
	if !a.Admin() {
		add(`list_id IN (`+grantedListsSQL+`)`, a.UserID, a.UserID)
	}
	if f.ListID > 0 {
		add(`list_id = ?`, f.ListID)
	}
	if f.Mine {
		add(`owner_id = ?`, a.UserID)
	}
	if f.Tag != "" {
		add(`id IN (SELECT contact_id FROM contact_tags WHERE tag = ?)`, strings.ToLower(strings.TrimSpace(f.Tag)))
	}
	for _, p := range []struct{ col, v string }{{"first_name", f.FirstName}, {"last_name", f.LastName}, {"company", f.Company}} {
		if p.v != "" {
			// A prefix, with LIKE's wildcards taken literally.
			add(p.col+` LIKE ? ESCAPE '!'`, likeEscape(p.v)+"%")
		}
	}
	if f.Phone != "" {
		n := m.plan.Normalize(f.Phone)
		if n == "" {
			return "", nil, fieldErr("phone", "%q is not a phone number", f.Phone)
		}
		add(`id IN (SELECT id FROM contacts WHERE phone_norm = ? UNION SELECT id FROM contacts WHERE mobile_norm = ?)`, n, n)
	}
	if f.Email != "" {
		add(`id IN (SELECT contact_id FROM contact_emails WHERE email = ?)`, strings.ToLower(strings.TrimSpace(f.Email)))
	}
	if f.ExternalID != "" {
		add(`id IN (SELECT contact_id FROM contact_external_ids WHERE channel = ? AND external_id = ?)`, f.Channel, f.ExternalID)
	}
	for name, v := range f.Custom {
		add(`id IN (SELECT contact_id FROM contact_values WHERE name = ? AND value = ?)`, name, v)
	}
	for _, p := range []struct {
		cond string
		t    time.Time
	}{{"created_at >= ?", f.CreatedFrom}, {"created_at < ?", f.CreatedTo}, {"updated_at >= ?", f.UpdatedFrom}, {"updated_at < ?", f.UpdatedTo}} {
		if !p.t.IsZero() {
			add(p.cond, p.t.UTC())
		}
	}
	return strings.Join(conds, " AND "), args, nil
}

func likeEscape(s string) string {
	return strings.NewReplacer("!", "!!", "%", "!%", "_", "!_").Replace(s)
}

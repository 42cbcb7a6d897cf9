package contacts

import (
	"context"
	"slices"
	"strings"
	"time"
	"unicode"

	"omnicc/directory"
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

// QuickSearchSQL is the condition one query word adds: kept apart so that
// a test can show its plan.
const QuickSearchSQL = `SELECT contact_id FROM contact_tokens WHERE token >= ? AND token < ?`

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
	countWhere, countArgs := where, args
	if words := m.queryWords(f.Q); len(words) > 0 {
		qs, err := m.quickSearch(ctx, words)
		if err != nil {
			return Page{}, err
		}
		countWhere, countArgs = where+` AND `+qs.in, append(slices.Clip(args), qs.inArgs...)
		if qs.exists != "" && order == "id DESC" {
			where, args = where+` AND `+qs.exists, append(slices.Clip(args), qs.existsArgs...)
		} else {
			where, args = countWhere, countArgs
		}
	}
	var p Page
	if count {
		countSQL := `SELECT COUNT(*) FROM contacts WHERE ` + countWhere
		if f.Q != "" {
			countSQL = `SELECT COUNT(*) FROM (SELECT 1 FROM contacts WHERE ` + countWhere + ` LIMIT ?) x`
			countArgs = append(slices.Clip(countArgs), quickTotalCap+1)
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
	rows, err := m.db.QueryxContext(ctx, `SELECT `+contactCols+` FROM contacts WHERE `+where+` ORDER BY `+order+` LIMIT ? OFFSET ?`,
		append(args, f.PerPage, (f.Page-1)*f.PerPage)...)
	if err != nil {
		return Page{}, err
	}
	defer rows.Close()
	p.Items = []*Contact{}
	for rows.Next() {
		c, err := scanContact(rows)
		if err != nil {
			return Page{}, err
		}
		p.Items = append(p.Items, c)
	}
	if err := rows.Err(); err != nil {
		return Page{}, err
	}
	if order == "id DESC" && len(p.Items) == f.PerPage {
		p.NextAfter = p.Items[len(p.Items)-1].ID
	}
	return p, nil
}

// selectivityCaps are the bounds quickSearch counts a word's matches up
// to, in turn: a rare word costs one small index range, and only when
// every word fills a bound are they counted up to the next.
var selectivityCaps = []int{2000, 50000}

// quickPlan is how a quick search reads. in drives from the rarest word:
// the contacts whose tokens match it (an index range) that also have
// tokens matching each other word, looked up by contact; both engines
// then fetch those contacts by primary key, the best plan for the capped
// count and for a page when the word is rare. exists, set when even the
// rarest word is common (50,000 matches or more), is the page's condition
// instead: a correlated EXISTS per contact, so a newest-first page walks
// contacts by id and stops after a page of matches rather than fetching
// and sorting every match first.
type quickPlan struct {
	in, exists         string
	inArgs, existsArgs []any
}

func (m *Manager) quickSearch(ctx context.Context, words []string) (quickPlan, error) {
	type word struct {
		lo, hi string
		n      int
	}
	ws := make([]word, len(words))
	for i, w := range words {
		hi, ok := prefixEnd(w)
		if !ok {
			hi = "\xff\xff\xff\xff"
		}
		ws[i] = word{lo: w, hi: hi}
	}
	// While even the rarest word fills the bound, every word is counted
	// again up to the next one. A word is counted no further than the
	// rarest so far: past that it cannot be the one to drive.
	best, common := 0, false
	for _, limit := range selectivityCaps {
		for i := range ws {
			bound := limit
			if i > 0 && ws[best].n < bound {
				bound = ws[best].n
			}
			if err := m.db.GetContext(ctx, &ws[i].n, `SELECT COUNT(*) FROM (SELECT 1 FROM contact_tokens WHERE token >= ? AND token < ? LIMIT ?) x`, ws[i].lo, ws[i].hi, bound); err != nil {
				return quickPlan{}, err
			}
			if ws[i].n < ws[best].n {
				best = i
			}
		}
		if ws[best].n < limit {
			break
		}
		common = limit == selectivityCaps[len(selectivityCaps)-1]
	}
	ws[0], ws[best] = ws[best], ws[0]
	var p quickPlan
	var b strings.Builder
	b.WriteString(`id IN (SELECT t0.contact_id FROM contact_tokens t0 WHERE t0.token >= ? AND t0.token < ?`)
	p.inArgs = append(p.inArgs, ws[0].lo, ws[0].hi)
	for _, w := range ws[1:] {
		b.WriteString(` AND EXISTS (SELECT 1 FROM contact_tokens t1 WHERE t1.contact_id = t0.contact_id AND t1.token >= ? AND t1.token < ?)`)
		p.inArgs = append(p.inArgs, w.lo, w.hi)
	}
	b.WriteString(`)`)
	p.in = b.String()
	if common {
		b.Reset()
		for i, w := range ws {
			if i > 0 {
				b.WriteString(` AND `)
			}
			b.WriteString(`EXISTS (SELECT 1 FROM contact_tokens t WHERE t.contact_id = contacts.id AND t.token >= ? AND t.token < ?)`)
			p.existsArgs = append(p.existsArgs, w.lo, w.hi)
		}
		p.exists = b.String()
	}
	return p, nil
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

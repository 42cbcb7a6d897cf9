package contacts

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/jmoiron/sqlx"
)

// ImportOptions say how CSV columns map to contact fields. Mapping is
// CSV header → field (first_name, last_name, company, phone, mobile,
// emails, tags, owner_id is not importable, cf.<name>, ext.<channel>); a
// header not in Mapping is taken as the field of the same name, and one
// that names no field is ignored. emails and tags hold several values
// separated by ';'.
type ImportOptions struct {
	Mapping map[string]string
	DryRun  bool
	By      int64
}

// ImportError is one bad value: Line is the CSV line (the header is 1).
type ImportError struct {
	Line    int    `json:"line"`
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ImportReport says what an import did, or (dry run, or any error) would do.
type ImportReport struct {
	Rows    int           `json:"rows"`
	Created int           `json:"created"`
	Updated int           `json:"updated"`
	DryRun  bool          `json:"dry_run"`
	Errors  []ImportError `json:"errors"`
}

// maxImportErrors bounds the report: past it the file is clearly wrong.
const maxImportErrors = 1000

// Import reads contacts into a list. Every row is checked first; when any
// is bad, nothing is written and the report lists every bad row by line
// and field. Otherwise all rows are written in one transaction: a row
// matching a contact of the list (by external id, number or e-mail
// address) updates it, so importing the same file twice changes nothing
// the second time.
func (m *Manager) Import(ctx context.Context, listID int64, r io.Reader, opts ImportOptions) (*ImportReport, error) {
	list, err := m.getList(ctx, listID)
	if err != nil {
		return nil, err
	}
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return nil, fieldErr("file", "no CSV header line: %v", err)
	}
	fields := make([]string, len(header))
	for i, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		f, ok := opts.Mapping[h]
		if !ok {
			f = h
		}
		fields[i] = f
	}
	for h, f := range opts.Mapping {
		if !slices.Contains(header, h) {
			return nil, fieldErr("mapping."+h, "the file has no column %q", h)
		}
		if !importable(f) {
			return nil, fieldErr("mapping."+h, "%q is not a contact field: use first_name, last_name, company, phone, mobile, emails, tags, cf.<name> or ext.<channel>", f)
		}
	}
	rep := &ImportReport{DryRun: opts.DryRun, Errors: []ImportError{}}
	var rows []importRow
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			rep.Errors = append(rep.Errors, ImportError{Line: line, Field: "file", Message: err.Error()})
			break
		}
		rep.Rows++
		c := &Contact{ListID: listID, Source: "import", CustomFields: map[string]any{}, ExternalIDs: map[string]string{}}
		for i, v := range rec {
			if i >= len(fields) || strings.TrimSpace(v) == "" {
				continue
			}
			switch f := fields[i]; {
			case f == "first_name":
				c.FirstName = v
			case f == "last_name":
				c.LastName = v
			case f == "company":
				c.Company = v
			case f == "phone":
				c.Phone = v
			case f == "mobile":
				c.Mobile = v
			case f == "emails" || f == "email":
				c.Emails = append(c.Emails, strings.Split(v, ";")...)
			case f == "tags":
				c.Tags = append(c.Tags, strings.Split(v, ";")...)
			case strings.HasPrefix(f, "cf."):
				c.CustomFields[f[3:]] = v
			case strings.HasPrefix(f, "ext."):
				c.ExternalIDs[f[4:]] = strings.TrimSpace(v)
			}
		}
		if err := m.clean(c, list); err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) {
				return nil, err
			}
			rep.Errors = append(rep.Errors, ImportError{Line: line, Field: fe.Field, Message: fe.Message})
			if len(rep.Errors) >= maxImportErrors {
				break
			}
			continue
		}
		rows = append(rows, importRow{c: c, line: line})
	}
	if len(rep.Errors) > 0 || opts.DryRun {
		return rep, nil
	}
	now := m.stamp()
	for _, r := range rows {
		if opts.By > 0 {
			r.c.UpdatedBy = &opts.By
		}
		r.c.UpdatedAt = now
	}
	err = m.db.InTx(ctx, func(tx *sqlx.Tx) error {
		rep.Created, rep.Updated = 0, 0
		for left := rows; len(left) > 0; {
			n := min(importBatchSize, len(left))
			created, updated, err := m.importBatch(ctx, tx, listID, left[:n])
			if err != nil {
				return err
			}
			rep.Created += created
			rep.Updated += updated
			left = left[n:]
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if m.cache != nil {
		m.cache.clear()
	}
	return rep, nil
}

func importable(f string) bool {
	switch f {
	case "first_name", "last_name", "company", "phone", "mobile", "emails", "email", "tags":
		return true
	}
	return (strings.HasPrefix(f, "cf.") && len(f) > 3) || (strings.HasPrefix(f, "ext.") && channelName.MatchString(f[4:]))
}

// SafeCSVCell neutralises spreadsheet formula injection: a cell a
// spreadsheet would evaluate (starting with = + - @, a tab or a CR) gets a
// leading apostrophe, shown as text and never run (as the agents export).
func SafeCSVCell(v string) string {
	if v == "" {
		return v
	}
	switch v[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + v
	}
	return v
}

// ExportHeader are the columns of Export.
var ExportHeader = []string{"id", "list_id", "first_name", "last_name", "company", "phone", "mobile", "emails", "tags", "external_ids", "custom_fields", "created_at", "updated_at"}

// Export writes the contacts the actor may see that match f as CSV, masked
// when mask is set, page by page so that memory stays flat.
func (m *Manager) Export(ctx context.Context, a Actor, f Filter, mask bool, w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(ExportHeader); err != nil {
		return err
	}
	f.PerPage, f.Page = 500, 1
	keyset := f.Sort == "" || f.Sort == "-id"
	for {
		page, err := m.search(ctx, a, f, false)
		if err != nil {
			return err
		}
		items := page.Items
		for _, c := range items {
			if mask {
				c = Masked(c)
			}
			var ext []string
			for ch, id := range c.ExternalIDs {
				ext = append(ext, ch+":"+id)
			}
			slices.Sort(ext)
			rec := []string{fmt.Sprint(c.ID), fmt.Sprint(c.ListID), c.FirstName, c.LastName, c.Company, c.Phone, c.Mobile,
				strings.Join(c.Emails, ";"), strings.Join(c.Tags, ";"), strings.Join(ext, ";"), marshalJSON(c.CustomFields),
				c.CreatedAt.Format("2006-01-02T15:04:05Z"), c.UpdatedAt.Format("2006-01-02T15:04:05Z")}
			for i := range rec {
				rec[i] = SafeCSVCell(rec[i])
			}
			if err := cw.Write(rec); err != nil {
				return err
			}
		}
		if len(items) < f.PerPage {
			break
		}
		if keyset {
			// Newest first, by id: every page costs what the first does.
			f.After = page.NextAfter
		} else {
			f.Page++
		}
	}
	cw.Flush()
	return cw.Error()
}

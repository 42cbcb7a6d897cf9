package webchat

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"
)

// AllowedFileTypes are the types a visitor may upload, as the bytes say
// (http.DetectContentType), whatever the browser claims.
var AllowedFileTypes = []string{"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "text/plain"}

// FilesPath prefixes an uploaded file's URL; the rest is its key.
const FilesPath = "/api/v1/chat/files/"

// File is a visitor's upload.
type File struct {
	URL         string `json:"url"`
	Name        string `json:"name"`
	ContentType string `json:"content_type" db:"content_type"`
	Size        int64  `json:"size" db:"size"`
	Key         string `json:"-" db:"file_key"`
	FileName    string `json:"-" db:"name"`
	WebsiteID   int64  `json:"-" db:"website_id"`
	Visitor     string `json:"-" db:"visitor"`
}

// fileKeyOf is the key of an uploaded file's URL (absolute or not).
func fileKeyOf(url string) (string, bool) {
	i := strings.Index(url, FilesPath)
	if i < 0 || len(url) > 512 {
		return "", false
	}
	key := url[i+len(FilesPath):]
	if !validVisitorID(key) {
		return "", false
	}
	return key, true
}

func (c *Connector) filePath(key string) string { return filepath.Join(c.o.FilesDir, key) }

// Upload stores a visitor's file within the website's max_file_bytes and
// AllowedFileTypes.
func (c *Connector) Upload(ctx context.Context, v *Visitor, name string, r io.Reader) (*File, error) {
	limit := v.Website.MaxFileBytes
	if limit <= 0 {
		return nil, &FileError{TooLarge: true, Message: "this website takes no files (max_file_bytes is 0)"}
	}
	if err := os.MkdirAll(c.o.FilesDir, 0o750); err != nil {
		return nil, fmt.Errorf("webchat: files directory: %w", err)
	}
	key := randomHex(16)
	tmp, err := os.CreateTemp(c.o.FilesDir, ".upload-*")
	if err != nil {
		return nil, fmt.Errorf("webchat: store upload: %w", err)
	}
	defer os.Remove(tmp.Name())
	n, err := io.Copy(tmp, io.LimitReader(r, limit+1))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("webchat: read upload: %w", err)
	}
	if n > limit {
		return nil, &FileError{TooLarge: true, Message: fmt.Sprintf("the file is over this website's limit of %d bytes (max_file_bytes)", limit)}
	}
	if n == 0 {
		return nil, fieldErr("file", "is empty")
	}
	head := make([]byte, 512)
	f, err := os.Open(tmp.Name())
	if err != nil {
		return nil, err
	}
	k, _ := io.ReadFull(f, head)
	f.Close()
	ctype, _, _ := strings.Cut(http.DetectContentType(head[:k]), ";")
	if !slices.Contains(AllowedFileTypes, ctype) {
		return nil, &FileError{Message: fmt.Sprintf("files of type %s are not taken: send one of %s", ctype, strings.Join(AllowedFileTypes, ", "))}
	}
	name = cleanFileName(name)
	if err := os.Rename(tmp.Name(), c.filePath(key)); err != nil {
		return nil, fmt.Errorf("webchat: store upload: %w", err)
	}
	if _, err := c.o.DB.ExecContext(ctx, `INSERT INTO chat_files (website_id, visitor, file_key, name, content_type, size, created_at)
 VALUES (?, ?, ?, ?, ?, ?, ?)`, v.Website.ID, v.ID, key, name, ctype, n, c.now()); err != nil {
		_ = os.Remove(c.filePath(key))
		return nil, fmt.Errorf("webchat: record upload: %w", err)
	}
	return &File{URL: strings.TrimRight(c.o.PublicURL, "/") + FilesPath + key, Name: name, ContentType: ctype, Size: n, Key: key}, nil
}

func cleanFileName(name string) string {
	name = filepath.Base(strings.ReplaceAll(name, "\\", "/"))
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '"' {
			return -1
		}
		return r
	}, name)
	for len(name) > 200 {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	if name == "" || name == "." || name == "/" {
		name = "file"
	}
	return name
}

func (c *Connector) ownFile(ctx context.Context, v *Visitor, url string) error {
	key, ok := fileKeyOf(url)
	if !ok {
		return ErrNotFound
	}
	var n int
	if err := c.o.DB.GetContext(ctx, &n, `SELECT COUNT(*) FROM chat_files WHERE file_key = ? AND website_id = ? AND visitor = ?`,
		key, v.Website.ID, v.ID); err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// OpenFile finds an uploaded file by key: its record and its path on disk.
func (c *Connector) OpenFile(ctx context.Context, key string) (*File, string, error) {
	if !validVisitorID(key) {
		return nil, "", ErrNotFound
	}
	var f File
	err := c.o.DB.GetContext(ctx, &f, `SELECT file_key, name, content_type, size, website_id, visitor FROM chat_files WHERE file_key = ?`, key)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, "", ErrNotFound
	}
	if err != nil {
		return nil, "", fmt.Errorf("webchat: read file: %w", err)
	}
	f.Name = f.FileName
	return &f, c.filePath(key), nil
}

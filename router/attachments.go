package router

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// MaxAttachment is the largest file an agent may send, one per message
// (the seeds' limit, and WhatsApp's for documents is larger).
const MaxAttachment = 15 << 20

// ErrAttachmentTooLarge is a file over MaxAttachment.
var ErrAttachmentTooLarge = fmt.Errorf("the file is larger than %d MB", MaxAttachment>>20)

// Files keeps the files agents attach to their messages, one folder per
// interaction under a directory of the data directory. A message refers to
// its file by AttachmentURL, which the REST API serves to whoever may see
// the interaction.
type Files struct{ dir string }

// NewFiles keeps files under dir (created when the first file comes).
func NewFiles(dir string) *Files { return &Files{dir: dir} }

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// Save stores one file for the interaction and answers its reference (a
// random prefix and the cleaned name). A file over MaxAttachment is
// refused with ErrAttachmentTooLarge and nothing is kept.
func (f *Files) Save(interactionID int64, name string, r io.Reader) (ref string, size int64, err error) {
	base := unsafeName.ReplaceAllString(filepath.Base(strings.TrimSpace(name)), "_")
	base = strings.TrimLeft(base, ".")
	if base == "" {
		base = "file"
	}
	if len(base) > 100 {
		base = base[len(base)-100:]
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	ref = hex.EncodeToString(rnd[:]) + "-" + base
	dir := filepath.Join(f.dir, strconv.FormatInt(interactionID, 10))
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", 0, fmt.Errorf("router: attachments folder: %w", err)
	}
	path := filepath.Join(dir, ref)
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return "", 0, fmt.Errorf("router: store attachment: %w", err)
	}
	size, err = io.Copy(out, io.LimitReader(r, MaxAttachment+1))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil && size > MaxAttachment {
		err = ErrAttachmentTooLarge
	}
	if err != nil {
		_ = os.Remove(path)
		return "", 0, err
	}
	return ref, size, nil
}

// Open opens a stored file of the interaction.
func (f *Files) Open(interactionID int64, ref string) (*os.File, error) {
	if ref == "" || ref != filepath.Base(ref) || strings.HasPrefix(ref, ".") {
		return nil, fmt.Errorf("attachment %q: %w", ref, ErrNotFound)
	}
	file, err := os.Open(filepath.Join(f.dir, strconv.FormatInt(interactionID, 10), ref))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("attachment %q of interaction %d: %w", ref, interactionID, ErrNotFound)
	}
	return file, err
}

// AttachmentURL is how a message refers to a stored file.
func AttachmentURL(interactionID int64, ref string) string {
	return fmt.Sprintf("/api/v1/interactions/%d/attachments/%s", interactionID, ref)
}

// ParseAttachmentURL reverses AttachmentURL: a connector finds the file
// of an agent's message with it.
func ParseAttachmentURL(u string) (interactionID int64, ref string, ok bool) {
	rest, found := strings.CutPrefix(u, "/api/v1/interactions/")
	if !found {
		return 0, "", false
	}
	idText, ref, found := strings.Cut(rest, "/attachments/")
	id, err := strconv.ParseInt(idText, 10, 64)
	if !found || err != nil || ref == "" || strings.Contains(ref, "/") {
		return 0, "", false
	}
	return id, ref, true
}

// Remove deletes a stored file (a message that was not stored after all).
func (f *Files) Remove(interactionID int64, ref string) {
	if ref == "" || ref != filepath.Base(ref) || strings.HasPrefix(ref, ".") {
		return
	}
	_ = os.Remove(filepath.Join(f.dir, strconv.FormatInt(interactionID, 10), ref))
}

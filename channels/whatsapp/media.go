package whatsapp

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// MaxMediaBytes bounds one download: WhatsApp's largest media (documents)
// are 100 MB.
const MaxMediaBytes = 100 << 20

// maxMediaAttempts: a download still failing after this many tries stays
// failed (visible to the agent) instead of being retried forever.
const maxMediaAttempts = 8

// ErrChecksum: the downloaded bytes are not what the provider announced.
var ErrChecksum = errors.New("whatsapp: media checksum mismatch")

// fetchMedia downloads a message's media now: Meta's media id lives about
// 7 days and its URL about 5 minutes, so waiting loses it.
func (c *Connector) fetchMedia(ctx context.Context, a Account, m Message) (string, int64, error) {
	src := m.MediaID
	auth := func(r *http.Request) {}
	switch a.Provider {
	case ProviderMeta:
		auth = func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+a.AccessToken) }
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.APIBaseURL+"/"+url.PathEscape(m.MediaID), nil)
		if err != nil {
			return "", 0, err
		}
		auth(req)
		res, err := c.http.Do(req)
		if err != nil {
			return "", 0, err
		}
		var info struct {
			URL string `json:"url"`
		}
		err = json.NewDecoder(io.LimitReader(res.Body, 64<<10)).Decode(&info)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || err != nil || info.URL == "" {
			return "", 0, fmt.Errorf("media %s: the Graph API answered HTTP %d without a url", m.MediaID, res.StatusCode)
		}
		src = info.URL
	case ProviderTwilio:
		auth = func(r *http.Request) { r.SetBasicAuth(a.AccountSID, a.AuthToken) }
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return "", 0, err
	}
	auth(req)
	res, err := c.http.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return "", 0, fmt.Errorf("media download answered HTTP %d", res.StatusCode)
	}
	dir := filepath.Join(c.mediaDir, fmt.Sprint(a.ID))
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", 0, err
	}
	tmp, err := os.CreateTemp(dir, ".download-*")
	if err != nil {
		return "", 0, err
	}
	defer os.Remove(tmp.Name()) // no-op once renamed
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(res.Body, MaxMediaBytes+1))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", 0, err
	}
	if n > MaxMediaBytes {
		return "", 0, fmt.Errorf("media is larger than %d bytes", MaxMediaBytes)
	}
	sum := h.Sum(nil)
	if want := strings.TrimSpace(m.MediaSHA256); want != "" &&
		!strings.EqualFold(want, hex.EncodeToString(sum)) && want != base64.StdEncoding.EncodeToString(sum) {
		return "", 0, fmt.Errorf("%w: announced %s, got %s", ErrChecksum, want, hex.EncodeToString(sum))
	}
	final := filepath.Join(dir, fmt.Sprintf("%d-%s", m.ID, hex.EncodeToString(sum[:8])))
	if err := os.Rename(tmp.Name(), final); err != nil {
		return "", 0, err
	}
	return final, n, nil
}

// downloadMedia tries once and records the outcome on the message.
func (c *Connector) downloadMedia(ctx context.Context, a Account, m Message) error {
	if c.mediaDir == "" || m.MediaState == "" || m.MediaState == "stored" {
		return nil
	}
	path, size, err := c.fetchMedia(ctx, a, m)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		c.log.Warn("whatsapp: media download failed; will retry", "message", m.ID, "attempt", m.MediaAttempts+1, "err", err)
		_, dberr := c.store.db.ExecContext(ctx, `UPDATE whatsapp_messages SET media_state = 'failed', media_attempts = media_attempts + 1,
			media_error = ? WHERE id = ?`, truncate(err.Error(), 512), m.ID)
		return dberr
	}
	_, dberr := c.store.db.ExecContext(ctx, `UPDATE whatsapp_messages SET media_state = 'stored', media_path = ?, media_size = ?,
		media_attempts = media_attempts + 1, media_error = '' WHERE id = ?`, path, size, m.ID)
	return dberr
}

// retryMedia retries failed downloads (oldest first) that have attempts left.
func (c *Connector) retryMedia(ctx context.Context) error {
	if c.mediaDir == "" {
		return nil
	}
	var ms []Message
	if err := c.store.db.SelectContext(ctx, &ms, `SELECT `+messageColumns+` FROM whatsapp_messages
		WHERE media_state = 'failed' AND media_attempts < ? ORDER BY id LIMIT 20`, maxMediaAttempts); err != nil {
		return err
	}
	for _, m := range ms {
		a, err := c.store.Account(ctx, m.AccountID)
		if err != nil {
			return err
		}
		if err := c.downloadMedia(ctx, a, m); err != nil {
			return err
		}
	}
	return nil
}

// MediaFile is the stored file of a message's media, for serving it.
func (s *Store) MediaFile(ctx context.Context, messageID int64) (path, mime string, err error) {
	m, err := s.Message(ctx, messageID)
	if err != nil {
		return "", "", err
	}
	if m.MediaState != "stored" {
		return "", "", fmt.Errorf("whatsapp message %d media (%s): %w", messageID, m.MediaState, os.ErrNotExist)
	}
	return m.MediaPath, m.MediaMIME, nil
}

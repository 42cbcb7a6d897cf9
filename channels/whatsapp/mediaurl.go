package whatsapp

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Twilio sends media only by link (MediaUrl) and fetches it itself, so an
// agent's file is offered at a public URL that names the file and carries
// an expiry and an HMAC over both. The key is derived from the Twilio
// account's auth token — a secret only omniccd and Twilio hold, the same on
// every instance — so any instance can check a link another one made, and
// nothing is stored for it.

// DefaultMediaURLTTL is how long a signed media link works: long enough
// for Twilio to fetch it (at once, or when it retries), short enough that
// a leaked link soon stops working.
const DefaultMediaURLTTL = time.Hour

// ErrMediaURL is a media link that was tampered with, names another
// account's file, or has expired.
var ErrMediaURL = errors.New("whatsapp: the media link is invalid or has expired")

// ErrNoPublicURL: a Twilio file send needs the public base URL Twilio can
// reach.
var ErrNoPublicURL = errors.New("OMNICC_PUBLIC_URL is not set: Twilio fetches an agent's file (MediaUrl) from omniccd's public base URL; set it to the https URL Twilio reaches omniccd at")

// AgentFiles opens the files agents attach (*router.Files).
type AgentFiles interface {
	Open(interactionID int64, ref string) (*os.File, error)
}

// FileRef names an agent's stored file: the interaction and its reference.
type FileRef struct {
	InteractionID int64
	Ref           string
}

// mediaPath is the route the links point at, under /api/v1.
const mediaPath = "/api/v1/whatsapp-media/"

func mediaSignature(a Account, f FileRef, expires int64) string {
	k := hmac.New(sha256.New, []byte(a.AuthToken))
	k.Write([]byte("omnicc twilio media link v1"))
	m := hmac.New(sha256.New, k.Sum(nil))
	fmt.Fprintf(m, "%d\n%d\n%s\n%d", a.ID, f.InteractionID, f.Ref, expires)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// MediaURL is the signed, expiring public link of an agent's file for
// account a (a Twilio account) to fetch.
func (c *Connector) MediaURL(a Account, f FileRef) (string, error) {
	if c.publicURL == "" {
		return "", ErrNoPublicURL
	}
	if a.AuthToken == "" {
		return "", fmt.Errorf("whatsapp account %d has no auth_token to sign media links with", a.ID)
	}
	exp := c.clock.Now().Add(c.mediaTTL).Unix()
	return fmt.Sprintf("%s%s%d/%d/%s?expires=%d&sig=%s", c.publicURL, mediaPath, a.ID, f.InteractionID,
		url.PathEscape(f.Ref), exp, mediaSignature(a, f, exp)), nil
}

// OpenSignedMedia checks a link made by MediaURL (ErrMediaURL when it was
// altered or has expired) and opens its file with its MIME type.
func (c *Connector) OpenSignedMedia(ctx context.Context, accountID int64, f FileRef, expires, sig string) (*os.File, string, error) {
	exp, err := strconv.ParseInt(expires, 10, 64)
	if err != nil || sig == "" {
		return nil, "", ErrMediaURL
	}
	a, err := c.store.Account(ctx, accountID)
	if err != nil || a.Provider != ProviderTwilio || a.AuthToken == "" {
		// An unknown account is told like a bad signature: the link is
		// all a caller has, and it learns nothing from the answer.
		return nil, "", ErrMediaURL
	}
	if !hmac.Equal([]byte(sig), []byte(mediaSignature(a, f, exp))) {
		return nil, "", ErrMediaURL
	}
	if !c.clock.Now().Before(time.Unix(exp, 0)) {
		return nil, "", fmt.Errorf("%w (expired at %s)", ErrMediaURL, time.Unix(exp, 0).UTC().Format(time.RFC3339))
	}
	if c.files == nil {
		return nil, "", fmt.Errorf("whatsapp: agents' files are not wired (Options.Files): %w", os.ErrNotExist)
	}
	file, err := c.files.Open(f.InteractionID, f.Ref)
	if err != nil {
		return nil, "", err
	}
	mimeType, err := fileMIME(file, f.Ref)
	if err != nil {
		file.Close()
		return nil, "", err
	}
	return file, mimeType, nil
}

// fileMIME is the MIME type of an agent's file: by the extension of its
// name, or sniffed from its first bytes; the file is left at its start.
func fileMIME(f io.ReadSeeker, ref string) (string, error) {
	name := ref[strings.IndexByte(ref, '-')+1:]
	mimeType := mime.TypeByExtension(filepath.Ext(name))
	if mimeType == "" {
		head := make([]byte, 512)
		n, _ := io.ReadFull(f, head)
		mimeType = http.DetectContentType(head[:n])
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return "", err
		}
	}
	if i := strings.IndexByte(mimeType, ';'); i >= 0 {
		mimeType = mimeType[:i]
	}
	return mimeType, nil
}

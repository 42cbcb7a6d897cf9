package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// client talks to omniccd's REST API and /realtime over loopback HTTP.
type client struct {
	base  string // http://127.0.0.1:8080
	token string // admin bearer token
	http  *http.Client
}

func newClient(base string, conns int) *client {
	tr := &http.Transport{
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}
	return &client{base: base, http: &http.Client{Transport: tr, Timeout: 15 * time.Second}}
}

// apiError is a non-2xx answer.
type apiError struct {
	Status int
	Body   string
}

func (e *apiError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.Status, e.Body) }

// call sends a JSON request to /api/v1 and decodes a JSON answer into out.
func (c *client) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+"/api/v1"+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		if len(b) > 300 {
			b = b[:300]
		}
		return &apiError{Status: resp.StatusCode, Body: string(b)}
	}
	if out != nil && len(b) > 0 {
		return json.Unmarshal(b, out)
	}
	return nil
}

func (c *client) login(ctx context.Context, user, password string) error {
	var out struct {
		Token string `json:"token"`
	}
	if err := c.call(ctx, "POST", "/auth/login", map[string]string{"username": user, "password": password}, &out); err != nil {
		return fmt.Errorf("log in as %s: %w", user, err)
	}
	c.token = out.Token
	return nil
}

// ready reports whether GET /readyz answers 200.
func (c *client) ready(ctx context.Context) bool {
	req, err := http.NewRequestWithContext(ctx, "GET", c.base+"/readyz", nil)
	if err != nil {
		return false
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// realtime sends one res_config_curl lookup as Asterisk does: a POST of
// url-encoded pairs to /realtime/<family>/<verb>.
func (c *client) realtime(ctx context.Context, family, verb string, pairs [][2]string) error {
	req, err := http.NewRequestWithContext(ctx, "POST", c.base+"/realtime/"+family+"/"+verb,
		strings.NewReader(curlEncode(pairs)))
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "asterisk-libcurl-agent/1.0")
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "*/*")
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return &apiError{Status: resp.StatusCode, Body: string(b)}
	}
	if verb == "single" && len(b) == 0 {
		return fmt.Errorf("realtime %s/%s: no row", family, verb)
	}
	return nil
}

// curlEncode encodes pairs as res_config_curl does (ast_uri_encode with
// the HTTP spec): every byte but letters, digits and "-._~" as %XX, so a
// space is %20, never "+" (fixture: "id%20LIKE=agent200%3B%40%25").
func curlEncode(pairs [][2]string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	enc := func(s string) {
		for i := 0; i < len(s); i++ {
			ch := s[i]
			if 'a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z' || '0' <= ch && ch <= '9' ||
				ch == '-' || ch == '.' || ch == '_' || ch == '~' {
				b.WriteByte(ch)
				continue
			}
			b.WriteByte('%')
			b.WriteByte(hex[ch>>4])
			b.WriteByte(hex[ch&15])
		}
	}
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		enc(p[0])
		b.WriteByte('=')
		enc(p[1])
	}
	return b.String()
}

// metrics reads go_goroutines and any omnicc_* gauges worth printing from
// /metrics; ok is false when /metrics does not answer.
func (c *client) metrics(ctx context.Context) (m map[string]float64, ok bool) {
	req, err := http.NewRequestWithContext(ctx, "GET", c.base+"/metrics", nil)
	if err != nil {
		return nil, false
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, resp.Body)
		return nil, false
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, false
	}
	return parseMetrics(b), true
}

// callLogRow is the part of a GET /call-log item the soak checks.
type callLogRow struct {
	At       time.Time `json:"at"`
	Caller   string    `json:"caller"`
	DID      string    `json:"did"`
	UniqueID string    `json:"uniqueid"`
	DestType string    `json:"dest_type"`
	Error    string    `json:"error"`
}

// callLogPage reads one page of GET /call-log filtered by DID and [from, to).
func (c *client) callLogPage(ctx context.Context, did string, from, to time.Time, page, per int) ([]callLogRow, int, error) {
	q := url.Values{}
	q.Set("did", did)
	q.Set("direction", "inbound")
	q.Set("from", from.UTC().Format(time.RFC3339Nano))
	q.Set("to", to.UTC().Format(time.RFC3339Nano))
	q.Set("page", strconv.Itoa(page))
	q.Set("per_page", strconv.Itoa(per))
	var out struct {
		Items []callLogRow `json:"items"`
		Total int          `json:"total"`
	}
	err := c.call(ctx, "GET", "/call-log?"+q.Encode(), nil, &out)
	return out.Items, out.Total, err
}

// callLog reads every row for did in [from, to), one time window at a
// time so that no page is deep and rows still arriving cannot shift pages
// of a window already read.
func (c *client) callLog(ctx context.Context, did string, from, to time.Time, window time.Duration) ([]callLogRow, error) {
	const per = 500
	var rows []callLogRow
	for start := from; start.Before(to); start = start.Add(window) {
		end := start.Add(window)
		if end.After(to) {
			end = to
		}
		for page := 1; ; page++ {
			items, total, err := c.callLogPage(ctx, did, start, end, page, per)
			if err != nil {
				return rows, fmt.Errorf("GET /call-log %s..%s page %d: %w", start.Format(time.TimeOnly), end.Format(time.TimeOnly), page, err)
			}
			rows = append(rows, items...)
			if len(items) < per || page*per >= total {
				break
			}
		}
	}
	return rows, nil
}

// callLogTotal is how many rows did has since from.
func (c *client) callLogTotal(ctx context.Context, did string, from time.Time) (int, error) {
	_, total, err := c.callLogPage(ctx, did, from, time.Now().Add(time.Hour), 1, 1)
	return total, err
}

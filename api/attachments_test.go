package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"omnicc/router"
	"omnicc/store"
	"omnicc/storetest"
)

// multipartReply posts a file message: each file a part named "file".
func (e *routerEnv) multipartReply(path, token, body string, files map[string][]byte, out any) int {
	e.t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	if body != "" {
		_ = w.WriteField("body", body)
	}
	for name, data := range files {
		part, _ := w.CreateFormFile("file", name)
		_, _ = part.Write(data)
	}
	_ = w.Close()
	req, _ := http.NewRequestWithContext(e.t.Context(), "POST", e.srv.URL+path, &buf)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", w.FormDataContentType())
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if out != nil {
		_ = json.Unmarshal(raw, out)
	}
	return res.StatusCode
}

// An agent sends one file (up to 15 MB) with a caption as a multipart
// message; it is stored with the message as an attachment link that only
// those who may see the interaction can fetch.
func TestReplyWithAFile(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newRouterEnv(t, db)
		it, _, _, err := e.rt.Receive(t.Context(), router.Inbound{Channel: "chat", Account: "site", Customer: "visitor", QueueID: e.queue, Body: "hello"})
		if err != nil {
			t.Fatal(err)
		}
		path := fmt.Sprintf("/api/v1/interactions/%d", it.ID)
		owner := e.tokens[0]
		e.must(e.call("POST", path+"/accept", owner, nil, nil), 200)
		png := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{7}, 4096)...)
		var m router.Message
		e.must(e.multipartReply(path+"/messages", owner, "the invoice", map[string][]byte{"../invoice 1.png": png}, &m), 201)
		if m.Body != "the invoice" || len(m.Attachments) != 1 || !strings.HasPrefix(m.Attachments[0], path+"/attachments/") {
			t.Fatalf("file message %+v", m)
		}
		req, _ := http.NewRequestWithContext(t.Context(), "GET", e.srv.URL+m.Attachments[0], nil)
		req.Header.Set("Authorization", "Bearer "+owner)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !bytes.Equal(got, png) || res.Header.Get("Content-Type") != "image/png" ||
			!strings.HasPrefix(res.Header.Get("Content-Disposition"), "attachment") {
			t.Fatalf("GET attachment: %d %s %q", res.StatusCode, res.Header.Get("Content-Type"), res.Header.Get("Content-Disposition"))
		}
		e.must(e.call("GET", m.Attachments[0], e.tokens[1], nil, nil), 403)
		e.must(e.call("GET", path+"/attachments/nothing-here.png", owner, nil, nil), 404)

		var fail apiErr
		e.must(e.multipartReply(path+"/messages", owner, "", map[string][]byte{"a.txt": []byte("a"), "b.txt": []byte("b")}, &fail), 400)
		if fail.Error.Field != "file" {
			t.Fatalf("two files: %+v", fail)
		}
		// A file larger than the server's JSON body limit (64 KiB here) goes.
		var doc router.Message
		e.must(e.multipartReply(path+"/messages", owner, "", map[string][]byte{"report.pdf": bytes.Repeat([]byte{3}, 2<<20)}, &doc), 201)
		big := bytes.Repeat([]byte{1}, router.MaxAttachment+1)
		e.must(e.multipartReply(path+"/messages", owner, "", map[string][]byte{"big.bin": big}, &fail), 413)
		e.must(e.multipartReply(path+"/messages", e.tokens[1], "", map[string][]byte{"x.txt": []byte("x")}, &fail), 403)
		// JSON replies keep the server's body limit.
		e.must(e.call("POST", path+"/messages", owner, map[string]any{"body": strings.Repeat("x", 70<<10)}, &fail), 413)
		msgs := []router.Message{}
		e.must(e.call("GET", path+"/messages", owner, nil, &msgs), 200)
		if len(msgs) != 3 {
			t.Fatalf("%d messages stored, want the customer's and the two file messages", len(msgs))
		}
	})
}

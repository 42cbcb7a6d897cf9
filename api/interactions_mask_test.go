package api_test

import (
	"fmt"
	"testing"

	"omnicc/router"
	"omnicc/store"
	"omnicc/storetest"
)

// An agent with mask_sensitive_data reads interactions with the customer's
// identity and name masked, in lists and single answers; the others read
// them in clear.
func TestInteractionsMaskedForMaskingAgents(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newRouterEnv(t, db)
		ctx := t.Context()
		masked := e.agents[1]
		if _, err := db.ExecContext(ctx, `UPDATE users SET mask_sensitive_data = ? WHERE id = ?`, true, masked); err != nil {
			t.Fatal(err)
		}
		it, _, _, err := e.rt.Receive(ctx, router.Inbound{Channel: "chat", Account: "site", Customer: "447700900123",
			CustomerName: "Jane Doe", QueueID: e.queue, Body: "hello"})
		if err != nil {
			t.Fatal(err)
		}
		var one map[string]any
		e.must(e.call("POST", fmt.Sprintf("/api/v1/interactions/%d/accept", it.ID), e.tokens[1], nil, &one), 200)
		if one["customer"] != "••• ••• 0123" || one["customer_name"] != "J••• D•••" {
			t.Errorf("accept answered to a masking agent: customer %v, name %v", one["customer"], one["customer_name"])
		}
		e.must(e.call("GET", fmt.Sprintf("/api/v1/interactions/%d", it.ID), e.tokens[1], nil, &one), 200)
		if one["customer"] != "••• ••• 0123" {
			t.Errorf("GET for a masking agent: %v", one["customer"])
		}
		var page struct {
			Items []map[string]any
		}
		e.must(e.call("GET", "/api/v1/interactions", e.tokens[1], nil, &page), 200)
		if len(page.Items) != 1 || page.Items[0]["customer_name"] != "J••• D•••" {
			t.Errorf("list for a masking agent: %v", page.Items)
		}
		e.must(e.call("GET", fmt.Sprintf("/api/v1/interactions/%d", it.ID), e.admin, nil, &one), 200)
		if one["customer"] != "447700900123" || one["customer_name"] != "Jane Doe" {
			t.Errorf("admin reads %v / %v, want them in clear", one["customer"], one["customer_name"])
		}
	})
}

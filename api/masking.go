package api

import (
	"encoding/json"

	"omnicc/contacts"
)

// Masking on the agent's live view: a user with mask_sensitive_data gets
// the customer's identity and name masked in every websocket event (an
// offer, an interaction, the caller of a call in agent_state), as the REST
// answers do. The events are masked as JSON, by type, so that an event
// that crossed from another instance (raw JSON) is masked the same way.

// maskEventJSON returns the masked encoding of a websocket event, or nil
// when it cannot be read (the event is then not sent to masked users: a
// leak is worse than a gap they can fill over REST).
func maskEventJSON(data []byte) []byte {
	var ev map[string]any
	if err := json.Unmarshal(data, &ev); err != nil {
		return nil
	}
	switch ev["type"] {
	case "offer", "interaction":
		maskInteractionMap(ev["interaction"])
	case "agent_state":
		maskCallMap(ev["call"])
		if calls, ok := ev["calls"].([]any); ok {
			for _, c := range calls {
				maskCallMap(c)
			}
		}
	default:
		return data
	}
	out, err := json.Marshal(ev)
	if err != nil {
		return nil
	}
	return out
}

func maskInteractionMap(v any) {
	it, ok := v.(map[string]any)
	if !ok {
		return
	}
	if s, ok := it["customer"].(string); ok {
		it["customer"] = contacts.MaskIdentity(s)
	}
	if s, ok := it["customer_name"].(string); ok {
		it["customer_name"] = contacts.MaskName(s)
	}
}

func maskCallMap(v any) {
	c, ok := v.(map[string]any)
	if !ok {
		return
	}
	for _, k := range []string{"caller", "peer"} {
		// An extension (six digits at most) is a colleague, not personal
		// data.
		if s, ok := c[k].(string); ok && !isExtension(s) {
			c[k] = contacts.MaskIdentity(s)
		}
	}
	if s, ok := c["caller_name"].(string); ok {
		c["caller_name"] = contacts.MaskName(s)
	}
}

func isExtension(s string) bool {
	if s == "" || len(s) > 6 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

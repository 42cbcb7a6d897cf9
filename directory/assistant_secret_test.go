package directory_test

import (
	"encoding/json"
	"strings"
	"testing"

	"omnicc/directory"
)

// Agents read the AI assistants: the webhook secret is never shown in full.
func TestAssistantSecretIsNeverShownInFull(t *testing.T) {
	a := directory.AIAssistant{Base: directory.Base{Name: "helper"}, WebhookURL: "https://bot.example.com", WebhookSecret: "abcdefghijkl"}
	raw, err := json.Marshal(&a)
	if err != nil || strings.Contains(string(raw), "abcdefgh") || !strings.Contains(string(raw), `"webhook_secret":"****ijkl"`) {
		t.Fatalf("%s, %v", raw, err)
	}
}

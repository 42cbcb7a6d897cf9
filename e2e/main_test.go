package e2e

import (
	"os"
	"path/filepath"
	"testing"
)

// TestMain removes the omniccd binary the tests built (once per run).
func TestMain(m *testing.M) {
	code := m.Run()
	if buildOnce.bin != "" {
		_ = os.RemoveAll(filepath.Dir(buildOnce.bin))
	}
	os.Exit(code)
}

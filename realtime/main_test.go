package realtime

import (
	"fmt"
	"net/http"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves a goroutine behind (a server,
// a proxy, a singleflight call or a database pool not shut down).
func TestMain(m *testing.M) {
	code := m.Run()
	// The test client's idle keep-alive connections are not ours to leak.
	http.DefaultClient.CloseIdleConnections()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

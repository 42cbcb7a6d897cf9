package realtime

import (
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// testOptions are Options with a database timeout fit for a shared,
// loaded test machine: the 1 s default is for production, where omniccd
// must answer before res_curl gives up; here a slow CI box must not turn a
// lookup into a failure no test is about.
type testOptions Options

func (o testOptions) opts() Options {
	if o.QueryTimeout == 0 {
		o.QueryTimeout = 30 * time.Second
	}
	return Options(o)
}

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

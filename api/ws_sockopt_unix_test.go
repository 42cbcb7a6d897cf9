//go:build unix

package api_test

import "syscall"

// smallReceiveBuffer sets SO_RCVBUF before connect (afterwards it would
// shrink an already advertised window and stall the stream), so a test
// client that stops reading makes the server's writes block soon.
func smallReceiveBuffer(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
	})
	if err != nil {
		return err
	}
	return serr
}

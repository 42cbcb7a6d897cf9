// Package e2e is the end-to-end suite that runs omniccd beside a real
// Asterisk: it builds omniccd, renders its sample Asterisk configuration into
// a temporary directory (only ports and directories changed), boots the
// Asterisk binary named by OMNICC_TEST_ASTERISK from it, registers SIP phones
// written in Go that answer calls and send RTP, and drives every voice
// control over REST, checking the result in Asterisk itself (its CLI) and in
// the phones. Without OMNICC_TEST_ASTERISK every test skips, saying so.
//
//	OMNICC_TEST_ASTERISK=/usr/sbin/asterisk make test-asterisk
//
// The package has test files only; this file gives it a name and a home for
// the documentation.
package e2e

// Package agi is the FastAGI listener: Asterisk's dialplan asks it where a
// call goes (/inbound, /outbound, /agent-login) and it answers with channel
// variables.
//
// The wire layer is our own rather than github.com/zaf/agi, which the design
// card named. zaf/agi v1.3.0 cannot be fetched here (the module proxy answers
// 403), and even where it can it is unfit for a routing server on the path of
// every call:
//
//   - it has no FastAGI listener: no session cap, idle deadline, drain or
//     panic recovery, which is most of what keeps a daemon up against a
//     hostile peer;
//   - it converts GET DATA results with Atoi, so `200 result= (timeout)`
//     fails and digits such as "0042", "*1" or "12#" are lost or mangled;
//   - it reads only one extra line of a multi-line `520-` usage block, so the
//     rest of the block is taken as the replies to the next commands;
//   - it reads an unsolicited `HANGUP` line as the reply to the command in
//     flight, leaving the real reply queued: every later reply is paired with
//     the wrong command.
//
// Each of these cases has a test in this package (see defects_test.go).
// The protocol surface a routing server needs is small (a header block, one
// command line, one reply line or block), so owning it costs less than
// wrapping a library whose core reads would all have to be replaced.
package agi

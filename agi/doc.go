// Package agi is the FastAGI listener: Asterisk's dialplan asks it where a
// call goes (/inbound, /outbound, /agent-login) and it answers with channel
// variables.
package agi

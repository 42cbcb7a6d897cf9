// Package ami is omniccd's Asterisk Manager Interface client: it keeps one
// connection per Asterisk box, turns manager events into presence changes and
// presence intents into manager actions.
package ami

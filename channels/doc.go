// Package channels holds one sub-package per digital connector (web chat,
// WhatsApp); each turns its provider's traffic into router interactions.
package channels

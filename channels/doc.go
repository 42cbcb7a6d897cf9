// Package channels is what the digital connectors (its sub-packages, one
// per connector) share with the HTTP layer: the types and errors api needs
// to serve a connector without importing it. It imports only the core.
package channels

// Package router is the omnichannel router: digital interactions are queued,
// offered to eligible agents within their per-channel capacity, accepted,
// transferred and closed. It knows nothing of WhatsApp or HTTP.
package router

// Package realtime keeps Asterisk's realtime tables (ps_endpoints, queues,
// queue_members, ...) derived from the directory and serves them over HTTP in
// the res_config_curl protocol.
package realtime

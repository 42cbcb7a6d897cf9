//go:build tools

// Package omnicc pins modules that packages still being written will import,
// so that `go mod tidy` run by one of us does not drop them for the others.
package omnicc

import (
	_ "github.com/gorilla/websocket"
	_ "github.com/robfig/cron/v3"
	_ "go.uber.org/goleak"
	_ "golang.org/x/sync/errgroup"
)

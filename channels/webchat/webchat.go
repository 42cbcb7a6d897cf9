// Package webchat is the web chat channel: the websites that embed the
// widget, their visitors' signed sessions, the visitor websocket and HTTP
// calls, and the sender that brings agents' replies to the visitor.
package webchat

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"omnicc/clock"
	"omnicc/contacts"
	"omnicc/directory"
	"omnicc/router"
	"omnicc/store"
)

// Channel is the router channel (and queue channel) of web chat.
const Channel = "chat"

// Errors the HTTP side maps to statuses.
var (
	// ErrNotFound is an unknown or disabled website token, an unknown
	// website id or file: the answer never says which.
	ErrNotFound = errors.New("not found")
	// ErrOrigin is a visitor call from a page whose origin the website
	// does not allow.
	ErrOrigin = errors.New("origin not allowed")
	// ErrSession is a missing, forged or foreign visitor session token.
	ErrSession  = errors.New("invalid visitor session")
	ErrConflict = errors.New("conflict")
	// ErrRate is a visitor sending faster than MessagesPerSecond.
	ErrRate = errors.New("too many messages")
)

// FieldError is bad input, naming the field.
type FieldError struct{ Field, Message string }

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

func fieldErr(field, format string, a ...any) error {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, a...)}
}

// FileError is an upload refused for its size (413) or type (415); the
// message names the limit.
type FileError struct {
	TooLarge bool
	Message  string
}

func (e *FileError) Error() string { return e.Message }

// Router is what the connector needs of the router.
type Router interface {
	Receive(ctx context.Context, in router.Inbound) (*router.Interaction, *router.Message, bool, error)
	Messages(ctx context.Context, who router.Actor, id, afterSeq int64) ([]*router.Message, error)
	SetMessageStatus(ctx context.Context, messageID int64, status, errText string) error
	FindByCustomer(ctx context.Context, channel, account, customer string) (*router.Interaction, error)
	AddSystemMessage(ctx context.Context, interactionID int64, body, clientID string) (*router.Message, bool, error)
	QueuePosition(interactionID int64) (int, bool)
	LinkContact(ctx context.Context, interactionID, contactID int64) (*router.Interaction, error)
	Publish(typ string, it *router.Interaction, payload any)
}

// Directory is the configuration the connector reads: *directory.Directory.
type Directory interface {
	Queue(ctx context.Context, id int64) (*directory.Queue, error)
	QueueLinks(ctx context.Context) ([]directory.QueueLink, error)
	Agent(ctx context.Context, id int64) (*directory.Agent, error)
	Calendar(ctx context.Context, id int64) (*directory.Calendar, error)
}

// Presence says whether an agent is logged in and not paused on a
// channel: *presence.Service.
type Presence interface {
	Available(agentID int64, channel string) bool
}

// Contacts finds or creates the contact an identified visitor is:
// *contacts.Manager.
type Contacts interface {
	FindOrCreate(ctx context.Context, listID int64, who contacts.Identity) (*contacts.Contact, bool, error)
}

// Clock is the connector's time source.
type Clock interface{ Now() time.Time }

// Limits bound what one visitor may do.
type Limits struct {
	// FrameBytes is the largest websocket frame a visitor may send.
	FrameBytes int64
	// MessagesPerSecond and Burst bound a visitor's messages (a token
	// bucket per socket and per HTTP session).
	MessagesPerSecond float64
	Burst             int
	// NewVisitorsPerSecond and NewVisitorsBurst bound the visitors one
	// address may create (a script cannot fill the visitors table).
	// Defaults 2 and 60. Behind a reverse proxy, set OMNICC's trusted
	// proxies, or every visitor shares the proxy's address.
	NewVisitorsPerSecond float64
	NewVisitorsBurst     int
	// SendBuffer is how many frames wait for a slow visitor socket before
	// it is dropped (the visitor reconnects and replays from the database).
	SendBuffer int
	// PingEvery and PongWait keep a socket alive and notice a dead one.
	PingEvery, PongWait time.Duration
}

func (l Limits) withDefaults() Limits {
	if l.FrameBytes <= 0 {
		l.FrameBytes = 64 << 10
	}
	if l.MessagesPerSecond <= 0 {
		l.MessagesPerSecond = 5
	}
	if l.Burst <= 0 {
		l.Burst = 20
	}
	if l.NewVisitorsPerSecond <= 0 {
		l.NewVisitorsPerSecond = 2
	}
	if l.NewVisitorsBurst <= 0 {
		l.NewVisitorsBurst = 60
	}
	if l.SendBuffer <= 0 {
		l.SendBuffer = 64
	}
	if l.PingEvery <= 0 {
		l.PingEvery = 25 * time.Second
	}
	if l.PongWait <= 0 {
		l.PongWait = 60 * time.Second
	}
	return l
}

// Options builds a Connector.
type Options struct {
	DB        *store.DB
	Router    Router
	Directory Directory
	Presence  Presence
	// Contacts, when set, links identified visitors to contacts in the
	// website's contact list.
	Contacts Contacts
	// FilesDir holds the visitors' uploads.
	FilesDir string
	// PublicURL is where browsers reach omniccd; snippets start with it.
	PublicURL string
	Clock     Clock
	Logger    *slog.Logger
	Limits    Limits
}

// Connector serves chat websites and their visitors.
type Connector struct {
	o   Options
	lim Limits

	mu      sync.Mutex
	byKey   map[string]map[*visitorConn]bool // website id + visitor → sockets
	byInter map[int64]string                 // interaction → its visitor's key
	names   map[int64]agentName
	// announced remembers the notices stored already, so the events
	// that follow (a read, a tag) do not try again.
	announced map[string]bool
	buckets   map[string]*bucket // per visitor: every send counts
	newcomers map[string]*bucket // per address: new visitors
	closing   bool
	conns     sync.WaitGroup
	stop      chan struct{}
	stopped   sync.Once
}

type agentName struct {
	name string
	at   time.Time
}

// New builds a Connector; register it as the router's sender for Channel,
// and run Run and Follow.
func New(o Options) (*Connector, error) {
	if o.DB == nil || o.Router == nil || o.Directory == nil {
		return nil, errors.New("webchat: DB, Router and Directory are required")
	}
	if o.Clock == nil {
		o.Clock = clock.Wall
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.FilesDir == "" {
		o.FilesDir = filepath.Join(os.TempDir(), "omnicc-webchat-files")
	}
	return &Connector{o: o, lim: o.Limits.withDefaults(), byKey: map[string]map[*visitorConn]bool{},
		byInter: map[int64]string{}, names: map[int64]agentName{}, buckets: map[string]*bucket{}, newcomers: map[string]*bucket{}, stop: make(chan struct{})}, nil
}

func (c *Connector) now() time.Time { return c.o.Clock.Now().UTC().Truncate(time.Microsecond) }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Run waits for ctx to end, then closes every visitor socket and waits for
// their goroutines: the HTTP server's shutdown does not wait for hijacked
// connections.
func (c *Connector) Run(ctx context.Context) error {
	<-ctx.Done()
	c.Shutdown()
	return nil
}

// Shutdown closes every visitor socket and waits for them.
func (c *Connector) Shutdown() {
	c.stopped.Do(func() {
		c.mu.Lock()
		c.closing = true
		c.mu.Unlock()
		close(c.stop)
	})
	c.conns.Wait()
}

// SetPublicURL changes where snippets and file URLs point (tests that put
// a proxy in front of the server).
func (c *Connector) SetPublicURL(u string) {
	c.mu.Lock()
	c.o.PublicURL = u
	c.mu.Unlock()
}

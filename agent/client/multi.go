package client

import (
	"context"

	"github.com/plgstack/plg/agent/entry"
)

// Multi spreads streams over several clients: a stream (label set) always
// goes to the same client, chosen by the hash of its labels.
type Multi struct {
	clients []*Client
}

// NewMulti returns a Multi over clients (at least one).
func NewMulti(clients ...*Client) *Multi { return &Multi{clients: clients} }

// Clients returns the clients, in order.
func (m *Multi) Clients() []*Client { return m.clients }

// Pick returns the index of the client that owns e's stream.
func (m *Multi) Pick(e *entry.Entry) int {
	if len(m.clients) == 1 {
		return 0
	}
	return int(e.Labels.Hash() % uint64(len(m.clients)))
}

// Handle queues e on the client that owns its stream.
func (m *Multi) Handle(ctx context.Context, e entry.Entry) bool {
	return m.clients[m.Pick(&e)].Handle(ctx, e)
}

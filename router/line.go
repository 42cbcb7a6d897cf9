package router

import (
	"container/heap"
	"time"
)

// waitItem is one interaction waiting in a queue's line.
type waitItem struct {
	id       int64
	priority int
	queuedAt time.Time
	index    int
}

// waitLine is a queue's waiting interactions: highest priority first, then
// the oldest, then the lowest id so that ties are stable. A heap keeps the
// head O(1) and arrivals O(log n) with 50,000 waiting; the index lets an
// interaction leave from the middle (closed, or offered elsewhere).
type waitLine struct {
	items []*waitItem
	byID  map[int64]*waitItem
}

func newWaitLine() *waitLine { return &waitLine{byID: make(map[int64]*waitItem)} }

func (l *waitLine) Len() int { return len(l.items) }
func (l *waitLine) Less(i, j int) bool {
	a, b := l.items[i], l.items[j]
	if a.priority != b.priority {
		return a.priority > b.priority
	}
	if !a.queuedAt.Equal(b.queuedAt) {
		return a.queuedAt.Before(b.queuedAt)
	}
	return a.id < b.id
}
func (l *waitLine) Swap(i, j int) {
	l.items[i], l.items[j] = l.items[j], l.items[i]
	l.items[i].index = i
	l.items[j].index = j
}
func (l *waitLine) Push(x any) {
	it := x.(*waitItem)
	it.index = len(l.items)
	l.items = append(l.items, it)
}
func (l *waitLine) Pop() any {
	n := len(l.items)
	it := l.items[n-1]
	l.items[n-1] = nil
	l.items = l.items[:n-1]
	it.index = -1
	return it
}

// add puts an interaction in line; one already there is left where it is.
func (l *waitLine) add(id int64, priority int, queuedAt time.Time) {
	if _, ok := l.byID[id]; ok {
		return
	}
	it := &waitItem{id: id, priority: priority, queuedAt: queuedAt}
	l.byID[id] = it
	heap.Push(l, it)
}

// remove takes an interaction out of line wherever it is.
func (l *waitLine) remove(id int64) bool {
	it, ok := l.byID[id]
	if !ok {
		return false
	}
	delete(l.byID, id)
	heap.Remove(l, it.index)
	return true
}

func (l *waitLine) head() *waitItem {
	if len(l.items) == 0 {
		return nil
	}
	return l.items[0]
}

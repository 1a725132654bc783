package outbox

import "sync"

// signal wakes every goroutine waiting on it at once: waiters take the
// current channel, broadcast closes it. Outbox.Wake broadcasts it to the
// waiting mailbox polls as it notifies the dispatcher.
type signal struct {
	mu sync.Mutex
	ch chan struct{}
}

// wait returns a channel closed by the next broadcast. A waiter takes it
// before it looks for news, so that news written after the look still
// wakes it.
func (s *signal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

// broadcast wakes every current waiter; it never blocks.
func (s *signal) broadcast() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
}

package devrig

import (
	"strings"
	"testing"
)

func TestBenchLoopbackOnly(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:8080": true, "[::1]:8080": true, "127.9.9.9:1": true,
		"10.0.0.1:8080": false, "192.168.1.2:80": false, "example.org:80": false, "localhost:80": false, "nonsense": false,
	} {
		if err := LoopbackOnly(addr); (err == nil) != ok {
			t.Errorf("LoopbackOnly(%q): got %v, want allowed=%v", addr, err, ok)
		}
	}
	// The client refuses to dial anything else.
	_, err := LoopbackClient(1).Get("http://10.255.255.1:9/")
	if err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("client to 10.255.255.1: got %v, want a loopback refusal", err)
	}
}

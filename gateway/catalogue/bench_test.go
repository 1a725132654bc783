package catalogue

import "testing"

// BenchmarkRoute is the catalogue check every submission makes.
//
//	go test -run '^$' -bench Route ./gateway/catalogue
func BenchmarkRoute(b *testing.B) {
	c := example(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Route("113307020025937411400015501400001", "320404", ""); err != nil {
			b.Fatal(err)
		}
	}
}

package gateway_test

import (
	"errors"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/node"
)

// TestMaterialURLPolicy: a submission whose material is fetched over http
// is refused by a core left at its default and accepted by one whose
// deployment allows http (limits.allow_http_material_urls, passed as
// node.Options.AllowHTTPMaterialURLs); a file: URL is refused by both.
func TestMaterialURLPolicy(t *testing.T) {
	e := newEnv(t, gateway.RetryPolicy{MaxAttempts: 1, BaseDelay: time.Second})
	allowing := e.withCore(t, node.Options{AllowHTTPMaterialURLs: true})
	for _, tt := range []struct {
		name, url  string
		core       *node.Core
		wantRefuse bool
	}{
		{"http by default", "http://zwfw.example.gov.cn/M02.jpg", e.core, true},
		{"http where allowed", "http://zwfw.example.gov.cn/M02.jpg", allowing, false},
		{"file by default", "file:///etc/passwd", e.core, true},
		{"file where http is allowed", "file:///etc/passwd", allowing, true},
		{"https by default", "https://zwfw.example.gov.cn/M02.jpg", e.core, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sub := e.submission()
			sub.Materials = append(sub.Materials, contracts.Material{
				MaterialID: "M09", Name: "照片", MediaType: "image/jpeg", Size: 10, SM3: sm3Hex([]byte("x")), URL: tt.url,
			})
			_, err := tt.core.Cases.SubmitCase(e.ctx, e.signed(zhonglou, mustJSON(t, sub)))
			var ge *gateway.Error
			switch {
			case tt.wantRefuse && (!errors.As(err, &ge) || ge.Code != contracts.CodeValidationFailed):
				t.Fatalf("got %v, want validation_failed", err)
			case tt.wantRefuse && ge.Message == "":
				t.Fatalf("empty message")
			case !tt.wantRefuse && err != nil:
				t.Fatalf("got %v, want accepted", err)
			}
		})
	}
}

package devrig

import (
	"net"
	"net/http"
	"time"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/adapters/partnersim"
	"github.com/tongban/tongban/adapters/standard"
	"github.com/tongban/tongban/gateway/config"
	"github.com/tongban/tongban/gateway/keyring"
	"github.com/tongban/tongban/signing"
)

// SimCrypto returns the keyring of district code's simulated system: its
// own key (key id code, engine nil for the default), and the gateway's
// public key under partnersim.GatewayCaller with the gateway's key id.
func SimCrypto(code string, key *signing.PrivateKey, gateway *signing.PublicKey, engine *signing.Engine) (*keyring.Keyring, error) {
	kr, err := keyring.New(keyring.Options{GatewayID: code, Signer: signing.NewSigner(key, engine), SignerKeyID: code, Engine: engine})
	if err != nil {
		return nil, err
	}
	if err := kr.AddKey(partnersim.GatewayCaller, config.DefaultKeyID, gateway); err != nil {
		return nil, err
	}
	return kr, nil
}

// NationalSimConfig returns the configuration of the national library's
// simulator (see NationalID), signing with crypto: style standard, its
// library the demo licenses of partnersim.NationalRegions, no status
// reports (it owns no cases). Callers add the clock, the log and the rest.
func NationalSimConfig(crypto adapters.Crypto) partnersim.Config {
	return partnersim.Config{
		PartnerID: NationalID, Style: standard.Name, Crypto: crypto,
		LicenseRegions: partnersim.NationalRegions, NoReports: true,
	}
}

// Sims serves simulated districts on one loopback listener, district
// CODE's system under /p/CODE (Endpoint).
type Sims struct {
	mux  *http.ServeMux
	srv  *http.Server
	base string
}

// ListenSims opens the simulators' listener on a free loopback port and
// serves it; Close stops it.
func ListenSims() (*Sims, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Sims{mux: http.NewServeMux(), base: "http://" + ln.Addr().String()}
	s.srv = &http.Server{Handler: s.mux, ReadHeaderTimeout: 5 * time.Second}
	go s.srv.Serve(ln)
	return s, nil
}

// Base returns the simulators' base URL, http://127.0.0.1:PORT.
func (s *Sims) Base() string { return s.base }

// Endpoint returns the URL of district code's system.
func (s *Sims) Endpoint(code string) string { return s.base + "/p/" + code }

// Handle serves sim as district code's system.
func (s *Sims) Handle(code string, sim *partnersim.Sim) {
	// A SOAP service is one endpoint: /p/CODE itself, not only below it.
	s.mux.Handle("/p/"+code+"/", http.StripPrefix("/p/"+code, sim.Handler()))
	s.mux.Handle("/p/"+code, http.StripPrefix("/p/"+code, sim.Handler()))
}

// Close stops serving the simulators.
func (s *Sims) Close() error { return s.srv.Close() }

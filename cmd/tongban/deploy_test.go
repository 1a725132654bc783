package main

// Static checks of deploy/: no Docker engine or cluster runs where the
// tests run, so the Dockerfile, the compose file and the Kubernetes
// manifests are read as files and checked against each other, against the
// Makefile and against the real configuration loader.

import (
	"bufio"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/cmd/tongban/internal/devrig"
	"github.com/tongban/tongban/gateway/config"
)

// The container layout every deployment shares: deploy/Dockerfile's CMD,
// the compose file's and the Deployment's mounts, the systemd unit's paths.
const (
	containerConfig  = "/etc/tongban/config.yaml"
	containerKeysDir = "/etc/tongban/keys"
)

// testDSN stands for TONGBAN_STORE_DSN where a deployment sets it.
const testDSN = "postgres://tongban@db.test:5432/tongban?sslmode=disable"

func deployPath(t *testing.T, elem ...string) string {
	t.Helper()
	return filepath.Join(append([]string{moduleRoot(t), "deploy"}, elem...)...)
}

func readDeploy(t *testing.T, elem ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(deployPath(t, elem...))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// envMap is a hermetic environment for config.Parse: only what the test
// names, never the developer's TONGBAN_* variables.
func envMap(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// ---------------------------------------------------------------------------
// Configuration files

// deployConfig is one gateway configuration shipped in deploy/.
type deployConfig struct {
	name string
	data func(t *testing.T) []byte
	dir  string            // where relative paths resolve in the repository
	env  map[string]string // what its deployment sets (nil: nothing needed)
	// mounted: the configuration is read in a container (or by the systemd
	// unit) at containerConfig, its keys under containerKeysDir.
	mounted bool
}

func fileConfig(elem ...string) func(*testing.T) []byte {
	return func(t *testing.T) []byte { return readDeploy(t, elem...) }
}

func deployConfigs(t *testing.T) []deployConfig {
	return []deployConfig{
		{name: "config.example.yaml", data: fileConfig("config.example.yaml"), dir: deployPath(t), mounted: true},
		{name: "config.embedded.yaml", data: fileConfig("config.embedded.yaml"), dir: deployPath(t), mounted: true},
		{name: "config.postgres.yaml", data: fileConfig("config.postgres.yaml"), dir: deployPath(t), mounted: true,
			env: map[string]string{"TONGBAN_STORE_DSN": testDSN}},
		{name: "compose/gateway.yaml", data: fileConfig("compose", "gateway.yaml"), dir: deployPath(t, "compose"), mounted: true,
			env: map[string]string{"TONGBAN_STORE_DSN": composeGatewayEnv(t)["TONGBAN_STORE_DSN"]}},
		{name: "k8s/configmap.yaml config.yaml", data: configMapConfig, dir: deployPath(t, "k8s"), mounted: true,
			env: map[string]string{"TONGBAN_STORE_DSN": k8sSecretValue(t, "tongban-store", "dsn")}},
	}
}

// parse loads c as serve would, relative paths against dir, with its deployment's environment.
func (c deployConfig) parse(t *testing.T, dir string) *config.Config {
	t.Helper()
	cfg, err := config.Parse(c.data(t), dir, envMap(c.env))
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	return cfg
}

func loadDeployConfig(t *testing.T, name string) *config.Config {
	t.Helper()
	for _, c := range deployConfigs(t) {
		if c.name == name {
			return c.parse(t, c.dir)
		}
	}
	t.Fatalf("no deploy config %s", name)
	return nil
}

// configKeyPaths lists every key file c names, resolved.
func configKeyPaths(c *config.Config) []string {
	ps := []string{c.Resolve(c.SigningKey.Path)}
	for _, p := range c.SigningKey.Previous {
		ps = append(ps, c.Resolve(p))
	}
	for _, p := range c.Partners {
		for _, k := range p.Keys {
			ps = append(ps, c.Resolve(k))
		}
	}
	sort.Strings(ps)
	return ps
}

// TestDeployConfigsLoad loads every gateway configuration in deploy/ (the
// examples, the compose gateways', the one inside the Kubernetes
// ConfigMap) through the real loader and builds every partner's adapter
// through the registry, as serve does at start. A configuration whose
// deployment supplies TONGBAN_STORE_DSN must need it. Where the file is
// mounted at /etc/tongban/config.yaml, every key it names lies in
// /etc/tongban/keys.
func TestDeployConfigsLoad(t *testing.T) {
	for _, dc := range deployConfigs(t) {
		t.Run(dc.name, func(t *testing.T) {
			cfg := dc.parse(t, dc.dir)
			if dc.env["TONGBAN_STORE_DSN"] != "" {
				_, err := config.Parse(dc.data(t), dc.dir, envMap(nil))
				if err == nil || !strings.Contains(err.Error(), "store.dsn") {
					t.Errorf("without TONGBAN_STORE_DSN: %v; want store.dsn required (the DSN belongs in the environment)", err)
				}
				if cfg.Store.Driver != config.DriverPostgres || cfg.Store.DSN != dc.env["TONGBAN_STORE_DSN"] {
					t.Errorf("store: %+v; want driver postgres with the DSN from TONGBAN_STORE_DSN", cfg.Store)
				}
			}
			for _, pc := range cfg.Partners {
				if pc.Adapter == "" {
					continue
				}
				raw, err := pc.AdapterConfig()
				if err != nil {
					t.Fatal(err)
				}
				if _, err := adapters.New(pc.Adapter, adapters.Params{PartnerID: pc.ID, Config: raw, Crypto: nopCrypto{}}); err != nil {
					t.Errorf("partner %s (%s): %v", pc.ID, pc.Adapter, err)
				}
			}
			if cfg.DataKeys.Path == "" {
				t.Error("data_keys.path: not set; a deployed gateway seals personal data at rest")
			}
			if !dc.mounted {
				return
			}
			in := dc.parse(t, path.Dir(containerConfig))
			for _, p := range append(configKeyPaths(in), in.Resolve(in.DataKeys.Path)) {
				if path.Dir(p) != containerKeysDir {
					t.Errorf("key %s: mounted at %s, it is not in %s", p, containerConfig, containerKeysDir)
				}
			}
		})
	}
}

// TestDeployExamplesDocumentEveryKey: the example configurations of the
// two set-ups are documented key by key: every key (every distinct path,
// counting the entries of a list as one) carries a comment on its line or
// on the lines just above it, indented no deeper than the key (a deeper
// one continues the comment of the key before). The entries of a map of
// ids (keys, previous) are exempt.
func TestDeployExamplesDocumentEveryKey(t *testing.T) {
	for _, name := range []string{"config.embedded.yaml", "config.postgres.yaml"} {
		t.Run(name, func(t *testing.T) {
			data := readDeploy(t, name)
			lines := strings.Split(string(data), "\n")
			// headed reports whether the comment lines right above line
			// (1-based) hold one starting at or left of column (1-based).
			headed := func(line, column int) bool {
				for i := line - 2; i >= 0; i-- {
					l := lines[i]
					c := strings.Index(l, "#")
					if c < 0 || strings.TrimSpace(l[:c]) != "" {
						return false
					}
					if c < column {
						return true
					}
				}
				return false
			}
			var doc yaml.Node
			if err := yaml.Unmarshal(data, &doc); err != nil {
				t.Fatal(err)
			}
			seen, documented := map[string]bool{}, map[string]bool{}
			var walk func(n *yaml.Node, at string)
			walk = func(n *yaml.Node, at string) {
				switch n.Kind {
				case yaml.DocumentNode:
					for _, c := range n.Content {
						walk(c, at)
					}
				case yaml.SequenceNode:
					for _, c := range n.Content {
						walk(c, at+"[]")
					}
				case yaml.MappingNode:
					if strings.HasSuffix(at, ".keys") || strings.HasSuffix(at, ".previous") {
						return // key id -> file: the parent documents the map
					}
					for i := 0; i+1 < len(n.Content); i += 2 {
						k, v := n.Content[i], n.Content[i+1]
						p := strings.TrimPrefix(at+"."+k.Value, ".")
						seen[p] = true
						if k.LineComment != "" || v.LineComment != "" || headed(k.Line, k.Column) {
							documented[p] = true
						}
						walk(v, p)
					}
				}
			}
			walk(&doc, "")
			if len(seen) < 20 {
				t.Fatalf("only %d keys: not the configuration", len(seen))
			}
			var missing []string
			for p := range seen {
				if !documented[p] {
					missing = append(missing, p)
				}
			}
			sort.Strings(missing)
			if len(missing) > 0 {
				t.Errorf("keys without a comment: %s", strings.Join(missing, ", "))
			}
		})
	}
}

// TestDeployEmbeddedAndPostgresExamplesAgree: the two set-ups are the same
// gateway but for the store: embedded SQLite at an absolute path, or
// PostgreSQL with the DSN from the environment only.
func TestDeployEmbeddedAndPostgresExamplesAgree(t *testing.T) {
	emb := loadDeployConfig(t, "config.embedded.yaml")
	pg := loadDeployConfig(t, "config.postgres.yaml")
	if emb.Store.Driver != config.DriverSQLite || !filepath.IsAbs(emb.Store.Path) {
		t.Errorf("config.embedded.yaml store: %+v; want driver sqlite at an absolute path (the image's volume)", emb.Store)
	}
	if pg.Store.Driver != config.DriverPostgres || pg.Store.Schema == "" || pg.Store.Pool.MaxConns == 0 {
		t.Errorf("config.postgres.yaml store: %+v; want driver postgres with schema and pool", pg.Store)
	}
	var pgFile struct {
		Store map[string]any `yaml:"store"`
	}
	if err := yaml.Unmarshal(readDeploy(t, "config.postgres.yaml"), &pgFile); err != nil {
		t.Fatal(err)
	}
	if _, ok := pgFile.Store["dsn"]; ok {
		t.Error("config.postgres.yaml carries store.dsn: credentials go in TONGBAN_STORE_DSN")
	}
	strip := func(c *config.Config) string {
		cc := *c
		cc.Store = config.Store{}
		b, err := yaml.Marshal(&cc)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if a, b := strip(emb), strip(pg); a != b {
		t.Errorf("config.embedded.yaml and config.postgres.yaml differ beyond store:\n%s\n---\n%s", a, b)
	}
}

// ---------------------------------------------------------------------------
// Dockerfile

type dockerInstr struct {
	cmd, args string
}

type dockerStage struct {
	from, name string
	instrs     []dockerInstr
}

// parseDockerfile splits a Dockerfile into its stages (instructions before
// the first FROM are dropped), joining continuation lines and dropping
// comments.
func parseDockerfile(t *testing.T, data []byte) []dockerStage {
	t.Helper()
	var stages []dockerStage
	var cur strings.Builder
	flush := func() {
		line := strings.TrimSpace(cur.String())
		cur.Reset()
		if line == "" {
			return
		}
		cmd, args, _ := strings.Cut(line, " ")
		in := dockerInstr{strings.ToUpper(cmd), strings.TrimSpace(args)}
		if in.cmd == "FROM" {
			f := strings.Fields(in.args)
			s := dockerStage{from: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				s.name = f[2]
			}
			stages = append(stages, s)
			return
		}
		if len(stages) > 0 {
			stages[len(stages)-1].instrs = append(stages[len(stages)-1].instrs, in)
		}
	}
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		if s, ok := strings.CutSuffix(strings.TrimRight(line, " \t"), `\`); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(line)
		flush()
	}
	flush()
	return stages
}

func (s dockerStage) all(cmd string) []string {
	var out []string
	for _, in := range s.instrs {
		if in.cmd == cmd {
			out = append(out, in.args)
		}
	}
	return out
}

func (s dockerStage) last(cmd string) string {
	a := s.all(cmd)
	if len(a) == 0 {
		return ""
	}
	return a[len(a)-1]
}

// execForm decodes an instruction's JSON array form.
func execForm(t *testing.T, what, args string) []string {
	t.Helper()
	var v []string
	if err := json.Unmarshal([]byte(args), &v); err != nil {
		t.Fatalf("%s %s: not the exec (JSON array) form: %v", what, args, err)
	}
	return v
}

// dockerImage is what the tests read of deploy/Dockerfile.
type dockerImage struct {
	builder, final dockerStage
	entrypoint     []string // ENTRYPOINT
	cmd            []string // CMD
	user           string   // USER of the final stage
	uid            int64
	port           string // EXPOSE
	volume         string // VOLUME
}

func readImage(t *testing.T) dockerImage {
	t.Helper()
	stages := parseDockerfile(t, readDeploy(t, "Dockerfile"))
	if len(stages) < 2 {
		t.Fatalf("deploy/Dockerfile has %d stages; want a builder and a runtime stage", len(stages))
	}
	var im dockerImage
	found := false
	for _, s := range stages[:len(stages)-1] {
		for _, r := range s.all("RUN") {
			if strings.Contains(r, "make build") {
				im.builder, found = s, true
			}
		}
	}
	if !found {
		t.Fatal("no stage of deploy/Dockerfile runs make build")
	}
	im.final = stages[len(stages)-1]
	im.entrypoint = execForm(t, "ENTRYPOINT", im.final.last("ENTRYPOINT"))
	im.cmd = execForm(t, "CMD", im.final.last("CMD"))
	im.user = im.final.last("USER")
	u, _, _ := strings.Cut(im.user, ":")
	im.uid, _ = strconv.ParseInt(u, 10, 64)
	if ports := strings.Fields(im.final.last("EXPOSE")); len(ports) == 1 {
		im.port = strings.TrimSuffix(ports[0], "/tcp")
	} else {
		t.Fatalf("EXPOSE %v: want one port", ports)
	}
	v := im.final.last("VOLUME")
	if strings.HasPrefix(v, "[") {
		vs := execForm(t, "VOLUME", v)
		if len(vs) != 1 {
			t.Fatalf("VOLUME %v: want one", vs)
		}
		v = vs[0]
	}
	im.volume = v
	return im
}

// makeBuild returns the recipe of the Makefile's build target.
func makeBuild(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(moduleRoot(t), "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "build:") {
			var recipe []string
			for _, r := range lines[i+1:] {
				if !strings.HasPrefix(r, "\t") {
					break
				}
				recipe = append(recipe, strings.TrimSpace(r))
			}
			return strings.Join(recipe, "\n") + "\n" + string(b) // the variables it uses, too
		}
	}
	t.Fatal("the Makefile has no build target")
	return ""
}

func isUnder(p, dir string) bool {
	return strings.HasPrefix(path.Clean(p), path.Clean(dir)+"/")
}

func listenPort(t *testing.T, what, listen string) string {
	t.Helper()
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		t.Fatalf("%s listen %q: %v", what, listen, err)
	}
	if host != "0.0.0.0" && host != "" && host != "::" {
		t.Errorf("%s listen %q: a container must listen on every interface", what, listen)
	}
	return port
}

// TestDeployDockerfile checks deploy/Dockerfile against the Makefile, the
// README and the example configuration: the builder runs the README's
// release build (make build, the version passed in), in the Go release
// go.mod names; the runtime stage copies the binary the Makefile writes,
// runs it as a numeric non-root user, exposes the port the configuration
// listens on, reads the configuration from the mount its CMD names, and
// keeps the embedded store on its volume.
func TestDeployDockerfile(t *testing.T) {
	im := readImage(t)

	// The builder: golang of go.mod's release, make build with VERSION.
	gomod, err := os.ReadFile(filepath.Join(moduleRoot(t), "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goLine := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod)
	if goLine == nil {
		t.Fatal("go.mod has no go line")
	}
	if tag, ok := strings.CutPrefix(im.builder.from, "golang:"); !ok || !(tag == string(goLine[1]) || strings.HasPrefix(tag, string(goLine[1])+".") || strings.HasPrefix(tag, string(goLine[1])+"-")) {
		t.Errorf("builder FROM %s; want golang:%s (go.mod's release)", im.builder.from, goLine[1])
	}
	if im.builder.name == "" {
		t.Error("the builder stage has no name (FROM ... AS build)")
	}
	if !slices.ContainsFunc(im.builder.all("ARG"), func(a string) bool { return a == "VERSION" || strings.HasPrefix(a, "VERSION=") }) {
		t.Error("the builder declares no ARG VERSION")
	}
	if !slices.ContainsFunc(im.builder.all("RUN"), func(r string) bool { return strings.HasSuffix(r, "make build VERSION=${VERSION}") }) {
		t.Errorf("no builder RUN ends with the release build \"make build VERSION=${VERSION}\": %q", im.builder.all("RUN"))
	}
	readme, err := os.ReadFile(filepath.Join(moduleRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "make build") {
		t.Error("README.md does not give the release build, make build, that deploy/Dockerfile runs")
	}

	// The Makefile's build: static, version stamped, and where it writes.
	mk := makeBuild(t)
	for _, want := range []string{"CGO_ENABLED=0", "-X main.version=$(VERSION)", "./cmd/tongban"} {
		if !strings.Contains(mk, want) {
			t.Errorf("the Makefile's build lacks %s", want)
		}
	}
	out := regexp.MustCompile(`-o (\S+)`).FindStringSubmatch(mk)
	if out == nil {
		t.Fatal("the Makefile's build names no -o output")
	}
	workdir := im.builder.last("WORKDIR")
	if workdir == "" {
		t.Fatal("the builder has no WORKDIR")
	}
	built := path.Join(workdir, out[1])

	// The runtime stage: minimal base, the built binary as ENTRYPOINT.
	if !strings.HasPrefix(im.final.from, "gcr.io/distroless/static") && im.final.from != "scratch" {
		t.Errorf("runtime FROM %s; want distroless/static or scratch", im.final.from)
	}
	if len(im.entrypoint) != 1 {
		t.Fatalf("ENTRYPOINT %q: want the binary alone", im.entrypoint)
	}
	copied := false
	for _, c := range im.final.all("COPY") {
		f := strings.Fields(c)
		if slices.Contains(f, "--from="+im.builder.name) && f[len(f)-2] == built && f[len(f)-1] == im.entrypoint[0] {
			copied = true
		}
	}
	if !copied {
		t.Errorf("the runtime stage does not COPY --from=%s %s %s (the Makefile's output as the ENTRYPOINT)", im.builder.name, built, im.entrypoint[0])
	}

	// Not root, numerically (Kubernetes' runAsNonRoot checks the number).
	u, g, _ := strings.Cut(im.user, ":")
	if im.user == "" || u == "root" || u == "0" || g == "root" || g == "0" || im.uid <= 0 {
		t.Errorf("USER %q: want a numeric non-root user and group", im.user)
	}

	// The port and the paths of the configuration.
	emb := loadDeployConfig(t, "config.embedded.yaml")
	if p := listenPort(t, "config.embedded.yaml", emb.Listen); p != im.port {
		t.Errorf("EXPOSE %s, config.embedded.yaml listens on port %s", im.port, p)
	}
	if want := []string{"serve", "--config", containerConfig}; !slices.Equal(im.cmd, want) {
		t.Errorf("CMD %q; want %q", im.cmd, want)
	}
	if !isUnder(emb.Store.Path, im.volume) {
		t.Errorf("config.embedded.yaml store.path %s is not on the VOLUME %s", emb.Store.Path, im.volume)
	}
	if isUnder(path.Dir(containerConfig), im.volume) || isUnder(im.volume, path.Dir(containerConfig)) {
		t.Errorf("the configuration %s and the store volume %s overlap", containerConfig, im.volume)
	}
}

// TestDeployDockerIgnore: the build context deploy/Dockerfile gets is an
// allow-list holding every directory of the module the binary is built
// from, the Makefile and go.mod/go.sum, and nothing else (no keys, stores
// or .git).
func TestDeployDockerIgnore(t *testing.T) {
	b := readDeploy(t, "Dockerfile.dockerignore")
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 || lines[0] != "*" {
		t.Fatalf("deploy/Dockerfile.dockerignore must start with \"*\" (an allow-list); got %q", lines)
	}
	allowed := map[string]bool{}
	for _, l := range lines[1:] {
		if a, ok := strings.CutPrefix(l, "!"); ok {
			allowed[strings.TrimSuffix(a, "/")] = true
		}
	}
	need := []string{"Makefile", "go.mod", "go.sum"}
	cmd := exec.Command("go", "list", "-deps", "-f", "{{if .Module}}{{if .Module.Main}}{{.Dir}}{{end}}{{end}}", "./cmd/tongban")
	cmd.Dir = moduleRoot(t)
	o, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, o)
	}
	for _, d := range strings.Fields(string(o)) {
		rel, err := filepath.Rel(moduleRoot(t), d)
		if err != nil {
			t.Fatal(err)
		}
		need = append(need, strings.Split(filepath.ToSlash(rel), "/")[0])
	}
	slices.Sort(need)
	for _, n := range slices.Compact(need) {
		if !allowed[n] {
			t.Errorf("the build context leaves out %s, which make build needs", n)
		}
	}
}

// TestDeploySystemdUnit: the unit runs the same binary and configuration
// as the image, keeps the embedded store where config.embedded.yaml and
// the image's volume put it, and may write nowhere else.
func TestDeploySystemdUnit(t *testing.T) {
	im := readImage(t)
	emb := loadDeployConfig(t, "config.embedded.yaml")
	unit := map[string][]string{}
	for _, l := range strings.Split(string(readDeploy(t, "tongban.service")), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok && !strings.HasPrefix(l, "#") {
			unit[k] = append(unit[k], v)
		}
	}
	if want := strings.Join(append(slices.Clone(im.entrypoint), im.cmd...), " "); !slices.Equal(unit["ExecStart"], []string{want}) {
		t.Errorf("ExecStart %q; want the image's %q", unit["ExecStart"], want)
	}
	if u := unit["User"]; len(u) != 1 || u[0] == "root" || u[0] == "0" {
		t.Errorf("User %q: want a non-root user", u)
	}
	if !slices.Contains(unit["Environment"], "TONGBAN_STORE_PATH="+emb.Store.Path) {
		t.Errorf("Environment %q: want TONGBAN_STORE_PATH=%s (config.embedded.yaml)", unit["Environment"], emb.Store.Path)
	}
	if sd := unit["StateDirectory"]; len(sd) != 1 || "/var/lib/"+sd[0] != im.volume {
		t.Errorf("StateDirectory %q; want the image's volume %s", sd, im.volume)
	}
	if rw := unit["ReadWritePaths"]; !slices.Equal(rw, []string{im.volume}) {
		t.Errorf("ReadWritePaths %q; want %s only", rw, im.volume)
	}
}

// ---------------------------------------------------------------------------
// Kubernetes

type k8sSecurityContext struct {
	RunAsNonRoot             *bool  `yaml:"runAsNonRoot"`
	RunAsUser                *int64 `yaml:"runAsUser"`
	ReadOnlyRootFilesystem   *bool  `yaml:"readOnlyRootFilesystem"`
	AllowPrivilegeEscalation *bool  `yaml:"allowPrivilegeEscalation"`
	Capabilities             struct {
		Drop []string `yaml:"drop"`
	} `yaml:"capabilities"`
}

type k8sProbe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
}

type k8sContainer struct {
	Name  string   `yaml:"name"`
	Image string   `yaml:"image"`
	Args  []string `yaml:"args"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	Env []struct {
		Name      string `yaml:"name"`
		ValueFrom *struct {
			SecretKeyRef *struct {
				Name string `yaml:"name"`
				Key  string `yaml:"key"`
			} `yaml:"secretKeyRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	LivenessProbe  *k8sProbe `yaml:"livenessProbe"`
	ReadinessProbe *k8sProbe `yaml:"readinessProbe"`
	Resources      struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext k8sSecurityContext `yaml:"securityContext"`
	VolumeMounts    []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		SubPath   string `yaml:"subPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"volumeMounts"`
}

type k8sDeployment struct {
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec struct {
		Replicas int `yaml:"replicas"`
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Template struct {
			Metadata struct {
				Labels map[string]string `yaml:"labels"`
			} `yaml:"metadata"`
			Spec struct {
				SecurityContext k8sSecurityContext `yaml:"securityContext"`
				Containers      []k8sContainer     `yaml:"containers"`
				Volumes         []struct {
					Name      string `yaml:"name"`
					ConfigMap *struct {
						Name string `yaml:"name"`
					} `yaml:"configMap"`
					Secret *struct {
						SecretName string `yaml:"secretName"`
					} `yaml:"secret"`
				} `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

// k8sObjects reads every manifest in deploy/k8s: kind/name -> its node,
// and the file each came from.
func k8sObjects(t *testing.T) (map[string]*yaml.Node, map[string]string) {
	t.Helper()
	files, err := filepath.Glob(deployPath(t, "k8s", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("deploy/k8s: %v", err)
	}
	objs, from := map[string]*yaml.Node{}, map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(strings.NewReader(string(b)))
		for {
			var n yaml.Node
			if err := dec.Decode(&n); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				t.Fatalf("%s: %v", f, err)
			}
			var h struct {
				Kind     string `yaml:"kind"`
				Metadata struct {
					Name string `yaml:"name"`
				} `yaml:"metadata"`
			}
			if err := n.Decode(&h); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			key := h.Kind + "/" + h.Metadata.Name
			if h.Kind == "Kustomization" {
				key = h.Kind
			}
			if _, dup := objs[key]; dup {
				t.Fatalf("%s appears twice", key)
			}
			objs[key], from[key] = &n, filepath.Base(f)
		}
	}
	return objs, from
}

func k8sDecode(t *testing.T, objs map[string]*yaml.Node, key string, v any) {
	t.Helper()
	n, ok := objs[key]
	if !ok {
		t.Fatalf("deploy/k8s has no %s", key)
	}
	if err := n.Decode(v); err != nil {
		t.Fatalf("%s: %v", key, err)
	}
}

// configMapConfig is the config.yaml the ConfigMap tongban-config holds.
func configMapConfig(t *testing.T) []byte {
	t.Helper()
	objs, _ := k8sObjects(t)
	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	k8sDecode(t, objs, "ConfigMap/tongban-config", &cm)
	c, ok := cm.Data["config.yaml"]
	if !ok {
		t.Fatal("ConfigMap tongban-config has no config.yaml")
	}
	return []byte(c)
}

// k8sSecretValue returns a value of a Secret of secret.example.yaml.
func k8sSecretValue(t *testing.T, name, key string) string {
	t.Helper()
	v, ok := k8sSecret(t, name)[key]
	if !ok {
		t.Fatalf("Secret %s (secret.example.yaml) has no %s", name, key)
	}
	return v
}

func k8sSecret(t *testing.T, name string) map[string]string {
	t.Helper()
	objs, from := k8sObjects(t)
	var s struct {
		StringData map[string]string `yaml:"stringData"`
		Data       map[string]string `yaml:"data"`
	}
	k8sDecode(t, objs, "Secret/"+name, &s)
	if from["Secret/"+name] != "secret.example.yaml" {
		t.Errorf("Secret %s is in %s; Secrets belong only in secret.example.yaml", name, from["Secret/"+name])
	}
	out := map[string]string{}
	for k, v := range s.Data {
		out[k] = v
	}
	for k, v := range s.StringData {
		out[k] = v
	}
	return out
}

// TestDeployKubernetes checks the manifests against each other, the image
// and the ConfigMap's configuration: probes on /healthz and /readyz at the
// port the configuration listens on, a non-root read-only container, the
// resources the autoscaler measures, the configuration and keys mounted
// where the image reads them, every key the configuration names in the
// keys Secret, the DSN from a Secret, Service, PodDisruptionBudget and
// HorizontalPodAutoscaler aimed at the Deployment's pods.
func TestDeployKubernetes(t *testing.T) {
	im := readImage(t)
	objs, from := k8sObjects(t)
	var d k8sDeployment
	k8sDecode(t, objs, "Deployment/tongban", &d)
	spec := d.Spec.Template.Spec
	pod := d.Spec.Template.Metadata.Labels

	if d.Spec.Replicas < 2 {
		t.Errorf("replicas %d; want at least 2", d.Spec.Replicas)
	}
	for k, v := range d.Spec.Selector.MatchLabels {
		if pod[k] != v {
			t.Errorf("the selector's %s=%s is not a pod label", k, v)
		}
	}
	if len(spec.Containers) != 1 {
		t.Fatalf("%d containers; want the gateway alone", len(spec.Containers))
	}
	c := spec.Containers[0]

	// The port the configuration listens on, and the probes on it.
	cmCfg := loadDeployConfig(t, "k8s/configmap.yaml config.yaml")
	port := listenPort(t, "the ConfigMap's config.yaml", cmCfg.Listen)
	if port != im.port {
		t.Errorf("the ConfigMap's config.yaml listens on %s, the image EXPOSEs %s", port, im.port)
	}
	resolve := func(p any) string {
		switch p := p.(type) {
		case int:
			return strconv.Itoa(p)
		case string:
			for _, cp := range c.Ports {
				if cp.Name == p {
					return strconv.Itoa(cp.ContainerPort)
				}
			}
		}
		return ""
	}
	if !slices.ContainsFunc(c.Ports, func(cp struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	}) bool {
		return strconv.Itoa(cp.ContainerPort) == port
	}) {
		t.Errorf("no containerPort %s", port)
	}
	for _, p := range []struct {
		name  string
		probe *k8sProbe
		path  string
	}{{"livenessProbe", c.LivenessProbe, "/healthz"}, {"readinessProbe", c.ReadinessProbe, "/readyz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("no %s httpGet", p.name)
			continue
		}
		if p.probe.HTTPGet.Path != p.path || resolve(p.probe.HTTPGet.Port) != port {
			t.Errorf("%s: GET %s on port %v; want %s on %s", p.name, p.probe.HTTPGet.Path, p.probe.HTTPGet.Port, p.path, port)
		}
	}

	// Resources: requests (what the autoscaler measures) and a memory limit.
	for _, r := range []string{"cpu", "memory"} {
		if c.Resources.Requests[r] == "" {
			t.Errorf("no resources.requests.%s", r)
		}
	}
	if c.Resources.Limits["memory"] == "" {
		t.Error("no resources.limits.memory")
	}

	// Not root, read-only, no privilege: the pod's and the container's.
	for _, sc := range []struct {
		what string
		sc   k8sSecurityContext
	}{{"pod", spec.SecurityContext}, {"container", c.SecurityContext}} {
		if sc.sc.RunAsNonRoot == nil || !*sc.sc.RunAsNonRoot {
			t.Errorf("%s securityContext: runAsNonRoot is not true", sc.what)
		}
		if sc.sc.RunAsUser == nil {
			t.Errorf("%s securityContext: no runAsUser; want the image's user %d", sc.what, im.uid)
		} else if *sc.sc.RunAsUser != im.uid || im.uid == 0 {
			t.Errorf("%s securityContext: runAsUser %d; want the image's non-root user %d", sc.what, *sc.sc.RunAsUser, im.uid)
		}
	}
	sc := c.SecurityContext
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("container securityContext: readOnlyRootFilesystem is not true")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("container securityContext: allowPrivilegeEscalation is not false")
	}
	if !slices.Equal(sc.Capabilities.Drop, []string{"ALL"}) {
		t.Errorf("container securityContext: capabilities.drop %q; want [ALL]", sc.Capabilities.Drop)
	}

	// The configuration and the keys where the image reads them.
	if len(c.Args) > 0 && !slices.Equal(c.Args, im.cmd) {
		t.Errorf("args %q; want the image's CMD %q", c.Args, im.cmd)
	}
	volumes := map[string]int{}
	for i, v := range spec.Volumes {
		volumes[v.Name] = i
	}
	var configOK, keysOK bool
	var keysSecret string
	for _, m := range c.VolumeMounts {
		i, ok := volumes[m.Name]
		if !ok {
			t.Errorf("volumeMount %s: no such volume", m.Name)
			continue
		}
		v := spec.Volumes[i]
		switch m.MountPath {
		case containerConfig:
			configOK = v.ConfigMap != nil && v.ConfigMap.Name == "tongban-config" && m.SubPath == "config.yaml" && m.ReadOnly
		case containerKeysDir:
			keysOK = v.Secret != nil && m.ReadOnly
			if v.Secret != nil {
				keysSecret = v.Secret.SecretName
			}
		}
	}
	if !configOK {
		t.Errorf("%s is not mounted read-only from config.yaml of the ConfigMap tongban-config", containerConfig)
	}
	if !keysOK {
		t.Fatalf("%s is not mounted read-only from a Secret", containerKeysDir)
	}
	keys := k8sSecret(t, keysSecret)
	inPod := configMapDeployConfig(t).parse(t, path.Dir(containerConfig))
	for _, p := range append(configKeyPaths(inPod), inPod.Resolve(inPod.DataKeys.Path)) {
		if _, ok := keys[path.Base(p)]; !ok || path.Dir(p) != containerKeysDir {
			t.Errorf("the ConfigMap's config.yaml names %s: not in the Secret %s mounted at %s", p, keysSecret, containerKeysDir)
		}
	}
	for name, v := range keys {
		if b, _ := pem.Decode([]byte(v)); b != nil {
			t.Errorf("secret.example.yaml: %s holds PEM; it must hold a placeholder, never key material", name)
		}
	}

	// The DSN from a Secret, as the ConfigMap's configuration requires.
	var dsnFrom string
	for _, e := range c.Env {
		if e.Name == "TONGBAN_STORE_DSN" && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			dsnFrom = e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key
		}
	}
	if dsnFrom != "tongban-store/dsn" {
		t.Errorf("TONGBAN_STORE_DSN from %q; want the Secret tongban-store, key dsn (which the ConfigMap's configuration is loaded with)", dsnFrom)
	}

	// Service, PodDisruptionBudget, HorizontalPodAutoscaler.
	var svc struct {
		Spec struct {
			Selector map[string]string `yaml:"selector"`
			Ports    []struct {
				TargetPort any `yaml:"targetPort"`
			} `yaml:"ports"`
		} `yaml:"spec"`
	}
	k8sDecode(t, objs, "Service/tongban", &svc)
	if len(svc.Spec.Selector) == 0 {
		t.Error("the Service selects nothing")
	}
	for k, v := range svc.Spec.Selector {
		if pod[k] != v {
			t.Errorf("the Service selects %s=%s, not a pod label", k, v)
		}
	}
	if len(svc.Spec.Ports) != 1 || resolve(svc.Spec.Ports[0].TargetPort) != port {
		t.Errorf("the Service's ports %v; want one, to port %s", svc.Spec.Ports, port)
	}
	var pdb struct {
		APIVersion string `yaml:"apiVersion"`
		Spec       struct {
			MinAvailable any `yaml:"minAvailable"`
			Selector     struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			} `yaml:"selector"`
		} `yaml:"spec"`
	}
	k8sDecode(t, objs, "PodDisruptionBudget/tongban", &pdb)
	if pdb.APIVersion != "policy/v1" || pdb.Spec.MinAvailable != 1 || !subsetOf(pdb.Spec.Selector.MatchLabels, pod) {
		t.Errorf("PodDisruptionBudget: %s minAvailable %v selector %v; want policy/v1, 1, the pods", pdb.APIVersion, pdb.Spec.MinAvailable, pdb.Spec.Selector.MatchLabels)
	}
	var hpa struct {
		APIVersion string `yaml:"apiVersion"`
		Spec       struct {
			ScaleTargetRef struct {
				Kind string `yaml:"kind"`
				Name string `yaml:"name"`
			} `yaml:"scaleTargetRef"`
			MinReplicas int `yaml:"minReplicas"`
			MaxReplicas int `yaml:"maxReplicas"`
			Metrics     []struct {
				Resource *struct {
					Name string `yaml:"name"`
				} `yaml:"resource"`
			} `yaml:"metrics"`
		} `yaml:"spec"`
	}
	k8sDecode(t, objs, "HorizontalPodAutoscaler/tongban", &hpa)
	cpu := slices.ContainsFunc(hpa.Spec.Metrics, func(m struct {
		Resource *struct {
			Name string `yaml:"name"`
		} `yaml:"resource"`
	}) bool {
		return m.Resource != nil && m.Resource.Name == "cpu"
	})
	if hpa.APIVersion != "autoscaling/v2" || hpa.Spec.ScaleTargetRef.Kind != "Deployment" || hpa.Spec.ScaleTargetRef.Name != d.Metadata.Name ||
		hpa.Spec.MinReplicas < d.Spec.Replicas || hpa.Spec.MaxReplicas <= hpa.Spec.MinReplicas || !cpu {
		t.Errorf("HorizontalPodAutoscaler: %+v; want autoscaling/v2 on Deployment %s, from its %d replicas up, on CPU", hpa, d.Metadata.Name, d.Spec.Replicas)
	}

	// kubectl apply -k applies every manifest but the Secret example.
	var kz struct {
		Resources []string `yaml:"resources"`
	}
	k8sDecode(t, objs, "Kustomization", &kz)
	want := map[string]bool{}
	for key, f := range from {
		if f != "secret.example.yaml" && key != "Kustomization" {
			want[f] = true
		}
	}
	got := map[string]bool{}
	for _, r := range kz.Resources {
		got[r] = true
	}
	if !subsetOf(want, got) || !subsetOf(got, want) {
		t.Errorf("kustomization.yaml resources %v; want %v (secret.example.yaml left out)", kz.Resources, want)
	}
}

func configMapDeployConfig(t *testing.T) deployConfig {
	for _, c := range deployConfigs(t) {
		if c.name == "k8s/configmap.yaml config.yaml" {
			return c
		}
	}
	t.Fatal("no ConfigMap config")
	return deployConfig{}
}

// subsetOf reports whether every entry of a is in b.
func subsetOf[K, V comparable](a, b map[K]V) bool {
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// ---------------------------------------------------------------------------
// Compose

type composeService struct {
	Image       string            `yaml:"image"`
	User        string            `yaml:"user"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Volumes     []string          `yaml:"volumes"`
	Networks    map[string]struct {
		Aliases []string `yaml:"aliases"`
	} `yaml:"networks"`
	DependsOn   yaml.Node `yaml:"depends_on"`
	Healthcheck *struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
}

type composeFile struct {
	Services map[string]composeService `yaml:"services"`
}

func readCompose(t *testing.T) composeFile {
	t.Helper()
	var c composeFile
	if err := yaml.Unmarshal(readDeploy(t, "compose.yaml"), &c); err != nil {
		t.Fatalf("deploy/compose.yaml: %v", err)
	}
	return c
}

// interpolate replaces ${NAME:-default} by its default, as compose does
// with NAME unset.
func interpolate(s string) string {
	return regexp.MustCompile(`\$\{[A-Z0-9_]+:-([^}]*)\}`).ReplaceAllString(s, "$1")
}

// argFlag returns the value of --name in args.
func argFlag(args []string, name string) string {
	for i, a := range args {
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	return ""
}

// mounted returns the host file (relative to deploy/, as compose resolves
// it) mounted at target, "" if none.
func (s composeService) mounted(t *testing.T, target string) string {
	for _, v := range s.Volumes {
		f := strings.Split(v, ":")
		if len(f) >= 2 && f[1] == target {
			return deployPath(t, filepath.FromSlash(f[0]))
		}
	}
	return ""
}

// dependsOn returns the services s depends on and the condition of each.
func (s composeService) dependsOn() map[string]string {
	out := map[string]string{}
	switch s.DependsOn.Kind {
	case yaml.SequenceNode:
		for _, n := range s.DependsOn.Content {
			out[n.Value] = "service_started"
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(s.DependsOn.Content); i += 2 {
			var d struct {
				Condition string `yaml:"condition"`
			}
			s.DependsOn.Content[i+1].Decode(&d)
			out[s.DependsOn.Content[i].Value] = d.Condition
		}
	}
	return out
}

func (s composeService) image() string { return interpolate(s.Image) }

// composeGatewayEnv is the environment of the compose gateways.
func composeGatewayEnv(t *testing.T) map[string]string {
	t.Helper()
	for _, s := range readCompose(t).Services {
		if len(s.Command) > 0 && s.Command[0] == "serve" {
			return s.Environment
		}
	}
	t.Fatal("deploy/compose.yaml runs no gateway (command serve)")
	return nil
}

// TestDeployCompose checks deploy/compose.yaml and its files in
// deploy/compose/: two gateway replicas of the image on the postgres
// service (healthy first), with the same configuration mounted where the
// image reads it and the DSN in the environment; the collector receiving
// their spans and scraping their metrics; one simulated district of every
// adapter style, each the counterpart of its partner entry (same id,
// style and adapter block, listening where the entry's endpoint points,
// reporting to the gateways); every key named in the keygen loop the
// header documents, and the generated keys kept out of git.
func TestDeployCompose(t *testing.T) {
	im := readImage(t)
	cf := readCompose(t)
	svcs := cf.Services

	pg, ok := svcs["postgres"]
	if !ok || !strings.HasPrefix(pg.Image, "postgres:") || pg.Healthcheck == nil || len(pg.Healthcheck.Test) == 0 {
		t.Errorf("postgres service: image %q, healthcheck %v; want a postgres image with a healthcheck", pg.Image, pg.Healthcheck)
	}

	var gateways, sims []string
	for name, s := range svcs {
		switch {
		case len(s.Command) > 0 && s.Command[0] == "serve":
			gateways = append(gateways, name)
		case len(s.Command) > 0 && s.Command[0] == "partnersim":
			sims = append(sims, name)
		}
	}
	sort.Strings(gateways)
	sort.Strings(sims)
	if len(gateways) != 2 {
		t.Fatalf("gateway services (command serve) %v; want two replicas", gateways)
	}

	// The gateways: the same image, configuration, keys and store.
	var cfgFile, image string
	aliases := map[string]int{}
	for _, name := range gateways {
		s := svcs[name]
		if !slices.Equal(s.Command, im.cmd) {
			t.Errorf("%s: command %q; want the image's %q", name, s.Command, im.cmd)
		}
		if image == "" {
			image = s.image()
		} else if s.image() != image {
			t.Errorf("%s: image %s; want %s like the other replica", name, s.image(), image)
		}
		if u, _, _ := strings.Cut(interpolate(s.User), ":"); u == "" || u == "0" || u == "root" {
			t.Errorf("%s: user %q; want a non-root default", name, s.User)
		}
		if dep := s.dependsOn(); dep["postgres"] != "service_healthy" {
			t.Errorf("%s: depends_on %v; want postgres: service_healthy", name, dep)
		}
		f := s.mounted(t, argFlag(s.Command, "--config"))
		if f == "" {
			t.Errorf("%s: nothing mounted at %s", name, argFlag(s.Command, "--config"))
		} else if cfgFile == "" {
			cfgFile = f
		} else if f != cfgFile {
			t.Errorf("%s mounts %s, the other replica %s", name, f, cfgFile)
		}
		if k := s.mounted(t, containerKeysDir); k != filepath.Join(filepath.Dir(cfgFile), "keys") {
			t.Errorf("%s: %s mounts %q; want the keys beside the configuration", name, containerKeysDir, k)
		}
		dsn, err := url.Parse(s.Environment["TONGBAN_STORE_DSN"])
		if err != nil || dsn.Scheme != "postgres" || dsn.Hostname() != "postgres" {
			t.Errorf("%s: TONGBAN_STORE_DSN %q; want a postgres:// URL of the postgres service", name, s.Environment["TONGBAN_STORE_DSN"])
		}
		for _, n := range s.Networks {
			for _, a := range n.Aliases {
				aliases[a]++
			}
		}
	}
	if cfgFile != deployPath(t, "compose", "gateway.yaml") {
		t.Fatalf("the gateways run %s; TestDeployConfigsLoad loads deploy/compose/gateway.yaml", cfgFile)
	}
	gw := loadDeployConfig(t, "compose/gateway.yaml")
	if gw.Store.Driver != config.DriverPostgres {
		t.Errorf("compose/gateway.yaml: store driver %s; want postgres (two replicas share it)", gw.Store.Driver)
	}
	if p := listenPort(t, "compose/gateway.yaml", gw.Listen); p != im.port {
		t.Errorf("compose/gateway.yaml listens on %s, the image EXPOSEs %s", p, im.port)
	}

	// The collector: spans over OTLP, metrics scraped from both replicas.
	col, ok := svcs["otel-collector"]
	if !ok || !strings.HasPrefix(col.Image, "otel/opentelemetry-collector") {
		t.Fatalf("otel-collector service: image %q; want an otel/opentelemetry-collector image", col.Image)
	}
	host, otlpPort, err := net.SplitHostPort(gw.Telemetry.Endpoint)
	if gw.Telemetry.Exporter != config.ExporterOTLPGRPC || err != nil || host != "otel-collector" {
		t.Errorf("compose/gateway.yaml telemetry %s %s; want otlp-grpc to otel-collector", gw.Telemetry.Exporter, gw.Telemetry.Endpoint)
	}
	colCfg := col.mounted(t, interpolate(strings.TrimPrefix(argFlag(col.Command, "--config"), "file:")))
	if colCfg == "" {
		t.Fatalf("otel-collector: its --config %q is not mounted", argFlag(col.Command, "--config"))
	}
	b, err := os.ReadFile(colCfg)
	if err != nil {
		t.Fatal(err)
	}
	var otel struct {
		Receivers struct {
			OTLP struct {
				Protocols struct {
					GRPC struct {
						Endpoint string `yaml:"endpoint"`
					} `yaml:"grpc"`
				} `yaml:"protocols"`
			} `yaml:"otlp"`
			Prometheus struct {
				Config struct {
					ScrapeConfigs []struct {
						MetricsPath   string `yaml:"metrics_path"`
						StaticConfigs []struct {
							Targets []string `yaml:"targets"`
						} `yaml:"static_configs"`
					} `yaml:"scrape_configs"`
				} `yaml:"config"`
			} `yaml:"prometheus"`
		} `yaml:"receivers"`
		Service struct {
			Pipelines map[string]struct {
				Receivers []string `yaml:"receivers"`
			} `yaml:"pipelines"`
		} `yaml:"service"`
	}
	if err := yaml.Unmarshal(b, &otel); err != nil {
		t.Fatalf("%s: %v", colCfg, err)
	}
	if _, p, _ := net.SplitHostPort(otel.Receivers.OTLP.Protocols.GRPC.Endpoint); p != otlpPort {
		t.Errorf("the collector's OTLP/gRPC receiver listens on %q; the gateways send to port %s", otel.Receivers.OTLP.Protocols.GRPC.Endpoint, otlpPort)
	}
	if !slices.Contains(otel.Service.Pipelines["traces"].Receivers, "otlp") || !slices.Contains(otel.Service.Pipelines["metrics"].Receivers, "prometheus") {
		t.Errorf("collector pipelines %+v; want traces from otlp, metrics from prometheus", otel.Service.Pipelines)
	}
	var targets []string
	for _, sc := range otel.Receivers.Prometheus.Config.ScrapeConfigs {
		if sc.MetricsPath == "" || sc.MetricsPath == "/metrics" {
			for _, st := range sc.StaticConfigs {
				targets = append(targets, st.Targets...)
			}
		}
	}
	sort.Strings(targets)
	var wantTargets []string
	for _, g := range gateways {
		wantTargets = append(wantTargets, net.JoinHostPort(g, im.port))
	}
	if !slices.Equal(targets, wantTargets) {
		t.Errorf("the collector scrapes %v; want the gateways' /metrics %v", targets, wantTargets)
	}

	// The simulated districts: one per style, each its partner entry's
	// counterpart.
	partners := map[string]config.Partner{}
	for _, p := range gw.Partners {
		partners[p.ID] = p
	}
	styles := map[string]string{}
	keyFiles := configKeyPaths(gw)
	for _, name := range sims {
		s := svcs[name]
		if s.image() != image {
			t.Errorf("%s: image %s; want the gateways' %s", name, s.image(), image)
		}
		f := s.mounted(t, argFlag(s.Command, "--config"))
		if f == "" || filepath.Dir(f) != filepath.Dir(cfgFile) {
			t.Errorf("%s: its --config is %q; want a file in deploy/compose", name, f)
			continue
		}
		if k := s.mounted(t, containerKeysDir); k != filepath.Join(filepath.Dir(f), "keys") {
			t.Errorf("%s: %s mounts %q; want the keys beside its file", name, containerKeysDir, k)
		}
		sim, err := loadSimConfig(f)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		style := firstNonEmpty(argFlag(s.Command, "--style"), sim.Style, "standard")
		// One district per style; a library without regions of its own
		// (the national fallback) may speak any style besides.
		if p, ok := partners[sim.PartnerID]; !ok || len(p.Regions) > 0 {
			if prev, dup := styles[style]; dup {
				t.Errorf("%s and %s both simulate style %s", prev, name, style)
			}
			styles[style] = name
		}
		keyFiles = append(keyFiles, sim.resolve(sim.Key))
		for _, k := range sim.Gateway.Keys {
			keyFiles = append(keyFiles, sim.resolve(k))
		}
		if pub := strings.TrimSuffix(sim.resolve(sim.Gateway.Keys[gw.SigningKey.KeyID]), ".pub"); pub != strings.TrimSuffix(gw.Resolve(gw.SigningKey.Path), ".key") {
			t.Errorf("%s: gateway.keys.%s %q is not the public half of the gateway's key %s", name, gw.SigningKey.KeyID, sim.Gateway.Keys[gw.SigningKey.KeyID], gw.SigningKey.Path)
		}
		if sim.Gateway.ID != gw.GatewayID {
			t.Errorf("%s: gateway.id %q; want %q", name, sim.Gateway.ID, gw.GatewayID)
		}
		if u, err := url.Parse(sim.Gateway.URL); err != nil || u.Port() != im.port || (aliases[u.Hostname()] != len(gateways) && !slices.Contains(gateways, u.Hostname())) {
			t.Errorf("%s: gateway.url %q; want a gateway replica or their shared alias, port %s", name, sim.Gateway.URL, im.port)
		}
		p, ok := partners[sim.PartnerID]
		if !ok {
			t.Errorf("%s: district %s has no partner entry in compose/gateway.yaml", name, sim.PartnerID)
			continue
		}
		if p.Adapter != style {
			t.Errorf("%s: style %s, its partner entry's adapter %s", name, style, p.Adapter)
		}
		simBlock, err := sim.adapterBlock()
		if err != nil {
			t.Fatal(err)
		}
		gwBlock, err := p.AdapterConfig()
		if err != nil {
			t.Fatal(err)
		}
		if !jsonEqual(t, simBlock, gwBlock) {
			t.Errorf("%s: adapter_config differs from the config block of partner %s", name, p.ID)
		}
		if style == "mailbox" {
			continue
		}
		var ep struct {
			Endpoint string `json:"endpoint"`
		}
		json.Unmarshal(gwBlock, &ep)
		u, err := url.Parse(ep.Endpoint)
		_, listen, _ := net.SplitHostPort(argFlag(s.Command, "--listen"))
		if err != nil || u.Hostname() != name || u.Port() != listen {
			t.Errorf("%s listens on %q; partner %s's endpoint %q does not point there", name, argFlag(s.Command, "--listen"), p.ID, ep.Endpoint)
		}
	}
	for _, st := range []string{"standard", "mapped-json", "soap", "mailbox"} {
		if styles[st] == "" {
			t.Errorf("no simulated district of style %s", st)
		}
	}
	// The national fallback library, as deployed: a partner whose library
	// is the fallback, simulated too.
	fallback := ""
	for _, p := range gw.Partners {
		if p.Library != nil && p.Library.Fallback {
			fallback = p.ID
		}
	}
	simulated := false
	for _, name := range sims {
		if sim, err := loadSimConfig(svcs[name].mounted(t, argFlag(svcs[name].Command, "--config"))); err == nil && sim.PartnerID == fallback {
			simulated = len(sim.LicenseRegions) > 0
		}
	}
	if fallback == "" || !simulated {
		t.Errorf("compose has no simulated fallback library with licenses of its own (fallback partner %q)", fallback)
	}

	// The keys: the documented keygen loop makes every key named, all in
	// deploy/compose/keys, which git ignores.
	m := regexp.MustCompile(`for k in ([^;]+); do .*keygen --out deploy/compose/keys/\$k`).FindSubmatch(readDeploy(t, "compose.yaml"))
	if m == nil {
		t.Fatal("deploy/compose.yaml documents no keygen loop (for k in ...; do ... keygen --out deploy/compose/keys/$k)")
	}
	made := strings.Fields(string(m[1]))
	used := map[string]bool{}
	keysDir := deployPath(t, "compose", "keys")
	for _, k := range keyFiles {
		ext := filepath.Ext(k)
		name := strings.TrimSuffix(filepath.Base(k), ext)
		if filepath.Dir(k) != keysDir || (ext != ".key" && ext != ".pub") || !slices.Contains(made, name) {
			t.Errorf("key %s: not one the keygen loop writes in deploy/compose/keys", k)
		}
		used[name] = true
	}
	for _, k := range made {
		if !used[k] {
			t.Errorf("the keygen loop makes %s, which nothing uses", k)
		}
	}
	ignore, err := os.ReadFile(filepath.Join(keysDir, ".gitignore"))
	if err != nil || !slices.Contains(strings.Fields(string(ignore)), "*") {
		t.Errorf("deploy/compose/keys/.gitignore must ignore everything (*): %v", err)
	}
}

// firstNonEmpty returns the first non-empty string.
func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}

// uncommentTLS returns a deploy configuration with its commented TLS
// settings switched on: every comment line "# tls:", "# key_ca:" or
// "# client_certs:" and the "#   " lines that continue it lose their "# "
// (comment lines inside the block stay).
func uncommentTLS(data []byte) ([]byte, int) {
	lines := strings.Split(string(data), "\n")
	n, in, open := 0, "", false
	for i, l := range lines {
		body := strings.TrimLeft(l, " ")
		indent := l[:len(l)-len(body)]
		switch {
		case strings.HasPrefix(body, "# tls:"), strings.HasPrefix(body, "# key_ca:"), strings.HasPrefix(body, "# client_certs:"):
			in, open = indent, true
		case open && indent == in && strings.HasPrefix(body, "# ") && strings.HasPrefix(strings.TrimSpace(body[1:]), "#"):
			continue // a comment continued inside the block
		case open && indent == in && strings.HasPrefix(body, "#   "):
		default:
			open = false
			continue
		}
		lines[i] = indent + body[2:]
		n++
	}
	return []byte(strings.Join(lines, "\n")), n
}

// TestDeployTLSSettingsParse: the TLS settings the two set-ups carry
// commented out are valid once uncommented (the listener's, key_ca, a
// caller's client_certs, a partner's tls), and the shipped files stay
// plain HTTP.
func TestDeployTLSSettingsParse(t *testing.T) {
	for _, dc := range deployConfigs(t) {
		if dc.name != "config.embedded.yaml" && dc.name != "config.postgres.yaml" {
			continue
		}
		t.Run(dc.name, func(t *testing.T) {
			if cfg := dc.parse(t, dc.dir); cfg.TLS != nil || cfg.KeyCA != "" {
				t.Errorf("shipped with tls %+v, key_ca %q; want them commented out", cfg.TLS, cfg.KeyCA)
			}
			on, n := uncommentTLS(dc.data(t))
			if n < 10 {
				t.Fatalf("uncommented %d lines; want the tls blocks", n)
			}
			cfg, err := config.Parse(on, dc.dir, envMap(dc.env))
			if err != nil {
				t.Fatalf("with TLS uncommented: %v\n%s", err, on)
			}
			p := cfg.Partners[0]
			if cfg.TLS == nil || cfg.TLS.ClientAuth != config.ClientAuthOptional || cfg.KeyCA == "" ||
				len(p.ClientCerts) != 1 || p.TLS == nil || p.TLS.Cert == "" || p.TLS.MinVersion != "1.2" {
				t.Errorf("uncommented: tls %+v, key_ca %q, partner %s client_certs %v tls %+v", cfg.TLS, cfg.KeyCA, p.ID, p.ClientCerts, p.TLS)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// Grafana dashboard

// grafanaPanel is what the dashboard test reads of a panel.
type grafanaPanel struct {
	ID          int    `json:"id"`
	Type        string `json:"type"`
	Title       string `json:"title"`
	Description string `json:"description"`
	Datasource  *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	GridPos struct{ X, Y, W, H int } `json:"gridPos"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []grafanaPanel `json:"panels"` // a collapsed row's
}

// grafanaDashboard is what the dashboard test reads of a dashboard.
type grafanaDashboard struct {
	UID           string         `json:"uid"`
	Title         string         `json:"title"`
	SchemaVersion int            `json:"schemaVersion"`
	Panels        []grafanaPanel `json:"panels"`
	Templating    struct {
		List []struct {
			Type  string          `json:"type"`
			Name  string          `json:"name"`
			Query json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

// Pieces of PromQL (and of Grafana's label_values) that name no metric.
var (
	promStrings     = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'` + "|`[^`]*`")
	promMatchers    = regexp.MustCompile(`\{[^}]*\}`)
	promRanges      = regexp.MustCompile(`\[[^\]]*\]`)
	promGrouping    = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promLabelValues = regexp.MustCompile(`\blabel_values\s*\(\s*([^,()]*?)\s*,\s*[A-Za-z_]\w*\s*\)`) // (metric, label)
	promLabelsOnly  = regexp.MustCompile(`\blabel_values\s*\(\s*[A-Za-z_]\w*\s*\)`)                  // (label)
	promIdent       = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*`)
	promKeywords    = []string{"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset",
		"and", "or", "unless", "atan2", "inf", "nan", "Inf", "NaN"}
)

// promMetrics returns the metric names a PromQL expression (or a Grafana
// label_values query) selects, in order: every identifier that is not a
// function (followed by "("), a keyword, a label (inside {…} or a
// by/without/on/ignoring list), a range, a string, a number, a duration or
// a Grafana variable ($name).
func promMetrics(expr string) []string {
	s := promStrings.ReplaceAllString(expr, `""`)
	s = promMatchers.ReplaceAllString(s, "{}")
	s = promRanges.ReplaceAllString(s, "")
	s = promGrouping.ReplaceAllString(s, "")
	s = promLabelValues.ReplaceAllString(s, " $1 ")
	s = promLabelsOnly.ReplaceAllString(s, "")
	var names []string
	for _, loc := range promIdent.FindAllStringIndex(s, -1) {
		name := s[loc[0]:loc[1]]
		if loc[0] > 0 {
			if c := s[loc[0]-1]; c == '$' || c == '.' || '0' <= c && c <= '9' {
				continue // a variable, or the exponent or unit of a number
			}
		}
		if rest := strings.TrimLeft(s[loc[1]:], " \t\n"); strings.HasPrefix(rest, "(") || slices.Contains(promKeywords, name) {
			continue
		}
		names = append(names, name)
	}
	return names
}

func TestPromMetrics(t *testing.T) {
	tests := []struct {
		expr string
		want []string
	}{
		{`up`, []string{"up"}},
		{`sum by (partner, outcome) (rate(tongban_delivery_attempts_total{instance=~"$instance", partner=~"a|b"}[$__rate_interval])) * 60`,
			[]string{"tongban_delivery_attempts_total"}},
		{`histogram_quantile(0.95, sum by (le) (rate(x_seconds_bucket{a="}{"}[5m])))`, []string{"x_seconds_bucket"}},
		{`max(deriv(tongban_evidence_head[1h])) * 60`, []string{"tongban_evidence_head"}},
		{`rate(a_total[5m]) / on (instance) group_left (version) b_info`, []string{"a_total", "b_info"}},
		{`sum without (instance) (c) > bool 1e3 and d offset 5m`, []string{"c", "d"}},
		{`label_values(target_info{service_name="tongban"}, instance)`, []string{"target_info"}},
		{`label_values(partner)`, nil},
		{`increase(e_total[$__range])`, []string{"e_total"}},
	}
	for _, tt := range tests {
		if got := promMetrics(tt.expr); !slices.Equal(got, tt.want) {
			t.Errorf("promMetrics(%s): got %q, want %q", tt.expr, got, tt.want)
		}
	}
}

// TestDeployGrafanaDashboard reads deploy/grafana/tongban.json as Grafana
// would and checks that every metric its queries name is one a gateway
// exposes: a family its Telemetry.MetricFamilies lists (a histogram's
// with _bucket, _sum or _count), for a gateway opened as serve opens one.
// The telemetry and app tests keep MetricFamilies equal to what /metrics
// shows. It checks too that the dashboard draws what it promises.
func TestDeployGrafanaDashboard(t *testing.T) {
	var d grafanaDashboard
	dec := json.NewDecoder(strings.NewReader(string(readDeploy(t, "grafana", "tongban.json"))))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("tongban.json: %v", err)
	}
	if d.UID == "" || d.Title == "" || d.SchemaVersion < 30 {
		t.Errorf("uid %q, title %q, schemaVersion %d: want a uid, a title and a current schema", d.UID, d.Title, d.SchemaVersion)
	}

	// Every query: the panels' targets and the template variables'.
	type query struct{ where, expr string }
	var queries []query
	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil {
			if err := json.Unmarshal(v.Query, &q.Query); err != nil {
				t.Fatalf("variable %s: query %s", v.Name, v.Query)
			}
		}
		queries = append(queries, query{"variable " + v.Name, q.Query})
	}
	if !vars["datasource"] {
		t.Error("no datasource variable: the panels' ${datasource} would not resolve")
	}
	ids := map[int]bool{}
	var walk func(ps []grafanaPanel)
	walk = func(ps []grafanaPanel) {
		for _, p := range ps {
			if ids[p.ID] {
				t.Errorf("panel id %d appears twice", p.ID)
			}
			ids[p.ID] = true
			if p.GridPos.W < 1 || p.GridPos.X+p.GridPos.W > 24 {
				t.Errorf("panel %q: gridPos %+v leaves the 24 columns", p.Title, p.GridPos)
			}
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			if p.Title == "" || p.Description == "" || len(p.Targets) == 0 {
				t.Errorf("panel %d %q: want a title, a description and queries", p.ID, p.Title)
			}
			if p.Datasource == nil || p.Datasource.Type != "prometheus" || p.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q: datasource %+v, want prometheus ${datasource}", p.Title, p.Datasource)
			}
			for _, tg := range p.Targets {
				queries = append(queries, query{"panel " + p.Title, tg.Expr})
			}
		}
	}
	walk(d.Panels)

	dir := t.TempDir()
	rig, err := devrig.Start(t.Context(), devrig.Options{Dir: dir, Log: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer rig.Stop()
	fams, err := rig.Gateway.Telemetry().MetricFamilies(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// A series name: a family's, or a histogram's (summary's) with its
	// suffixes.
	exposed := map[string]bool{}
	for _, f := range fams {
		exposed[f.Name] = true
		switch f.Type {
		case "histogram":
			exposed[f.Name+"_bucket"] = true
			fallthrough
		case "summary":
			exposed[f.Name+"_sum"], exposed[f.Name+"_count"] = true, true
		}
	}
	known := func(name string) bool { return exposed[name] }
	used := map[string]bool{}
	for _, q := range queries {
		names := promMetrics(q.expr)
		if len(names) == 0 {
			t.Errorf("%s: query %q names no metric", q.where, q.expr)
		}
		for _, n := range names {
			used[n] = true
			if !known(n) {
				t.Errorf("%s: %s is not a metric the gateway exposes (query %q)", q.where, n, q.expr)
			}
		}
	}
	for _, want := range []string{
		"tongban_delivery_attempts_total", "tongban_delivery_duration_seconds_bucket", "tongban_outbox_deliveries",
		"tongban_evidence_head", "tongban_http_requests_total", "tongban_http_request_duration_seconds_bucket",
		"tongban_license_verifications_total", "tongban_case_notices_total", "tongban_http_rate_limited_total",
	} {
		if !used[want] {
			t.Errorf("the dashboard draws no %s", want)
		}
	}
	dead := false
	for _, q := range queries {
		dead = dead || strings.Contains(q.expr, `transport_state="dead"`)
	}
	if !dead {
		t.Error(`no panel shows the dead letters alone (transport_state="dead")`)
	}
}

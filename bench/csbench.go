// csbench: the containers/storage side of the benchmark (bench/run). It
// drives containers/storage (the Go library behind Podman, CRI-O and Buildah)
// in-process through its public Store API, vfs graph driver, one process per
// phase:
//
//	csbench create DIR N   create images 0..N-1: CreateImage, then the
//	                       manifest and the config with SetImageBigData
//	csbench read   DIR N   open the store and list it, then look every image
//	                       up by name and by manifest digest, and read every
//	                       manifest back
//	csbench delete DIR N   delete images 0..N-1
//
// The workload is bench/bench.c's and bench/bench.lua's, phase for phase:
// image i has the ID hex(sha256("image-<i>")), the one name
// "example.com/repo<i>:tag", metadata "{}", a manifest (the text in
// manifest() below, the same bytes as bench.c's) under the key "manifest",
// and a config of 1500 'c' bytes under the key "sha256:<ID>". As there,
// everything a phase looks up is computed before its clock starts, every
// answer is checked, and create and delete open the store before the clock
// and close it after. bench.c's and bench.lua's other phases (open alone,
// lookup by ID prefix, the config read, the batched creates) have no
// counterpart here.
//
// Each timed phase prints one JSON line to stdout, the line bench/run and
// bench/report.lua parse (bench/run adds "impl":"containers-storage"):
//
//	{"n":N,"peer":"containers/storage","per_op_us":U,"phase":P,"seconds":S}
//
// with phases create, open+list (GetStore through Images(), one op),
// lookup-name, by-digest, big-data-read and delete. `csbench create DIR 0`
// only initialises DIR (bench/cs-synth.go writes into such a store).
//
// bench/run builds it from Debian's packaged Go sources, without modules:
//
//	GO111MODULE=off GOPATH=$build:/usr/share/gocode go build -o csbench bench/csbench.go
//
// (golang-go, golang-github-containers-storage-dev,
// golang-github-ulikunitz-xz-dev).
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/containers/storage"
	"github.com/containers/storage/types"
	digest "github.com/opencontainers/go-digest"
)

const configLen = 1500

// workload holds images start..start+n-1, computed before any clock starts.
type workload struct {
	ids       []string
	names     []string
	manifests [][]byte
	digests   []digest.Digest // of each manifest
	configKey []string
	config    []byte
}

func manifest(id string) []byte {
	return []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",` +
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json",` +
		`"digest":"sha256:` + id + `","size":1500},"layers":[]}`)
}

func newWorkload(n int) *workload {
	w := &workload{config: make([]byte, configLen)}
	for i := range w.config {
		w.config[i] = 'c'
	}
	for i := 0; i < n; i++ {
		sum := sha256.Sum256([]byte("image-" + strconv.Itoa(i)))
		id := hex.EncodeToString(sum[:])
		m := manifest(id)
		w.ids = append(w.ids, id)
		w.names = append(w.names, "example.com/repo"+strconv.Itoa(i)+":tag")
		w.manifests = append(w.manifests, m)
		w.digests = append(w.digests, digest.FromBytes(m))
		w.configKey = append(w.configKey, "sha256:"+id)
	}
	return w
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "csbench: "+format+"\n", args...)
	os.Exit(1)
}

func check(what string, err error) {
	if err != nil {
		fail("%s: %v", what, err)
	}
}

// line is one phase's JSON line; its fields are in the order (alphabetical)
// that the lines have always had.
type line struct {
	N       int     `json:"n"`
	Peer    string  `json:"peer"`
	PerOpUs float64 `json:"per_op_us"`
	Phase   string  `json:"phase"`
	Seconds float64 `json:"seconds"`
}

func report(phase string, n int, d time.Duration, ops int) {
	if ops < 1 {
		ops = 1
	}
	out, err := json.Marshal(line{N: n, Peer: "containers/storage", Phase: phase,
		Seconds: d.Seconds(), PerOpUs: d.Seconds() * 1e6 / float64(ops)})
	check("report", err)
	fmt.Println(string(out))
}

func open(dir string) storage.Store {
	s, err := storage.GetStore(types.StoreOptions{
		RunRoot:         dir + "/run",
		GraphRoot:       dir + "/graph",
		GraphDriverName: "vfs",
	})
	check("open "+dir, err)
	return s
}

func shutdown(s storage.Store) {
	_, err := s.Shutdown(true)
	check("shutdown", err)
}

// The manifest's digest is its sha256, as for a pulled image.
func manifestDigest(m []byte) (digest.Digest, error) { return digest.FromBytes(m), nil }

func create(dir string, n int) {
	w := newWorkload(n)
	s := open(dir)
	t0 := time.Now()
	for i := 0; i < n; i++ {
		_, err := s.CreateImage(w.ids[i], []string{w.names[i]}, "", "{}", &storage.ImageOptions{})
		check("create "+w.ids[i], err)
		check("set manifest", s.SetImageBigData(w.ids[i], "manifest", w.manifests[i], manifestDigest))
		check("set config", s.SetImageBigData(w.ids[i], w.configKey[i], w.config, nil))
	}
	report("create", n, time.Since(t0), n)
	shutdown(s)
}

func read(dir string, n int) {
	w := newWorkload(n)

	t0 := time.Now()
	s := open(dir)
	imgs, err := s.Images()
	check("images", err)
	d := time.Since(t0)
	if len(imgs) != n {
		fail("listed %d images, want %d", len(imgs), n)
	}
	report("open+list", n, d, 1)

	t0 = time.Now()
	for i := 0; i < n; i++ {
		id, err := s.Lookup(w.names[i])
		check("lookup "+w.names[i], err)
		if id != w.ids[i] {
			fail("lookup %s gave %s, want %s", w.names[i], id, w.ids[i])
		}
	}
	report("lookup-name", n, time.Since(t0), n)

	t0 = time.Now()
	for i := 0; i < n; i++ {
		found, err := s.ImagesByDigest(w.digests[i])
		check("by-digest "+w.digests[i].String(), err)
		if len(found) != 1 {
			fail("by-digest %s gave %d images, want 1", w.digests[i], len(found))
		}
	}
	report("by-digest", n, time.Since(t0), n)

	t0 = time.Now()
	for i := 0; i < n; i++ {
		data, err := s.ImageBigData(w.ids[i], "manifest")
		check("big data "+w.ids[i], err)
		if len(data) != len(w.manifests[i]) {
			fail("manifest of %s has %d bytes, want %d", w.ids[i], len(data), len(w.manifests[i]))
		}
	}
	report("big-data-read", n, time.Since(t0), n)
	shutdown(s)
}

func remove(dir string, n int) {
	w := newWorkload(n)
	s := open(dir)
	t0 := time.Now()
	for i := 0; i < n; i++ {
		_, err := s.DeleteImage(w.ids[i], true)
		check("delete "+w.ids[i], err)
	}
	report("delete", n, time.Since(t0), n)
	shutdown(s)
}

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: csbench create|read|delete DIR N")
		os.Exit(2)
	}
	phase, dir := os.Args[1], os.Args[2]
	n, err := strconv.Atoi(os.Args[3])
	if err != nil || n < 0 {
		fmt.Fprintf(os.Stderr, "csbench: N must be a count, not %q\n", os.Args[3])
		os.Exit(2)
	}
	switch phase {
	case "create":
		create(dir, n)
	case "read":
		read(dir, n)
	case "delete":
		remove(dir, n)
	default:
		fmt.Fprintf(os.Stderr, "csbench: unknown phase %q\n", phase)
		os.Exit(2)
	}
}

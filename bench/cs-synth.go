// cs-synth: writes the containers/storage image store that
// `csbench create DIR N` (bench/csbench.go) would leave, without its O(N^2)
// cost, so that containers/storage's read phase can be measured at sizes its
// create cannot reach in the time `make bench` has.
//
//	cs-synth DIR N
//
// Run it on a DIR that `csbench create DIR 0` has initialised (graph/, run/,
// lock files: containers/storage itself writes those). It then writes
// DIR/graph/vfs-images/images.json and each image's big-data files exactly as
// containers/storage does: the records are containers/storage's own
// storage.Image values, filled in as CreateImage + SetImageBigData fill them,
// marshalled with the same encoder (jsoniter.ConfigCompatibleWithStandardLibrary,
// storage/jsoniter.go) and written through the same atomic writer
// (pkg/ioutils) with the same modes and the same big-data file names
// (store.go's makeBigDataBaseName). Only the "created" times differ from a
// real run, as they differ between any two real runs. bench/run checks this on
// every run: it compares a synthesized store against the one csbench created
// at the same N, byte for byte, with "created" masked.
//
// The files are written without a sync each; one sync(2) at the end.
package main

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/containers/storage"
	"github.com/containers/storage/pkg/ioutils"
	jsoniter "github.com/json-iterator/go"
	digest "github.com/opencontainers/go-digest"
)

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "cs-synth:", err)
		os.Exit(1)
	}
}

// The workload of bench/csbench.go (and bench/bench.c): the same IDs, names and manifests.
func imageID(i int) string {
	h := sha256.Sum256([]byte("image-" + strconv.Itoa(i)))
	return hex.EncodeToString(h[:])
}

func imageName(i int) string { return fmt.Sprintf("example.com/repo%d:tag", i) }

func manifest(i int) []byte {
	return []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":1500},"layers":[]}`, imageID(i)))
}

// containers/storage store.go makeBigDataBaseName, verbatim.
func makeBigDataBaseName(key string) string {
	reader := strings.NewReader(key)
	for reader.Len() > 0 {
		ch, size, err := reader.ReadRune()
		if err != nil || size != 1 {
			break
		}
		if ch != '.' && !(ch >= '0' && ch <= '9') && !(ch >= 'a' && ch <= 'z') {
			break
		}
	}
	if reader.Len() > 0 {
		return "=" + base64.StdEncoding.EncodeToString([]byte(key))
	}
	return key
}

func writeFile(path string, data []byte) {
	w, err := ioutils.NewAtomicFileWriterWithOpts(path, 0600, &ioutils.AtomicFileWriterOptions{NoSync: true})
	must(err)
	_, err = w.Write(data)
	must(err)
	must(w.Close())
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: cs-synth DIR N")
		os.Exit(2)
	}
	dir := filepath.Join(os.Args[1], "graph", "vfs-images")
	n, err := strconv.Atoi(os.Args[2])
	must(err)
	if _, err := os.Stat(filepath.Join(dir, "images.lock")); err != nil {
		must(fmt.Errorf("%s is not an initialised store (run csbench create DIR 0 first): %w", dir, err))
	}
	config := make([]byte, 1500)
	for i := range config {
		config[i] = 'c'
	}
	images := make([]*storage.Image, 0, n)
	for i := 0; i < n; i++ {
		id := imageID(i)
		m := manifest(i)
		md := digest.FromBytes(m)
		ck := "sha256:" + id
		must(os.MkdirAll(filepath.Join(dir, id), 0700))
		writeFile(filepath.Join(dir, id, makeBigDataBaseName("manifest")), m)
		writeFile(filepath.Join(dir, id, makeBigDataBaseName(ck)), config)
		// As CreateImage(id, names, "", "{}", ...) then SetBigData("manifest")
		// (which sets Digest through recomputeDigests) and SetBigData(config).
		images = append(images, &storage.Image{
			ID:             id,
			Digest:         md,
			Names:          []string{imageName(i)},
			Metadata:       "{}",
			BigDataNames:   []string{"manifest", ck},
			BigDataSizes:   map[string]int64{"manifest": int64(len(m)), ck: int64(len(config))},
			BigDataDigests: map[string]digest.Digest{"manifest": md, ck: digest.Canonical.FromBytes(config)},
			Created:        time.Now().UTC(),
			Flags:          map[string]interface{}{},
		})
	}
	json := jsoniter.ConfigCompatibleWithStandardLibrary
	jdata, err := json.Marshal(&images)
	must(err)
	writeFile(filepath.Join(dir, "images.json"), jdata)
	// Save() ends with r.Touch(): a new last-writer ID in images.lock. Without
	// it the lock file stays empty, and every later call of csbench would see
	// the store as modified by another process and reload all of it.
	lk, err := storage.GetLockfile(filepath.Join(dir, "images.lock"))
	must(err)
	lk.Lock()
	must(lk.Touch())
	lk.Unlock()
	syscall.Sync()
}

// cswriter: the containers/storage side of `make interop` (interop/run). It
// opens a containers/storage Store (vfs driver) under ROOT and runs a scripted,
// seeded sequence of image operations through the public Store API, one
// operation per step: CreateImage, SetImageBigData (manifests, configs under
// "sha256:<id>", binary and empty items), SetNames, AddNames (fresh names and
// names taken from other images), RemoveNames, SetMetadata, DeleteImage.
//
//	cswriter ROOT LOG SEED LOCKSTEP FREE
//
// After each step it appends the state it committed to LOG, as c/storage's own
// API reports it (Images(), and ImageBigData for every item):
//
//	C <TAB> step <TAB> phase <TAB> operation <TAB> state
//	H <TAB> step <TAB> id <TAB> key <TAB> sha256:<hex of the bytes> <TAB> length
//
// state is the canonical JSON that interop/reader.c prints too (see state()).
// Lockstep phase (the initial images, then LOCKSTEP random steps): after each
// step it prints "step N" on stdout and waits for "ack N" on stdin. Then it
// prints "free" and runs FREE random steps as fast as it can, prints "end",
// and waits for "bye". A line "done <steps>" ends LOG.
//
// With --reader it is instead a reader with interop/reader.c's command line,
// protocol and output, reading through a second c/storage Store of its own:
// interop/run --self-test runs it to show that the checks hold for
// containers/storage reading itself (a baseline free of false alarms):
//
//	cswriter --reader DIR serve LOG | DIR dump | DIR loop N
//
// (DIR is <root>/graph/vfs-images.)
//
// Built by interop/run from Debian's packaged Go sources, without modules, as
// bench/run builds bench/csbench.go:
//
//	GO111MODULE=off GOPATH=$cache:/usr/share/gocode go build -o cswriter interop/cswriter.go
package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/containers/storage"
	"github.com/containers/storage/types"
	digest "github.com/opencontainers/go-digest"
)

const initialImages = 20

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "cswriter: "+format+"\n", args...)
	os.Exit(1)
}

func check(what string, err error) {
	if err != nil {
		fail("%s: %v", what, err)
	}
}

// quote is the canonical string encoding both sides use: '"', '\\' and bytes
// below 0x20 escaped, every other byte as it is.
func quote(b *strings.Builder, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20:
			fmt.Fprintf(b, "\\u%04x", c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
}

func quoteList(b *strings.Builder, list []string) {
	b.WriteByte('[')
	for i, s := range list {
		if i > 0 {
			b.WriteByte(',')
		}
		quote(b, s)
	}
	b.WriteByte(']')
}

// image is one image's canonical JSON: names and big-data items in their
// order, digests sorted (c/storage builds that list from a map).
func image(b *strings.Builder, img *storage.Image) {
	b.WriteString(`{"id":`)
	quote(b, img.ID)
	b.WriteString(`,"names":`)
	quoteList(b, img.Names)
	b.WriteString(`,"names_history":`)
	quoteList(b, img.NamesHistory)
	b.WriteString(`,"digest":`)
	quote(b, img.Digest.String())
	digests := make([]string, 0, len(img.Digests))
	for _, d := range img.Digests {
		digests = append(digests, d.String())
	}
	sort.Strings(digests)
	b.WriteString(`,"digests":`)
	quoteList(b, digests)
	b.WriteString(`,"layer":`)
	quote(b, img.TopLayer)
	b.WriteString(`,"metadata":`)
	quote(b, img.Metadata)
	b.WriteString(`,"created":`)
	quote(b, img.Created.Format(time.RFC3339Nano))
	b.WriteString(`,"big_data":[`)
	for i, key := range img.BigDataNames {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"key":`)
		quote(b, key)
		size, ok := img.BigDataSizes[key]
		if !ok {
			size = -1
		}
		b.WriteString(`,"size":` + strconv.FormatInt(size, 10) + `,"digest":`)
		quote(b, img.BigDataDigests[key].String())
		b.WriteByte('}')
	}
	b.WriteString("]}")
}

type writer struct {
	s      storage.Store
	log    *bufio.Writer
	in     *bufio.Scanner
	rng    *rand.Rand
	step   int
	serial int      // for fresh names, IDs and contents
	ids    []string // the images that exist, in creation order
	images map[string]storage.Image
	names  map[string]string // name -> image ID
	phase  string
}

// commit logs the state after a step, from c/storage's API.
func (w *writer) commit(op string) {
	w.step++
	imgs, err := w.s.Images()
	check("Images", err)
	sort.Slice(imgs, func(i, j int) bool { return imgs[i].ID < imgs[j].ID })
	var b strings.Builder
	b.WriteByte('[')
	w.images = make(map[string]storage.Image, len(imgs))
	w.names = make(map[string]string)
	for i := range imgs {
		if i > 0 {
			b.WriteByte(',')
		}
		image(&b, &imgs[i])
		w.images[imgs[i].ID] = imgs[i]
		for _, n := range imgs[i].Names {
			w.names[n] = imgs[i].ID
		}
	}
	b.WriteByte(']')
	fmt.Fprintf(w.log, "C\t%d\t%s\t%s\t%s\n", w.step, w.phase, op, b.String())
	for i := range imgs {
		for _, key := range imgs[i].BigDataNames {
			data, err := w.s.ImageBigData(imgs[i].ID, key)
			check("ImageBigData "+imgs[i].ID+" "+key, err)
			sum := sha256.Sum256(data)
			fmt.Fprintf(w.log, "H\t%d\t%s\t%s\tsha256:%s\t%d\n", w.step, imgs[i].ID, key,
				hex.EncodeToString(sum[:]), len(data))
		}
	}
	check("log", w.log.Flush())
	if len(w.images) != len(w.ids) {
		fail("step %d: c/storage lists %d images, the script expects %d", w.step, len(w.images), len(w.ids))
	}
	if w.phase == "lockstep" {
		fmt.Printf("step %d\n", w.step)
		w.expect(fmt.Sprintf("ack %d", w.step))
	}
}

func (w *writer) expect(line string) {
	if !w.in.Scan() {
		fail("step %d: the reader closed its side instead of answering %q", w.step, line)
	}
	if got := w.in.Text(); got != line {
		fail("step %d: the reader answered %q, expected %q", w.step, got, line)
	}
}

func (w *writer) fresh() int { w.serial++; return w.serial }

func idFor(n int) string {
	sum := sha256.Sum256([]byte("interop-" + strconv.Itoa(n)))
	return hex.EncodeToString(sum[:])
}

func manifestFor(id string, n int) []byte {
	return []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",` +
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:` + id +
		`","size":1500},"layers":[],"annotations":{"serial":"` + strconv.Itoa(n) + `"}}`)
}

func manifestDigest(m []byte) (digest.Digest, error) { return digest.FromBytes(m), nil }

func (w *writer) pick() string { return w.ids[w.rng.Intn(len(w.ids))] }

func (w *writer) create(names []string) string {
	n := w.fresh()
	id := idFor(n)
	opts := &storage.ImageOptions{}
	if n%2 == 1 {
		opts.CreationDate = time.Date(2023, 1, 2, 3, 4, 5, 123456789, time.UTC).Add(time.Duration(n) * time.Second)
	}
	if n%3 == 0 {
		opts.Digest = digest.FromString("searchable-" + strconv.Itoa(n))
	}
	metadata := ""
	if n%4 == 1 {
		metadata = `{"note":"image ` + strconv.Itoa(n) + ` \"quoted\", tab\t, ünïcødé"}`
	}
	_, err := w.s.CreateImage(id, names, "", metadata, opts)
	check("CreateImage "+id, err)
	w.ids = append(w.ids, id)
	w.commit(fmt.Sprintf("CreateImage %s names=%v", id[:12], names))
	return id
}

func (w *writer) setBigData(id, key string, data []byte) {
	var dm func([]byte) (digest.Digest, error)
	if strings.HasPrefix(key, "manifest") {
		dm = manifestDigest
	}
	check("SetImageBigData "+id+" "+key, w.s.SetImageBigData(id, key, data, dm))
	w.commit(fmt.Sprintf("SetImageBigData %s %s (%d bytes)", id[:12], key, len(data)))
}

func (w *writer) freshName() string {
	return fmt.Sprintf("registry.example/ns/app%d:v%d", w.rng.Intn(8), w.fresh())
}

func (w *writer) populate() {
	for i := 1; i <= initialImages; i++ {
		names := []string{fmt.Sprintf("registry.example/ns/app%d:v1", i)}
		if i%2 == 0 {
			names = append(names, fmt.Sprintf("localhost/app%d:latest", i))
		}
		id := w.create(names)
		w.setBigData(id, "manifest", manifestFor(id, i))
		config := make([]byte, 1500)
		for j := range config {
			config[j] = 'c'
		}
		w.setBigData(id, "sha256:"+id, config)
		if i%4 == 0 {
			sig := []byte{0, 1, 2, 0xff, 0xfe, '\n', 0, 'x'}
			w.setBigData(id, "signature-"+id[:16], sig)
		}
		if i%5 == 0 {
			w.setBigData(id, "empty", nil)
		}
	}
}

// random runs one step chosen at random.
func (w *writer) random() {
	id := w.pick()
	img := w.images[id]
	switch r := w.rng.Intn(100); {
	case r < 18: // tag: a fresh name
		name := w.freshName()
		check("AddNames", w.s.AddNames(id, []string{name}))
		w.commit(fmt.Sprintf("AddNames %s %s", id[:12], name))
	case r < 26: // tag: a name another image holds, which loses it
		var others []string
		for n, owner := range w.names {
			if owner != id {
				others = append(others, n)
			}
		}
		taken := w.freshName()
		if len(others) > 0 {
			sort.Strings(others)
			taken = others[w.rng.Intn(len(others))]
		}
		check("AddNames", w.s.AddNames(id, []string{taken}))
		w.commit(fmt.Sprintf("AddNames %s %s (taken from %s)", id[:12], taken, w.names[taken]))
	case r < 40: // untag
		if len(img.Names) == 0 {
			name := w.freshName()
			check("AddNames", w.s.AddNames(id, []string{name}))
			w.commit(fmt.Sprintf("AddNames %s %s", id[:12], name))
			return
		}
		name := img.Names[w.rng.Intn(len(img.Names))]
		check("RemoveNames", w.s.RemoveNames(id, []string{name}))
		w.commit(fmt.Sprintf("RemoveNames %s %s", id[:12], name))
	case r < 52: // rename
		names := []string{w.freshName()}
		if w.rng.Intn(2) == 0 {
			names = append(names, w.freshName())
		}
		check("SetNames", w.s.SetNames(id, names))
		w.commit(fmt.Sprintf("SetNames %s %v", id[:12], names))
	case r < 66: // replace the manifest
		w.setBigData(id, "manifest", manifestFor(id, w.fresh()))
	case r < 71: // another image's manifest under a second manifest key
		other := w.pick()
		data, err := w.s.ImageBigData(other, "manifest")
		if err != nil {
			data = manifestFor(other, w.fresh())
		}
		w.setBigData(id, "manifest-"+digest.FromBytes(data).String(), data)
	case r < 75: // a binary item, new or replaced
		sig := []byte{0, byte(w.fresh()), 0xff, '"', '\\', 0}
		w.setBigData(id, "signature-"+id[:16], sig)
	case r < 83:
		md := fmt.Sprintf(`{"step":%d,"s":"\"x\"\n"}`, w.fresh())
		check("SetMetadata", w.s.SetMetadata(id, md))
		w.commit(fmt.Sprintf("SetMetadata %s", id[:12]))
	case r < 91 && len(w.ids) > 8:
		_, err := w.s.DeleteImage(id, true)
		check("DeleteImage "+id, err)
		for i, x := range w.ids {
			if x == id {
				w.ids = append(w.ids[:i], w.ids[i+1:]...)
				break
			}
		}
		w.commit(fmt.Sprintf("DeleteImage %s", id[:12]))
	default:
		w.create([]string{w.freshName()})
	}
}

// ---- --reader: interop/reader.c's protocol, through c/storage --------------

type csReader struct {
	s        storage.Store
	log      *bufio.Writer
	last     string
	seen     map[string]bool
	names    []string
	ids      []string
	known    map[string]bool
	failures int
}

func errAnswer(err error) string {
	// Lookup ends with ErrLayerUnknown when nothing has the name
	if errors.Is(err, storage.ErrImageUnknown) || errors.Is(err, storage.ErrLayerUnknown) ||
		errors.Is(err, os.ErrNotExist) {
		return "ERR ENOTFOUND"
	}
	return "ERR " + err.Error()
}

func (r *csReader) fail(where string, err error) {
	fmt.Fprintf(r.log, "E\t%s\tEGO\t%v\n", where, err)
	r.failures++
}

func (r *csReader) bigData(id, key string) string {
	data, err := r.s.ImageBigData(id, key)
	if err != nil {
		return errAnswer(err)
	}
	sum := sha256.Sum256(data)
	return fmt.Sprintf("sha256:%s\t%d", hex.EncodeToString(sum[:]), len(data))
}

func (r *csReader) images() ([]storage.Image, string, bool) {
	imgs, err := r.s.Images()
	if err != nil {
		r.fail("images", err)
		return nil, "", false
	}
	sort.Slice(imgs, func(i, j int) bool { return imgs[i].ID < imgs[j].ID })
	var b strings.Builder
	b.WriteByte('[')
	for i := range imgs {
		if i > 0 {
			b.WriteByte(',')
		}
		image(&b, &imgs[i])
	}
	b.WriteByte(']')
	return imgs, b.String(), true
}

func (r *csReader) readAll(label string) {
	imgs, state, ok := r.images()
	if !ok {
		return
	}
	fmt.Fprintf(r.log, "A\t%s\t%s\n", label, state)
	for _, img := range imgs {
		for _, key := range img.BigDataNames {
			fmt.Fprintf(r.log, "AH\t%s\t%s\t%s\t%s\n", label, img.ID, key, r.bigData(img.ID, key))
		}
	}
}

func (r *csReader) answer(kind, query, ans string) {
	line := kind + "\t" + query + "\t" + ans
	if !r.seen[line] {
		r.seen[line] = true
		fmt.Fprintln(r.log, line)
	}
}

func (r *csReader) get(id string) {
	img, err := r.s.Image(id)
	if err != nil {
		r.answer("G", id, errAnswer(err))
		return
	}
	var b strings.Builder
	image(&b, img)
	r.answer("G", id, b.String())
}

func (r *csReader) lookup(name string) {
	id, err := r.s.Lookup(name)
	if err != nil {
		id = errAnswer(err)
	}
	r.answer("L", name, id)
}

func (r *csReader) round(n int) {
	imgs, state, ok := r.images()
	if !ok {
		return
	}
	if state != r.last {
		fmt.Fprintf(r.log, "S\t%s\n", state)
		r.last = state
		r.seen = map[string]bool{}
	}
	for _, img := range imgs {
		if !r.known[img.ID] {
			r.known[img.ID] = true
			r.ids = append(r.ids, img.ID)
		}
		for _, name := range img.Names {
			if !r.known[name] {
				r.known[name] = true
				r.names = append(r.names, name)
			}
		}
	}
	if len(r.ids) > 0 {
		r.get(r.ids[n%len(r.ids)])
	}
	if len(r.names) > 0 {
		r.lookup(r.names[n%len(r.names)])
	}
	if len(imgs) == 0 {
		return
	}
	img := imgs[n%len(imgs)]
	r.get(img.ID)
	for _, name := range img.Names {
		r.lookup(name)
	}
	for _, d := range img.Digests {
		found, err := r.s.ImagesByDigest(d)
		if err != nil {
			r.answer("D", d.String(), errAnswer(err))
			continue
		}
		ids := make([]string, 0, len(found))
		for _, f := range found {
			ids = append(ids, f.ID)
		}
		sort.Strings(ids)
		r.answer("D", d.String(), strings.Join(ids, ","))
	}
	for _, key := range img.BigDataNames {
		r.answer("B", img.ID+"\t"+key, r.bigData(img.ID, key))
	}
}

func (r *csReader) serve() {
	in := make(chan string)
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			in <- sc.Text()
		}
		close(in)
	}()
	for line := range in {
		var step int
		switch {
		case strings.HasPrefix(line, "step "):
			if _, err := fmt.Sscanf(line, "step %d", &step); err != nil {
				fail("reader: %q: %v", line, err)
			}
			r.readAll(strconv.Itoa(step))
			check("log", r.log.Flush())
			fmt.Printf("ack %d\n", step)
		case line == "free":
			rounds := 0
			var cmd string
			for done := false; !done; {
				r.round(rounds)
				rounds++
				select {
				case cmd = <-in:
					done = true
				default:
				}
			}
			fmt.Fprintf(r.log, "# free loop: %d rounds\n", rounds)
			if cmd != "end" {
				fail("reader: expected \"end\", got %q", cmd)
			}
			r.readAll("final")
			check("log", r.log.Flush())
			fmt.Println("bye")
		default:
			fail("reader: unknown command %q", line)
		}
	}
}

func readerMain(args []string) {
	if len(args) < 2 {
		fail("usage: cswriter --reader DIR serve LOG | DIR dump | DIR loop N")
	}
	root := filepath.Dir(filepath.Dir(args[0]))
	s, err := storage.GetStore(types.StoreOptions{
		RunRoot:         root + "/run",
		GraphRoot:       root + "/graph",
		GraphDriverName: "vfs",
	})
	check("GetStore "+root, err)
	r := &csReader{s: s, log: bufio.NewWriter(os.Stdout), seen: map[string]bool{}, known: map[string]bool{}}
	switch {
	case args[1] == "serve" && len(args) == 3:
		f, err := os.Create(args[2])
		check("log", err)
		r.log = bufio.NewWriter(f)
		r.serve()
		check("log", r.log.Flush())
		check("log", f.Close())
	case args[1] == "dump":
		r.readAll("dump")
	case args[1] == "loop" && len(args) == 3:
		n, err := strconv.Atoi(args[2])
		check("loop count", err)
		for i := 0; i < n; i++ {
			r.round(i)
		}
	default:
		fail("usage: cswriter --reader DIR serve LOG | DIR dump | DIR loop N")
	}
	check("log", r.log.Flush())
	if r.failures > 0 {
		os.Exit(3)
	}
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "--reader" {
		readerMain(os.Args[2:])
		return
	}
	if len(os.Args) != 6 {
		fmt.Fprintln(os.Stderr, "usage: cswriter ROOT LOG SEED LOCKSTEP FREE")
		os.Exit(2)
	}
	root, logPath := os.Args[1], os.Args[2]
	var nums [3]int
	for i := range nums {
		n, err := strconv.Atoi(os.Args[3+i])
		if err != nil || n < 0 {
			fail("%q is not a count", os.Args[3+i])
		}
		nums[i] = n
	}
	f, err := os.Create(logPath)
	check("log", err)
	s, err := storage.GetStore(types.StoreOptions{
		RunRoot:         root + "/run",
		GraphRoot:       root + "/graph",
		GraphDriverName: "vfs",
	})
	check("GetStore "+root, err)
	w := &writer{s: s, log: bufio.NewWriter(f), in: bufio.NewScanner(os.Stdin),
		rng: rand.New(rand.NewSource(int64(nums[0]))), phase: "lockstep"}
	w.populate()
	for i := 0; i < nums[1]; i++ {
		w.random()
	}
	fmt.Println("free")
	w.phase = "free"
	for i := 0; i < nums[2]; i++ {
		w.random()
	}
	_, err = s.Shutdown(true)
	check("Shutdown", err)
	fmt.Fprintf(w.log, "done\t%d\n", w.step)
	check("log", w.log.Flush())
	check("log", f.Close())
	fmt.Println("end")
	w.expect("bye")
}

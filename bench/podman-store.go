// podman-store: writes a containers/storage store (vfs driver) of N images
// that Podman lists as it lists pulled ones, for the command's benchmark
// (bench/cli.sh, `make bench-cli`).
//
//	podman-store GRAPHROOT RUNROOT N
//
// Everything goes through containers/storage's own Store API (PutLayer,
// CreateImage, SetImageBigData), recorded as containers/image's storage
// destination records a pulled image. Image i has one tiny layer (a tar of
// one 16-byte file, /bench/<i>), whose ID is its diff ID's hex as for a
// base layer; an OCI config (amd64/linux, rootfs.diff_ids, history, created
// 1 minute earlier per i) whose digest is the image ID; an OCI manifest
// naming both; the name "example.com/bench/app<i>:v1", and every tenth
// image a second one, "example.com/bench/app<i>:latest". Big data as
// containers/image writes it: the config under "sha256:<ID>", the manifest
// under "manifest-<digest>" and "manifest"; metadata "{}"; the image's
// digest is the manifest's.
//
// `podman images` lists such a store as fast as one of the same images made
// by `podman import` (checked by hand at N=200: 0.26 s each).
//
// Built like bench/csbench.go, from Debian's packaged Go sources without
// modules (bench/go_build.sh). Each CreateImage and SetImageBigData rewrites
// images.json, so this is O(N^2): about 40 s at N=1000 on the 2-core VM.
package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/containers/storage"
	"github.com/containers/storage/pkg/reexec"
	"github.com/containers/storage/types"
	digest "github.com/opencontainers/go-digest"
)

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "podman-store: "+format+"\n", args...)
	os.Exit(1)
}

func check(what string, err error) {
	if err != nil {
		fail("%s: %v", what, err)
	}
}

// layerTar: one 16-byte file, bench/<i>, in a tar (the layer's diff).
func layerTar(i int, when time.Time) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	body := []byte(fmt.Sprintf("layer %9d\n", i))
	check("tar", tw.WriteHeader(&tar.Header{Name: "bench/", Typeflag: tar.TypeDir, Mode: 0755, ModTime: when}))
	check("tar", tw.WriteHeader(&tar.Header{Name: "bench/" + strconv.Itoa(i), Typeflag: tar.TypeReg,
		Mode: 0644, Size: int64(len(body)), ModTime: when}))
	_, err := tw.Write(body)
	check("tar", err)
	check("tar", tw.Close())
	return buf.Bytes()
}

type descriptor struct {
	MediaType string        `json:"mediaType"`
	Digest    digest.Digest `json:"digest"`
	Size      int64         `json:"size"`
}

func main() {
	if reexec.Init() { // PutLayer applies each diff in a re-executed child
		return
	}
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: podman-store GRAPHROOT RUNROOT N")
		os.Exit(2)
	}
	n, err := strconv.Atoi(os.Args[3])
	if err != nil || n < 0 {
		fail("N must be a count, not %q", os.Args[3])
	}
	s, err := storage.GetStore(types.StoreOptions{
		GraphRoot:       os.Args[1],
		RunRoot:         os.Args[2],
		GraphDriverName: "vfs",
	})
	check("open "+os.Args[1], err)

	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		created := base.Add(-time.Duration(i) * time.Minute)
		diff := layerTar(i, created)
		diffID := digest.FromBytes(diff)
		layer, _, err := s.PutLayer(diffID.Hex(), "", nil, "", false, nil, bytes.NewReader(diff))
		check("put layer", err)

		config, err := json.Marshal(map[string]any{
			"created":      created,
			"architecture": "amd64",
			"os":           "linux",
			"config": map[string]any{
				"Env": []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
				"Cmd": []string{"/bin/sh"},
				"Labels": map[string]string{
					"org.opencontainers.image.title": "app" + strconv.Itoa(i),
				},
			},
			"rootfs": map[string]any{"type": "layers", "diff_ids": []digest.Digest{diffID}},
			"history": []map[string]any{
				{"created": created, "created_by": "/bin/sh -c #(nop) ADD file:bench-" + strconv.Itoa(i) + " in /bench"},
			},
		})
		check("config", err)
		configDigest := digest.FromBytes(config)
		manifest, err := json.Marshal(map[string]any{
			"schemaVersion": 2,
			"mediaType":     "application/vnd.oci.image.manifest.v1+json",
			"config":        descriptor{"application/vnd.oci.image.config.v1+json", configDigest, int64(len(config))},
			"layers":        []descriptor{{"application/vnd.oci.image.layer.v1.tar", diffID, int64(len(diff))}},
		})
		check("manifest", err)
		manifestDigest := digest.FromBytes(manifest)

		id := configDigest.Hex()
		names := []string{"example.com/bench/app" + strconv.Itoa(i) + ":v1"}
		if i%10 == 0 {
			names = append(names, "example.com/bench/app"+strconv.Itoa(i)+":latest")
		}
		_, err = s.CreateImage(id, names, layer.ID, "{}",
			&storage.ImageOptions{CreationDate: created, Digest: manifestDigest})
		check("create image "+id, err)
		sum := func([]byte) (digest.Digest, error) { return manifestDigest, nil }
		check("config", s.SetImageBigData(id, configDigest.String(), config, nil))
		check("manifest", s.SetImageBigData(id, "manifest-"+manifestDigest.String(), manifest, sum))
		check("manifest", s.SetImageBigData(id, storage.ImageDigestBigDataKey, manifest, sum))
	}
	_, err = s.Shutdown(true)
	check("shutdown", err)
}

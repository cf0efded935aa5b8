#!/usr/bin/env bash
# examples/cli-demo.sh CLI STORE FIXTURES: the imagestore command on a store
# it fills from the fixtures (part of `make demo`). Each command is shown
# before it runs.
set -euo pipefail
cli=$1 store=$2 fixtures=$3
rm -rf "$store"
show_arg() {
    case $1 in
        *[!A-Za-z0-9_./:@=-]*) printf " '%s'" "$1" ;;
        *) printf ' %s' "$1" ;;
    esac
}
run() {
    printf '\n$ imagestore'
    for a in "$@"; do show_arg "$a"; done
    printf '\n'
    "$cli" --root "$store" "$@"
}
run import "$fixtures/oci-layout" "$fixtures/docker-archive-tools-2.3.tar"
run images
run tag quay.io/acme/tools:2.3 example.com/tools:stable
run images --format '{{.ID}}  {{.Repository}}:{{.Tag}}  {{.Size}}'
run inspect --format '{{.FullID}} {{.Digest}}' example.com/tools:stable
run untag 7d6555ccc876
run gc --dangling --yes
run usage
run check
# a Podman store (a copy of the fixture), read in containers/storage's layout
rm -rf "$store-podman"
cp -a "$fixtures/containers-storage/vfs-images" "$store-podman"
printf '\n$ imagestore --root %s images\n' "$store-podman"
"$cli" --root "$store-podman" images

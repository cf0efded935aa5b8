# bench/go_build.sh: sourced by bench/run and bench/cli.sh (which define log
# and root, and may set BENCH_GO_BUILD).
#
# go_build SRC BIN: builds one Go file, a program of its own, against Debian's
# packaged sources in /usr/share/gocode (GOPATH mode: Debian packages no
# modules); only when SRC is newer than BIN.
BENCH_GO_BUILD=${BENCH_GO_BUILD:-${TMPDIR:-/tmp}/imagestore-bench-go}  # Go's build cache
go_build() {
    local src=$1 bin=$2
    [ -x "$bin" ] && [ ! "$src" -nt "$bin" ] && return 0
    log "containers/storage: building $bin from ${src#"$root/"} (the first build takes a minute or two)"
    mkdir -p "$BENCH_GO_BUILD" "$(dirname "$bin")"
    GO111MODULE=off GOPATH="$BENCH_GO_BUILD:/usr/share/gocode" GOFLAGS= \
        GOCACHE="$BENCH_GO_BUILD/cache" go build -o "$bin" "$src" >&2
}

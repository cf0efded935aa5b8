#!/usr/bin/env bash
# bench/cli.sh: the command's speed (issue 14) against Podman's, on the same
# N images (default 1000). bench/run (`make bench`) runs it; `make bench-cli`
# runs it alone.
#
#   bash bench/cli.sh DIR [N]
#
# 1. Installs Debian's podman, golang-go and containers/storage's Go sources
#    if missing (scripts/ensure-deps), and builds bench/podman-store.go.
# 2. Writes DIR/cs, a containers/storage store (vfs) of N images through
#    containers/storage's own API (bench/podman-store.go), and checks that
#    `podman images` (with --format json too) and `imagestore images` (with
#    --json too) list the same IDs and names, N images in all.
# 3. `imagestore --root DIR/ours import DIR/cs/graph/vfs-images`, timed once,
#    and the same check on DIR/ours.
# 4. Wall time of each command, from this shell's fork to the child's exit,
#    stdout to a file: one warm-up round, then BENCH_CLI_REPEAT rounds, each
#    round running every command once in turn (so that drift reaches all):
#      podman --storage-driver vfs --root DIR/cs/graph --runroot /tmp/imagestore-cli.XXXXXX
#             images / images --format json
#      imagestore --root DIR/cs/graph/vfs-images images / images --json
#             (containers/storage's store, through the read-only reader)
#      imagestore --root DIR/ours images / images --json   (after the import)
# 5. Start-up: BENCH_CLI_LOOP runs of `imagestore --version`, of `imagestore
#    --root DIR/ours inspect NAME` (one image of N) and of `podman --version`,
#    in a loop, BENCH_CLI_REPEAT times.
#
# One JSON line per timed run on stdout (bench/report.lua reads them):
#   {"impl":"podman"|"imagestore-cli","phase":P,"n":N,"cache":"warm"|"warmup",
#    "run":R,"seconds":S,"per_op_us":U,"command":"..."}
# Progress on stderr. BENCH_PODMAN=0: nothing is run. What it writes in DIR
# is removed at the end (BENCH_CLI_KEEP=1 keeps it). Exit status 3 after an
# error, which is also a JSON line ({"impl":"error",...}).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:?usage: bench/cli.sh DIR [N]}
n=${2:-1000}
BENCH_OUT=${BENCH_OUT:-$root/build/bench}
IMAGESTORE_BIN=${IMAGESTORE_BIN:-$root/build/bin/imagestore}
BENCH_CLI_REPEAT=${BENCH_CLI_REPEAT:-5}
BENCH_CLI_LOOP=${BENCH_CLI_LOOP:-50}
BENCH_CLI_KEEP=${BENCH_CLI_KEEP:-0}
BENCH_PODMAN=${BENCH_PODMAN:-1}
STORE_BIN=$BENCH_OUT/podman-store
unset IMAGESTORE_CONFIG

t_start=$(date +%s)
log() { printf '[bench-cli %4ds] %s\n' "$(( $(date +%s) - t_start ))" "$*" >&2; }
# failed WHAT: an error line for the report, and exit 3 (bench/run's
# run_phase: failed, already recorded)
failed() {
    log "error: $*"
    printf '{"impl":"error","command":"bench/cli.sh","error":"%s"}\n' "$(printf '%s' "$*" | tr -d '"\\' | cut -c1-200)"
    exit 3
}

if [ "$BENCH_PODMAN" = 0 ]; then
    log "BENCH_PODMAN=0: the command against Podman is not measured"
    exit 0
fi
[ -x "$IMAGESTORE_BIN" ] || failed "$IMAGESTORE_BIN is missing (make cli)"
[[ "$n" =~ ^[1-9][0-9]*$ ]] || failed "N must be a positive count, not $n"

# ---- Podman, containers/storage, the store ------------------------------------------
. "$root/bench/go_build.sh"
bash "$root/scripts/ensure-deps" podman golang-go golang-github-containers-storage-dev \
    golang-github-ulikunitz-xz-dev >&2 || failed "podman or containers/storage's Go packages are missing and could not be installed"
go_build "$root/bench/podman-store.go" "$STORE_BIN" || failed "bench/podman-store.go did not build"

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)   # podman wants the same absolute root every time
case "$(stat -f -c %T "$dir")" in
    tmpfs|ramfs) failed "$dir is on tmpfs: use a disk-backed directory" ;;
esac
cs=$dir/cs ours=$dir/ours out=$dir/out
rm -rf "$cs" "$ours" "$out"*
# Podman refuses a runroot longer than 50 characters: its own, short, in /tmp
# (where Podman's default, /run/containers/storage, is a tmpfs too).
runroot=$(mktemp -d /tmp/imagestore-cli.XXXXXX)
cleanup() {
    [ "$BENCH_CLI_KEEP" = 1 ] && return
    rm -rf "$cs" "$ours" "$out"* "$runroot"
    rmdir "$dir" 2> /dev/null || true
}
trap cleanup EXIT

podman=(podman --storage-driver vfs --root "$cs/graph" --runroot "$runroot")
ims_cs=("$IMAGESTORE_BIN" --root "$cs/graph/vfs-images")
ims_own=("$IMAGESTORE_BIN" --root "$ours")
podman_version=$(podman --version | awk '{ print $NF }')

log "writing a containers/storage store of $n images (bench/podman-store.go; O(N^2), like containers/storage's create)"
t0=$(date +%s)
"$STORE_BIN" "$cs/graph" "$runroot" "$n" >&2 || failed "bench/podman-store.go failed"
log "store written in $(( $(date +%s) - t0 ))s"

# Each image has one name, every tenth a second: the rows of `images`.
rows=$(( n + (n + 9) / 10 ))
# same_list WHAT IMAGESTORE...: podman's IDs and names are imagestore's, and
# both JSON lists have their N images (podman 4.3.1: one entry per name).
same_list() {
    local what=$1
    shift
    "${podman[@]}" images --no-trunc --format '{{.ID}} {{.Repository}}:{{.Tag}}' 2> "$out.err" \
        | sed 's/^sha256://' | sort > "$out.podman" || failed "podman images failed on $cs: $(tail -1 "$out.err")"
    "$@" images --format '{{.FullID}} {{.Repository}}:{{.Tag}}' 2> "$out.err" | sort > "$out.ours" \
        || failed "imagestore images failed on $what: $(tail -1 "$out.err")"
    [ "$(wc -l < "$out.podman")" = "$rows" ] \
        || failed "podman images listed $(wc -l < "$out.podman") rows, want $rows"
    cmp -s "$out.podman" "$out.ours" \
        || failed "imagestore images on $what does not list what podman images lists: $(diff "$out.podman" "$out.ours" | head -3 | tr '\n' ' ')"
    "${podman[@]}" images --format json > "$out.podman" 2> "$out.err" \
        || failed "podman images --format json failed: $(tail -1 "$out.err")"
    "$@" images --json > "$out.ours" 2> "$out.err" \
        || failed "imagestore images --json failed on $what: $(tail -1 "$out.err")"
    local verdict
    verdict=$("${BENCH_LUA:-lua5.4}" - "$root/bench" "$out.podman" "$out.ours" "$n" "$rows" <<'LUA'
package.path = arg[1] .. "/?.lua;" .. package.path
local json = require("json")
local function load(path) local f = assert(io.open(path)); local t = json.decode(f:read("a")); f:close(); return t end
local p, o, n, rows = load(arg[2]), load(arg[3]), tonumber(arg[4]), tonumber(arg[5])
if #p ~= rows then print(("podman images --format json gave %d entries, want %d"):format(#p, rows)) return end
if #o ~= n then print(("imagestore images --json gave %d images, want %d"):format(#o, n)) return end
local seen, pairs_p = {}, 0
for _, e in ipairs(p) do  -- podman 4.3.1: the same image once per name
  for _, name in ipairs(e.Names) do
    local k = e.Id .. " " .. name
    if not seen[k] then seen[k] = true; pairs_p = pairs_p + 1 end
  end
end
local pairs_o = 0
for _, e in ipairs(o) do
  for _, name in ipairs(e.names) do
    pairs_o = pairs_o + 1
    if not seen[e.id .. " " .. name] then print("imagestore lists " .. e.id .. " " .. name .. ", podman does not") return end
  end
end
if pairs_o ~= pairs_p then print(("%d names in podman's JSON, %d in imagestore's"):format(pairs_p, pairs_o)) return end
print("same")
LUA
)
    [ "$verdict" = same ] || failed "JSON lists of $what: $verdict"
    log "$what: podman and imagestore list the same $n images ($rows names), in both formats"
}
same_list "containers/storage's store, read-only" "${ims_cs[@]}"

# ---- timing -----------------------------------------------------------------------
now_us() { local t=${EPOCHREALTIME/[.,]/}; echo "$t"; }
secs() { printf '%d.%06d' $(( $1 / 1000000 )) $(( $1 % 1000000 )); }
# line IMPL PHASE CACHE RUN US OPS COMMAND [EXTRA]
line() {
    printf '{"impl":"%s","phase":"%s","n":%d,"cache":"%s","run":%d,"seconds":%s,"per_op_us":%d.%03d,"command":"%s"%s}\n' \
        "$1" "$2" "$n" "$3" "$4" "$(secs "$5")" $(( $5 / $6 )) $(( ($5 % $6) * 1000 / $6 )) "$7" "${8:-}"
}
# timed CMD...: runs CMD, stdout to $out, and sets `us` to its wall time
timed() {
    local t0 rc=0
    t0=$(now_us)
    "$@" > "$out" 2> "$out.err" || rc=$?
    us=$(( $(now_us) - t0 ))
    [ "$rc" = 0 ] || failed "$* exited $rc: $(tail -1 "$out.err")"
}

log "imagestore import of the $n images into its own store"
sync   # not to pay for the store's writeback: the import's writes are durable
timed "${ims_own[@]}" import "$cs/graph/vfs-images"
added=$(grep -c '^added ' "$out") || true
[ "$added" = "$n" ] || failed "imagestore import added $added images, want $n"
line imagestore-cli cli-import-cs warm 1 "$us" "$n" "imagestore import <containers/storage store>" \
    ",\"images_per_s\":$(( n * 1000000 / us ))"
same_list "imagestore's own store, after the import" "${ims_own[@]}"

printf '{"impl":"meta-cli","podman":"%s","n":%d,"repeat":%d,"loop":%d,"loadavg_start":"%s"}\n' \
    "$podman_version" "$n" "$BENCH_CLI_REPEAT" "$BENCH_CLI_LOOP" "$(cut -d' ' -f1-3 /proc/loadavg)"

# IMPL|PHASE|COMMAND NAME, then the command's words after the separator
labels=(
    "podman|cli-images|podman images"
    "podman|cli-images-json|podman images --format json"
    "imagestore-cli|cli-images-cs|imagestore images (containers/storage's store)"
    "imagestore-cli|cli-images-json-cs|imagestore images --json (containers/storage's store)"
    "imagestore-cli|cli-images-own|imagestore images (own store)"
    "imagestore-cli|cli-images-json-own|imagestore images --json (own store)"
)
run_cmd() {
    case $1 in
        0) timed "${podman[@]}" images ;;
        1) timed "${podman[@]}" images --format json ;;
        2) timed "${ims_cs[@]}" images ;;
        3) timed "${ims_cs[@]}" images --json ;;
        4) timed "${ims_own[@]}" images ;;
        5) timed "${ims_own[@]}" images --json ;;
    esac
}
log "images, images --json / --format json: a warm-up round, then $BENCH_CLI_REPEAT rounds"
for r in $(seq 0 "$BENCH_CLI_REPEAT"); do
    cache=warm
    [ "$r" = 0 ] && cache=warmup
    for i in "${!labels[@]}"; do
        IFS='|' read -r impl phase name <<< "${labels[$i]}"
        run_cmd "$i"
        line "$impl" "$phase" "$cache" "$r" "$us" 1 "$name"
    done
done

# loop K CMD...: K runs of CMD in a row; `us` is their total
loop() {
    local k=$1 t0 i
    shift
    t0=$(now_us)
    for (( i = 0; i < k; i++ )); do
        "$@" > "$out" 2> "$out.err" || failed "$* failed: $(tail -1 "$out.err")"
    done
    us=$(( $(now_us) - t0 ))
}
log "start-up: $BENCH_CLI_LOOP runs in a loop of imagestore --version, imagestore inspect, podman --version; $BENCH_CLI_REPEAT times"
for r in $(seq 0 "$BENCH_CLI_REPEAT"); do
    cache=warm
    [ "$r" = 0 ] && cache=warmup
    loop "$BENCH_CLI_LOOP" "$IMAGESTORE_BIN" --version
    line imagestore-cli cli-version "$cache" "$r" "$us" "$BENCH_CLI_LOOP" "imagestore --version" \
        ",\"loop\":$BENCH_CLI_LOOP"
    loop "$BENCH_CLI_LOOP" "${ims_own[@]}" inspect example.com/bench/app0:v1
    line imagestore-cli cli-inspect-own "$cache" "$r" "$us" "$BENCH_CLI_LOOP" "imagestore inspect NAME (own store)" \
        ",\"loop\":$BENCH_CLI_LOOP"
    loop "$BENCH_CLI_LOOP" podman --version
    line podman cli-version "$cache" "$r" "$us" "$BENCH_CLI_LOOP" "podman --version" \
        ",\"loop\":$BENCH_CLI_LOOP"
done
log "done in $(( $(date +%s) - t_start ))s"

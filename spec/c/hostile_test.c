/*
 * A hostile disk, seed by seed. For each seed (a splitmix64 stream):
 *
 *  1. a temp root with store/ and a sentinel tree outside/ beside it (files,
 *     directories, one named like an image ID with a valid record in it, a
 *     .quarantine-looking one, a .tmp-looking one, a symlink); a store of 3-6
 *     images made through the C API (names, metadata, big data under
 *     "manifest", "config", "sha256:<hex>" ("=" base64 file names), ...),
 *     mostly in one batch, sometimes with enough changes that the snapshot
 *     gets written, sometimes reopened once by a daemon;
 *  2. 1-3 damages from the table below: symlinks at every depth (an image
 *     directory, a record, a big-data file, .quarantine, the lock file, the
 *     snapshot, new entries in the store and in an image), FIFOs, hard links
 *     into outside/, subdirectories, store files of the wrong type,
 *     truncation, bad bytes, invalid UTF-8, deep nesting, \u0000, 50000 names
 *     (4000 under ASan), a damaged lock file or snapshot, a containers/storage
 *     images.json (a read-only open then reads that array, and none of the
 *     image directories); and for one seed in five an injected EIO
 *     (spec/faults/fault_shim.c): the nth call of a kind, or every call on
 *     one image's files, on the snapshot, on the lock file, or everywhere.
 *     Then what must not change is recorded: every entry of outside/ (type,
 *     mode, size, FNV hash, link target), and the directory of every image
 *     no damage reached ("intact");
 *  3. in a forked child with alarm(20): an open in each mode (plain,
 *     read-only, daemon; the order varies by seed), every read operation on
 *     every image and on refs that lead outside, load(), usage(), check(),
 *     a dry-run gc(), repair() and gc() (on a read-only store both must
 *     fail), close; then a fresh read-only open
 *     without faults;
 *  4. then: the child neither crashed (signal, sanitizer report, leak) nor
 *     hung; outside/ is unchanged; each intact image is unchanged on disk,
 *     entry by entry and byte by byte (not quarantined, dropped or
 *     rewritten); so are records that are valid but odd (200-deep unknown
 *     key, 50000 names, \u0000 in a name) and an image whose reads all fail
 *     (EIO is no reason to move it); and the child's own checks held: intact
 *     images read back whole in every open, nothing outside/ holds comes
 *     back through the API, every problem path is in the store, and open
 *     fails only when a store-wide file (lock file, .quarantine, a foreign
 *     images.json) or an injected fault makes it refuse, with a message.
 *     Failures the API returns are fine; after an injected fault fired that
 *     could reach an intact image, the child excuses failures, but never
 *     wrong data.
 *
 * The test re-executes itself once under the shim, and that process runs the
 * fault seeds and a share of the others, beside this one. One TAP line per
 * seed ("not ok" lines name the class: [hang], [crash], [sanitizer], [leak],
 * [outside-changed], [intact-moved], [intact-changed], [intact], [escape],
 * [path], [open], ...). Environment:
 *   IMAGESTORE_HOSTILE_SEEDS  how many seeds (default 500)
 *   IMAGESTORE_HOSTILE_FIRST  the first seed (default 1)
 *   IMAGESTORE_HOSTILE_KEEP   set: keep the temp root of a failing seed
 *                             ("all": of every seed)
 *   TMPDIR                    where the temp roots go (default /dev/shm when
 *                             writable, else /tmp: fsyncs on a disk would
 *                             triple the run time)
 * One seed again: IMAGESTORE_HOSTILE_FIRST=S IMAGESTORE_HOSTILE_SEEDS=1 <this>
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "image_store.h"

#define PATH_LEN 4096
#define MAX_IMAGES 6
#define MAX_NAMES 3
#define MAX_ITEMS 4
#define MAX_DAMAGES 3
#define ALARM_SECONDS 20
#define EXIT_ASSERT 3 /* the child's own checks failed (ASan exits 1, LSan 23) */
#define MARK "OUTSIDE-SECRET"
#define FAULT_PERCENT 20

/* ---- a PRNG (splitmix64) -------------------------------------------------- */

typedef struct rng {
    uint64_t state;
} rng;

static uint64_t rnd(rng *r)
{
    uint64_t z = (r->state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static size_t below(rng *r, size_t n) { return n ? (size_t)(rnd(r) % n) : 0; }
static bool chance(rng *r, unsigned percent) { return below(r, 100) < percent; }

static void random_hex(rng *r, char *out, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++)
        out[i] = hex[below(r, 16)];
    out[n] = '\0';
}

/* ---- growing text ---------------------------------------------------------- */

typedef struct buf {
    char *s;
    size_t len, cap;
} buf;

static void buf_add(buf *b, const void *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *s = realloc(b->s, cap);
        if (s == NULL)
            abort();
        b->s = s;
        b->cap = cap;
    }
    if (n > 0)
        memcpy(b->s + b->len, p, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void buf_adds(buf *b, const char *s) { buf_add(b, s, strlen(s)); }

static void buf_addf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_addf(buf *b, const char *fmt, ...)
{
    char *s = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        abort();
    buf_add(b, s, (size_t)n);
    free(s);
}

static const char *buf_str(const buf *b) { return b->s ? b->s : ""; }

/* One line of TAP: control characters (a file name may hold any) become '?'. */
static void one_line(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20)
            *s = '?';
}

static void buf_free(buf *b)
{
    free(b->s);
    memset(b, 0, sizeof(*b));
}

/* ---- files ------------------------------------------------------------------ */

static const char *pathf(char out[PATH_LEN], const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static const char *pathf(char out[PATH_LEN], const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, PATH_LEN, fmt, ap);
    va_end(ap);
    return out;
}

static bool write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644);
    if (fd < 0)
        return false;
    const char *p = data;
    bool ok = true;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            ok = false;
            break;
        }
        p += n;
        len -= (size_t)n;
    }
    return close(fd) == 0 && ok;
}

/* A regular file's bytes (NUL-terminated), never through a symlink and never
 * blocking on a FIFO; NULL otherwise. */
static char *read_file(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return NULL;
    }
    size_t cap = (size_t)st.st_size + 1, used = 0;
    char *data = malloc(cap + 1);
    while (data != NULL) {
        if (used == cap) {
            char *grown = realloc(data, cap * 2 + 1);
            if (grown == NULL) {
                free(data);
                data = NULL;
                break;
            }
            data = grown;
            cap *= 2;
        }
        ssize_t n = read(fd, data + used, cap - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            free(data);
            data = NULL;
            break;
        }
        if (n == 0)
            break;
        used += (size_t)n;
    }
    close(fd);
    if (data != NULL) {
        data[used] = '\0';
        *len = used;
    }
    return data;
}

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)type;
    (void)ftw;
    remove(path);
    return 0;
}

static void rm_rf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode))
        nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    else
        unlink(path);
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static bool is_file(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* ---- a stable picture of a tree: sorted lines, contents hashed ------------------ */

static uint64_t fnv(const char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 0x100000001b3ULL;
    return h;
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void describe(buf *out, const char *path, const char *rel);

static void describe_dir(buf *out, const char *path, const char *rel)
{
    DIR *d = opendir(path);
    if (d == NULL) {
        buf_addf(out, "%s/ unreadable\n", rel);
        return;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            names = realloc(names, cap * sizeof(char *));
            if (names == NULL)
                abort();
        }
        if ((names[n++] = strdup(e->d_name)) == NULL)
            abort();
    }
    closedir(d);
    if (n > 1)
        qsort(names, n, sizeof(char *), compare_strings);
    for (size_t i = 0; i < n; i++) {
        char sub[PATH_LEN], subrel[PATH_LEN];
        describe(out, pathf(sub, "%s/%s", path, names[i]), pathf(subrel, "%s/%s", rel, names[i]));
        free(names[i]);
    }
    free(names);
}

/* One line per entry: what it is, its mode, size and content hash or target. */
static void describe(buf *out, const char *path, const char *rel)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        buf_addf(out, "%s missing\n", rel);
        return;
    }
    unsigned mode = (unsigned)st.st_mode & 07777;
    if (S_ISLNK(st.st_mode)) {
        char target[PATH_LEN];
        ssize_t n = readlink(path, target, sizeof(target) - 1);
        target[n > 0 ? n : 0] = '\0';
        buf_addf(out, "%s link -> %s\n", rel, target);
    } else if (S_ISDIR(st.st_mode)) {
        buf_addf(out, "%s dir %o\n", rel, mode);
        describe_dir(out, path, rel);
    } else if (S_ISREG(st.st_mode)) {
        size_t len = 0;
        char *data = read_file(path, &len);
        buf_addf(out, "%s file %o %lld %016" PRIx64 "\n", rel, mode, (long long)st.st_size,
                 data ? fnv(data, len) : 0);
        free(data);
    } else if (S_ISFIFO(st.st_mode)) {
        buf_addf(out, "%s fifo %o\n", rel, mode);
    } else {
        buf_addf(out, "%s other %o\n", rel, mode);
    }
}

static char *picture(const char *path)
{
    buf b = {0};
    describe(&b, path, ".");
    return b.s;
}

/* "<line before> => <line after>" for the first line that differs. */
static void first_difference(const char *a, const char *b, char *out, size_t outlen)
{
    while (*a && *b) {
        size_t la = strcspn(a, "\n"), lb = strcspn(b, "\n");
        if (la != lb || memcmp(a, b, la) != 0) {
            snprintf(out, outlen, "'%.*s' => '%.*s'", (int)(la > 160 ? 160 : la), a,
                     (int)(lb > 160 ? 160 : lb), b);
            return;
        }
        a += la + (a[la] == '\n');
        b += lb + (b[lb] == '\n');
    }
    snprintf(out, outlen, "'%.*s' => '%.*s'", (int)strcspn(a, "\n"), a, (int)strcspn(b, "\n"), b);
}

/* ---- keys and records -------------------------------------------------------------- */

static void base64(char *out, const unsigned char *in, size_t len)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)in[i] << 16;
        if (i + 1 < len)
            v |= (unsigned)in[i + 1] << 8;
        if (i + 2 < len)
            v |= in[i + 2];
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < len ? tab[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? tab[v & 63] : '=';
    }
    out[o] = '\0';
}

/* The file a big-data key is stored in (docs/contract.md). */
static void key_file(char out[256], const char *key)
{
    bool verbatim = true;
    for (const char *p = key; *p; p++)
        verbatim = verbatim && (*p == '.' || (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z'));
    if (verbatim) {
        snprintf(out, 256, "%s", key);
        return;
    }
    out[0] = '=';
    base64(out + 1, (const unsigned char *)key, strlen(key));
}

typedef struct item {
    char key[96];
    char file[256];
    char *data;
    size_t len;
    char digest[72];
} item;

typedef struct image {
    char id[65];
    char names[MAX_NAMES][96];
    size_t nnames;
    char metadata[96];
    item items[MAX_ITEMS];
    size_t nitems;
    int damages;     /* damages that reached it */
    int odd_damages; /* of which: a valid but odd record, or reads that fail */
    const char *keep; /* why it must stay as it is though damaged: "odd-record", "eio-image" */
    bool gone;       /* its directory was moved away */
    char *picture;   /* its directory before the operations (intact and odd ones) */
} image;

static bool image_intact(const image *im) { return im->damages == 0; }
static bool image_odd(const image *im) { return im->damages > 0 && im->damages == im->odd_damages; }

static void json_string(buf *b, const char *s)
{
    buf_adds(b, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            buf_addf(b, "\\%c", c);
        else if (c < 0x20)
            buf_addf(b, "\\u%04x", c);
        else
            buf_add(b, s, 1);
    }
    buf_adds(b, "\"");
}

/* A record as another tool might write it. */
static void make_record(buf *b, const char *id, const char (*names)[96], size_t nnames,
                        const char *metadata, const item *items, size_t nitems)
{
    buf_adds(b, "{\"id\":");
    json_string(b, id);
    if (nnames > 0) {
        buf_adds(b, ",\"names\":[");
        for (size_t i = 0; i < nnames; i++) {
            buf_adds(b, i ? "," : "");
            json_string(b, names[i]);
        }
        buf_adds(b, "]");
    }
    buf_adds(b, ",\"metadata\":");
    json_string(b, metadata);
    if (nitems > 0) {
        buf_adds(b, ",\"big-data-names\":[");
        for (size_t i = 0; i < nitems; i++) {
            buf_adds(b, i ? "," : "");
            json_string(b, items[i].key);
        }
        buf_adds(b, "],\"big-data-sizes\":{");
        for (size_t i = 0; i < nitems; i++) {
            buf_adds(b, i ? "," : "");
            json_string(b, items[i].key);
            buf_addf(b, ":%zu", items[i].len);
        }
        buf_adds(b, "},\"big-data-digests\":{");
        for (size_t i = 0; i < nitems; i++) {
            buf_adds(b, i ? "," : "");
            json_string(b, items[i].key);
            buf_adds(b, ":");
            json_string(b, items[i].digest);
        }
        buf_adds(b, "}");
    }
    buf_adds(b, ",\"created\":\"2017-07-10T12:46:57.770791248Z\"}");
}

/* ---- one seed's world ------------------------------------------------------------------ */

typedef struct world {
    uint64_t seed;
    char root[PATH_LEN], store[PATH_LEN], outside[PATH_LEN];
    image img[MAX_IMAGES];
    size_t n;
    size_t keeper;          /* never damaged */
    bool snapshot;          /* the snapshot existed after setup */
    bool may_refuse_open;   /* a store-wide file may make open refuse */
    bool foreign_layout;    /* <dir>/images.json: read-only opens read its array */
    char layout_id[65];     /* an image only that array holds */
    char fake_id[65];       /* outside/<fake_id>/ holds a valid record */
    item fake_manifest;
    char fault[96];         /* IMAGESTORE_FAULT for the child, "" for none */
    char fault_path[PATH_LEN]; /* IMAGESTORE_FAULT_PATH, "" for none */
    bool fault_strict;      /* the fault cannot reach an intact image: nothing is excused */
    int order[3];           /* the open modes, in the order they run */
    buf what;               /* the damages, for the TAP line */
    char *outside_picture;
} world;

static void note(world *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(world *w, const char *fmt, ...)
{
    char *s = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        abort();
    va_end(ap);
    buf_adds(&w->what, w->what.len ? ", " : "");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) /* names may hold anything */
        if (*p < 0x20 || *p >= 0x7f || *p == '#')
            buf_addf(&w->what, "\\x%02x", *p);
        else
            buf_add(&w->what, p, 1);
    free(s);
}

static void world_free(world *w)
{
    for (size_t k = 0; k < MAX_IMAGES; k++) {
        for (size_t i = 0; i < w->img[k].nitems; i++)
            free(w->img[k].items[i].data);
        free(w->img[k].picture);
    }
    free(w->fake_manifest.data);
    free(w->outside_picture);
    buf_free(&w->what);
}

static void fill_item(rng *r, item *it, const char *key, uint64_t seed)
{
    snprintf(it->key, sizeof(it->key), "%.95s", key);
    key_file(it->file, it->key);
    size_t roll = below(r, 100);
    it->len = roll < 10 ? 0 : roll < 40 ? 1 + below(r, 64) : 64 + below(r, 2000);
    it->data = malloc(it->len + 1);
    if (it->data == NULL)
        abort();
    if (strcmp(key, "manifest") == 0) {
        int n = snprintf(it->data, it->len + 1, "{\"schemaVersion\":2,\"seed\":%" PRIu64 ",\"r\":%" PRIu64 "}",
                         seed, rnd(r));
        for (size_t i = n > 0 ? (size_t)n : 0; i < it->len; i++)
            it->data[i] = (char)('a' + below(r, 26));
    } else {
        for (size_t i = 0; i < it->len; i++)
            it->data[i] = (char)rnd(r);
    }
    it->data[it->len] = '\0';
    image_store_sha256(it->digest, it->data, it->len);
}

static void make_images(world *w, rng *r)
{
    static const char *const tags[] = {"v1", "latest", "2.0"};
    w->n = 3 + below(r, 4);
    for (size_t k = 0; k < w->n; k++) {
        image *im = &w->img[k];
        random_hex(r, im->id, 64);
        im->nnames = 1 + below(r, MAX_NAMES);
        for (size_t j = 0; j < im->nnames; j++) {
            if (j == 2)
                snprintf(im->names[j], sizeof(im->names[j]), "img%zu-s%" PRIu64, k, w->seed);
            else
                snprintf(im->names[j], sizeof(im->names[j]), "hostile.example/s%" PRIu64 "/img%zu:%s",
                         w->seed, k, tags[j]);
        }
        snprintf(im->metadata, sizeof(im->metadata), "{\"seed\":%" PRIu64 ",\"image\":%zu}", w->seed, k);
        char keys[5][96];
        size_t nkeys = 0;
        if (chance(r, 85))
            snprintf(keys[nkeys++], 96, "manifest");
        if (chance(r, 50))
            snprintf(keys[nkeys++], 96, "config");
        if (chance(r, 40)) {
            char hex[65];
            random_hex(r, hex, 64);
            snprintf(keys[nkeys++], 96, "sha256:%s", hex);
        }
        if (chance(r, 25)) {
            char hex[65];
            random_hex(r, hex, 64);
            snprintf(keys[nkeys++], 96, "manifest-sha256:%s", hex);
        }
        if (chance(r, 25))
            snprintf(keys[nkeys++], 96, "signature-1");
        for (size_t i = 0; i < nkeys && im->nitems < MAX_ITEMS; i++)
            fill_item(r, &im->items[im->nitems++], keys[i], w->seed);
    }
    w->keeper = below(r, w->n);
}

static void make_outside(world *w, rng *r)
{
    char p[PATH_LEN], text[256];
    const char *dirs[] = {"", "/sub", "/sub/deeper", "/.quarantine", "/.tmp-00112233445566aa"};
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
        mkdir(pathf(p, "%s%s", w->outside, dirs[i]), 0755);
    int n = snprintf(text, sizeof(text), "%s-%" PRIu64 ": nothing here may change\n", MARK, w->seed);
    write_file(pathf(p, "%s/secret.txt", w->outside), text, (size_t)n);
    write_file(pathf(p, "%s/sub/deeper/file.txt", w->outside), text, (size_t)n);
    write_file(pathf(p, "%s/.quarantine/keep", w->outside), text, (size_t)n);
    write_file(pathf(p, "%s/.tmp-00112233445566aa/file", w->outside), text, (size_t)n);
    char bin[2048];
    size_t len = 64 + below(r, sizeof(bin) - 64);
    memcpy(bin, MARK, strlen(MARK));
    for (size_t i = strlen(MARK); i < len; i++)
        bin[i] = (char)rnd(r);
    write_file(pathf(p, "%s/data.bin", w->outside), bin, len);
    symlink("secret.txt", pathf(p, "%s/link-to-secret", w->outside));
    /* a directory named like an image, with a valid record: bait */
    random_hex(r, w->fake_id, 64);
    mkdir(pathf(p, "%s/%s", w->outside, w->fake_id), 0755);
    item *m = &w->fake_manifest;
    snprintf(m->key, sizeof(m->key), "manifest");
    snprintf(m->file, sizeof(m->file), "manifest");
    m->data = strdup(text);
    m->len = (size_t)n;
    image_store_sha256(m->digest, m->data, m->len);
    write_file(pathf(p, "%s/%s/manifest", w->outside, w->fake_id), m->data, m->len);
    char names[1][96];
    snprintf(names[0], sizeof(names[0]), "outside.example/fake:s%" PRIu64, w->seed);
    buf rec = {0};
    make_record(&rec, w->fake_id, names, 1, MARK " fake record", m, 1);
    write_file(pathf(p, "%s/%s/images.json", w->outside, w->fake_id), rec.s, rec.len);
    buf_free(&rec);
}

/* The store, through the API. false with the reason in *err. */
static bool make_store(world *w, rng *r, buf *err)
{
    image_store_t st;
    bool ok = false, batch = chance(r, 90), snapshot = batch && chance(r, 40);
    if (new_image_store(false, false, w->store, &st) != 0) {
        buf_addf(err, "setup: open: %s", image_store_error_message(&st));
        image_store_close(&st);
        return false;
    }
    if (batch && image_store_batch_begin(&st) != 0) {
        buf_addf(err, "setup: batch: %s", image_store_error_message(&st));
        goto out;
    }
    for (size_t k = 0; k < w->n; k++) {
        image *im = &w->img[k];
        const char *names[MAX_NAMES];
        for (size_t j = 0; j < im->nnames; j++)
            names[j] = im->names[j];
        char layer[65];
        random_hex(r, layer, 64);
        if (st.create(im->id, names, im->nnames, chance(r, 50) ? layer : NULL, im->metadata,
                      (timestamp){1500000000 + (int64_t)k, 5}, NULL, &st, NULL) != 0) {
            buf_addf(err, "setup: create: %s", image_store_error_message(&st));
            goto out;
        }
        for (size_t i = 0; i < im->nitems; i++)
            if (st.set_big_data_len(&st, im->id, im->items[i].key, im->items[i].data,
                                    im->items[i].len) != 0) {
                buf_addf(err, "setup: set_big_data: %s", image_store_error_message(&st));
                goto out;
            }
    }
    /* enough changes that the commit writes the snapshot */
    for (int i = 0; snapshot && i < 70; i++)
        if (st.set_size(&st, w->img[(size_t)i % w->n].id, 1000 + i) != 0) {
            buf_addf(err, "setup: set_size: %s", image_store_error_message(&st));
            goto out;
        }
    if (batch && image_store_batch_commit(&st) != 0) {
        buf_addf(err, "setup: commit: %s", image_store_error_message(&st));
        goto out;
    }
    ok = true;
out:
    image_store_close(&st);
    if (ok && chance(r, 15)) { /* a daemon had it open once */
        if (new_image_store(true, false, w->store, &st) != 0) {
            buf_addf(err, "setup: daemon open: %s", image_store_error_message(&st));
            ok = false;
        }
        image_store_close(&st);
    }
    char p[PATH_LEN];
    w->snapshot = is_file(pathf(p, "%s/.imagestore.snapshot", w->store));
    return ok;
}

/* ---- damages ---------------------------------------------------------------------------- */

/* An image other than the keeper whose directory is still in place, or -1. */
static int victim(world *w, rng *r)
{
    size_t cand[MAX_IMAGES], n = 0;
    for (size_t k = 0; k < w->n; k++)
        if (k != w->keeper && !w->img[k].gone)
            cand[n++] = k;
    if (n == 0)
        return -1;
    size_t k = cand[below(r, n)];
    w->img[k].damages++;
    return (int)k;
}

/* A path in image k: its record, or one of its big-data files. */
static const char *image_file(world *w, rng *r, size_t k, bool record, char out[PATH_LEN],
                              const char **label)
{
    image *im = &w->img[k];
    if (record || im->nitems == 0) {
        *label = "images.json";
        return pathf(out, "%s/%s/images.json", w->store, im->id);
    }
    item *it = &im->items[below(r, im->nitems)];
    *label = it->file;
    return pathf(out, "%s/%s/%s", w->store, im->id, it->file);
}

/* Replaces path with a regular file holding data: in place, or by a rename
 * (which changes the directory, so the snapshot stops vouching for it). */
static void replace_file(const char *path, const void *data, size_t len, bool by_rename)
{
    struct stat st;
    bool regular = lstat(path, &st) == 0 && S_ISREG(st.st_mode);
    if (!by_rename && regular) {
        write_file(path, data, len);
        return;
    }
    char tmp[PATH_LEN];
    const char *slash = strrchr(path, '/');
    pathf(tmp, "%.*s/.hostile-new", (int)(slash - path), path);
    unlink(tmp);
    if (exists(path) && !regular)
        rm_rf(path);
    if (write_file(tmp, data, len))
        rename(tmp, path);
}

/* A symlink target: absolute, or relative from a directory depth levels below the root. */
static const char *link_target(world *w, rng *r, int depth, const char *rel, char out[PATH_LEN])
{
    if (chance(r, 50))
        return pathf(out, "%s/%s", w->outside, rel);
    return pathf(out, "%s%s%s", depth == 2 ? "../../outside" : "../outside", rel[0] ? "/" : "", rel);
}

static void d_link_dir(world *w, rng *r)
{
    int k = victim(w, r);
    if (k < 0)
        return;
    image *im = &w->img[k];
    char from[PATH_LEN], to[PATH_LEN], p[PATH_LEN], target[PATH_LEN], rel[96];
    snprintf(rel, sizeof(rel), "moved-%.12s", im->id);
    rename(pathf(from, "%s/%s", w->store, im->id), pathf(to, "%s/%s", w->outside, rel));
    buf rec = {0};
    make_record(&rec, im->id, (const char(*)[96])im->names, im->nnames, MARK " moved", im->items,
                im->nitems);
    write_file(pathf(p, "%s/images.json", to), rec.s, rec.len);
    buf_free(&rec);
    bool to_root = chance(r, 30);
    symlink(link_target(w, r, 1, to_root ? "" : rel, target), from);
    im->gone = true;
    note(w, "link-dir(img%d -> %s)", k, to_root ? "outside/" : "its copy in outside/");
}

static void d_link_record(world *w, rng *r)
{
    int k = victim(w, r);
    if (k < 0)
        return;
    image *im = &w->img[k];
    char rel[96], p[PATH_LEN], target[PATH_LEN];
    snprintf(rel, sizeof(rel), "rec-%.12s.json", im->id);
    buf rec = {0};
    make_record(&rec, im->id, (const char(*)[96])im->names, im->nnames, MARK " record", im->items,
                im->nitems);
    write_file(pathf(p, "%s/%s", w->outside, rel), rec.s, rec.len);
    buf_free(&rec);
    rm_rf(pathf(p, "%s/%s/images.json", w->store, im->id));
    symlink(link_target(w, r, 2, rel, target), p);
    note(w, "link-record(img%d)", k);
}

static void d_link_bigdata(world *w, rng *r)
{
    int k = victim(w, r);
    if (k < 0)
        return;
    static const char *const targets[] = {"secret.txt", "data.bin", "sub", NULL};
    char p[PATH_LEN], target[PATH_LEN], fake[128];
    const char *label, *t = targets[below(r, 4)];
    if (t == NULL) {
        snprintf(fake, sizeof(fake), "%s/manifest", w->fake_id);
        t = fake;
    }
    image *im = &w->img[k];
    if (im->nitems == 0) {
        label = "manifest";
        pathf(p, "%s/%s/manifest", w->store, im->id);
    } else {
        image_file(w, r, (size_t)k, false, p, &label);
    }
    rm_rf(p);
    symlink(link_target(w, r, 2, t, target), p);
    note(w, "link-bigdata(img%d/%.24s -> %.20s)", k, label, t);
}

/* Something a daemon or repair would quarantine. */
static void plant_bait(world *w, rng *r)
{
    char p[PATH_LEN], id[65];
    random_hex(r, id, 64);
    switch (below(r, 3)) {
    case 0:
        mkdir(pathf(p, "%s/not-an-image", w->store), 0700);
        write_file(pathf(p, "%s/not-an-image/x", w->store), "x", 1);
        break;
    case 1:
        mkdir(pathf(p, "%s/%s", w->store, id), 0700);
        write_file(pathf(p, "%s/%s/manifest", w->store, id), "m", 1);
        break;
    default:
        mkdir(pathf(p, "%s/%s", w->store, id), 0700);
        write_file(pathf(p, "%s/%s/images.json", w->store, id), "{garbage", 8);
        break;
    }
}

static void d_link_quarantine(world *w, rng *r)
{
    char p[PATH_LEN], target[PATH_LEN];
    bool to_root = chance(r, 40);
    rm_rf(pathf(p, "%s/.quarantine", w->store));
    symlink(link_target(w, r, 1, to_root ? "" : ".quarantine", target), p);
    plant_bait(w, r);
    w->may_refuse_open = true;
    note(w, "link-quarantine(-> outside/%s)", to_root ? "" : ".quarantine");
}

static void d_link_in_store(world *w, rng *r)
{
    char p[PATH_LEN], target[PATH_LEN], name[80], id[65];
    const char *t;
    switch (below(r, 4)) {
    case 0:
        snprintf(name, sizeof(name), "%s", w->fake_id);
        t = w->fake_id;
        break;
    case 1:
        snprintf(name, sizeof(name), "zz-link");
        t = "";
        break;
    case 2:
        snprintf(name, sizeof(name), ".tmp-%016" PRIx64, rnd(r));
        t = "sub";
        break;
    default:
        random_hex(r, id, 64);
        snprintf(name, sizeof(name), "%s", id);
        t = "secret.txt";
        break;
    }
    symlink(link_target(w, r, 1, t, target), pathf(p, "%s/%s", w->store, name));
    note(w, "link-in-store(%.16s -> outside/%.16s)", name, t);
}

/* A name for a new entry in an image directory. */
static void new_entry_name(rng *r, char out[256], const char *plain)
{
    char key[96], hex[65];
    switch (below(r, 6)) {
    case 4: /* as long as a name gets */
        memset(out, 'x', 255);
        out[255] = '\0';
        break;
    case 5:
        snprintf(out, 256, "=not base64\n\x01\xff");
        break;
    case 0:
        snprintf(out, 256, "%s", plain);
        break;
    case 1:
        random_hex(r, hex, 64);
        snprintf(key, sizeof(key), "sha256:%s", hex);
        key_file(out, key);
        break;
    case 2:
        snprintf(out, 256, ".tmp-%016" PRIx64, rnd(r));
        break;
    default:
        snprintf(out, 256, "not a key!");
        break;
    }
}

static void d_link_in_image(world *w, rng *r)
{
    int k = victim(w, r);
    if (k < 0)
        return;
    static const char *const targets[] = {"secret.txt", "sub", "data.bin"};
    char name[256], p[PATH_LEN], target[PATH_LEN];
    const char *t = targets[below(r, 3)];
    new_entry_name(r, name, "extra");
    symlink(link_target(w, r, 2, t, target), pathf(p, "%s/%s/%s", w->store, w->img[k].id, name));
    note(w, "link-in-image(img%d/%.20s -> outside/%s)", k, name, t);
}

static void d_link_lock(world *w, rng *r)
{
    char p[PATH_LEN], copy[PATH_LEN], target[PATH_LEN];
    size_t len = 0;
    char *data = read_file(pathf(p, "%s/.imagestore.lock", w->store), &len);
    write_file(pathf(copy, "%s/lock-copy", w->outside), data ? data : MARK, data ? len : strlen(MARK));
    free(data);
    rm_rf(p);
    symlink(link_target(w, r, 1, "lock-copy", target), p);
    w->may_refuse_open = true;
    note(w, "link-lock");
}

static void d_link_snapshot(world *w, rng *r)
{
    char p[PATH_LEN], copy[PATH_LEN], target[PATH_LEN];
    size_t len = 0;
    char *data = read_file(pathf(p, "%s/.imagestore.snapshot", w->store), &len);
    write_file(pathf(copy, "%s/snapshot-copy", w->outside), data ? data : MARK,
               data ? len : strlen(MARK));
    free(data);
    rm_rf(p);
    symlink(link_target(w, r, 1, "snapshot-copy", target), p);
    note(w, "link-snapshot%s", w->snapshot ? "" : "(none before)");
}

static void d_fifo_image(world *w, rng *r, bool record)
{
    int k = victim(w, r);
    if (k < 0)
        return;
    char p[PATH_LEN];
    const char *label;
    image_file(w, r, (size_t)k, record, p, &label);
    rm_rf(p);
    mkfifo(p, 0600);
    note(w, "fifo(img%d/%.24s)", k, label);
}

static void d_fifo_record(world *w, rng *r) { d_fifo_image(w, r, true); }
static void d_fifo_bigdata(world *w, rng *r) { d_fifo_image(w, r, false); }

static void d_fifo_lock(world *w, rng *r)
{
    (void)r;
    char p[PATH_LEN];
    rm_rf(pathf(p, "%s/.imagestore.lock", w->store));
    mkfifo(p, 0600);
    w->may_refuse_open = true;
    note(w, "fifo(lock)");
}

static void d_fifo_snapshot(world *w, rng *r)
{
    (void)r;
    char p[PATH_LEN];
    rm_rf(pathf(p, "%s/.imagestore.snapshot", w->store));
    mkfifo(p, 0600);
    note(w, "fifo(snapshot%s)", w->snapshot ? "" : ", none before");
}

static void d_fifo_in_image(world *w, rng *r)
{
    int k = victim(w, r);
    if (k < 0)
        return;
    char name[256], p[PATH_LEN];
    new_entry_name(r, name, "config2");
    mkfifo(pathf(p, "%s/%s/%s", w->store, w->img[k].id, name), 0600);
    note(w, "fifo-in-image(img%d/%.20s)", k, name);
}

static void d_subdir(world *w, rng *r)
{
    int k = victim(w, r);
    if (k < 0)
        return;
    image *im = &w->img[k];
    char name[256], p[PATH_LEN], q[PATH_LEN], target[PATH_LEN];
    const char *label = NULL;
    switch (below(r, 4)) {
    case 0:
        snprintf(name, sizeof(name), "layers");
        break;
    case 1: /* the record is a directory */
        snprintf(name, sizeof(name), "images.json");
        break;
    case 2: /* a big-data file is a directory */
        if (im->nitems > 0) {
            snprintf(name, sizeof(name), "%s", im->items[below(r, im->nitems)].file);
            break;
        }
        /* fall through */
    default:
        new_entry_name(r, name, "config.d");
        break;
    }
    label = name;
    pathf(p, "%s/%s/%s", w->store, im->id, name);
    rm_rf(p);
    mkdir(p, 0700);
    write_file(pathf(q, "%s/inner", p), "inner", 5);
    bool with_link = chance(r, 30);
    if (with_link)
        symlink(link_target(w, r, 0, "secret.txt", target), pathf(q, "%s/escape", p));
    note(w, "subdir(img%d/%.20s%s)", k, label, with_link ? " with a link out" : "");
}

/* A store-wide file as a damage target: lock or snapshot. */
static const char *store_file(world *w, bool lock, char out[PATH_LEN])
{
    return pathf(out, "%s/%s", w->store, lock ? ".imagestore.lock" : ".imagestore.snapshot");
}

static void truncate_to(world *w, rng *r, const char *p, const char *label)
{
    struct stat st;
    if (lstat(p, &st) != 0 || !S_ISREG(st.st_mode)) {
        note(w, "trunc(%s: not a file)", label);
        return;
    }
    off_t len = chance(r, 40) || st.st_size == 0 ? 0 : (off_t)below(r, (size_t)st.st_size);
    if (truncate(p, len) != 0)
        note(w, "trunc(%s: %s)", label, strerror(errno));
    else
        note(w, "trunc(%s to %lld of %lld)", label, (long long)len, (long long)st.st_size);
}

static void d_trunc_image(world *w, rng *r, bool record)
{
    int k = victim(w, r);
    if (k < 0)
        return;
    char p[PATH_LEN], label[300];
    const char *file;
    image_file(w, r, (size_t)k, record, p, &file);
    snprintf(label, sizeof(label), "img%d/%.24s", k, file);
    truncate_to(w, r, p, label);
}

static void d_trunc_record(world *w, rng *r) { d_trunc_image(w, r, true); }
static void d_trunc_bigdata(world *w, rng *r) { d_trunc_image(w, r, false); }

static void d_trunc_lock(world *w, rng *r)
{
    char p[PATH_LEN];
    w->may_refuse_open = true;
    truncate_to(w, r, store_file(w, true, p), "lock");
}

static void d_trunc_snapshot(world *w, rng *r)
{
    char p[PATH_LEN];
    store_file(w, false, p);
    if (!is_file(p)) { /* none: a short garbage one */
        char junk[64];
        for (size_t i = 0; i < sizeof(junk); i++)
            junk[i] = (char)rnd(r);
        memcpy(junk, "imgstsn1", 8);
        write_file(p, junk, 8 + below(r, sizeof(junk) - 8));
        note(w, "trunc(snapshot: a short one planted)");
        return;
    }
    truncate_to(w, r, p, "snapshot");
}

/* Random bytes at random places (header_only: in the first 64), or the
 * whole file zero-filled, in place. */
static void scribble(world *w, rng *r, const char *p, const char *label, bool header_only)
{
    struct stat st;
    if (lstat(p, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {
        note(w, "bytes(%s: not a file or empty)", label);
        return;
    }
    int fd = open(p, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return;
    if (chance(r, 30)) {
        char *zero = calloc(1, (size_t)st.st_size);
        if (zero != NULL && pwrite(fd, zero, (size_t)st.st_size, 0) == st.st_size)
            note(w, "zero-fill(%s)", label);
        free(zero);
    } else {
        size_t n = 1 + below(r, 8), span = (size_t)st.st_size;
        if (header_only && span > 64)
            span = 64;
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)rnd(r);
            if (c == 0)
                c = 0xff;
            off_t at = (off_t)below(r, span);
            unsigned char old;
            if (pread(fd, &old, 1, at) == 1) {
                old ^= c; /* always a different byte */
                (void)!pwrite(fd, &old, 1, at);
            }
        }
        note(w, "bytes(%s, %zu flipped)", label, n);
    }
    close(fd);
}

static void d_bytes_image(world *w, rng *r, bool record)
{
    int k = victim(w, r);
    if (k < 0)
        return;
    char p[PATH_LEN], label[300];
    const char *file;
    image_file(w, r, (size_t)k, record, p, &file);
    snprintf(label, sizeof(label), "img%d/%.24s", k, file);
    scribble(w, r, p, label, false);
}

static void d_bytes_record(world *w, rng *r) { d_bytes_image(w, r, true); }
static void d_bytes_bigdata(world *w, rng *r) { d_bytes_image(w, r, false); }

static void d_bytes_lock(world *w, rng *r)
{
    char p[PATH_LEN];
    w->may_refuse_open = true;
    scribble(w, r, store_file(w, true, p), "lock", true);
}

static void d_bytes_snapshot(world *w, rng *r)
{
    char p[PATH_LEN];
    scribble(w, r, store_file(w, false, p), "snapshot", false);
}

/* The record of image k as it is on disk, or NULL. */
static char *record_of(world *w, size_t k, size_t *len)
{
    char p[PATH_LEN];
    return read_file(pathf(p, "%s/%s/images.json", w->store, w->img[k].id), len);
}

/* Where the first string of key's value begins (after its quote), or -1. */
static long string_in(const char *rec, size_t len, const char *key)
{
    char pat[64];
    int n = snprintf(pat, sizeof(pat), "\"%s\"", key);
    const char *p = memmem(rec, len, pat, (size_t)n);
    if (p == NULL)
        return -1;
    p += n;
    while (p < rec + len && (*p == ' ' || *p == ':' || *p == '[' || *p == '\n'))
        p++;
    if (p >= rec + len || *p != '"')
        return -1;
    return (long)(p + 1 - rec);
}

/* The record of image k with ins inserted at the start of key's first string
 * (or before the closing brace when at_end), written back. */
static bool edit_record(world *w, rng *r, size_t k, const char *key, const char *ins, size_t inslen,
                        bool at_end)
{
    size_t len = 0;
    char *rec = record_of(w, k, &len);
    if (rec == NULL)
        return false;
    long at;
    if (at_end) {
        char *brace = memrchr(rec, '}', len);
        at = brace ? (long)(brace - rec) : -1;
    } else {
        at = string_in(rec, len, key);
    }
    if (at < 0) {
        free(rec);
        return false;
    }
    buf b = {0};
    buf_add(&b, rec, (size_t)at);
    buf_add(&b, ins, inslen);
    buf_add(&b, rec + at, len - (size_t)at);
    char p[PATH_LEN];
    replace_file(pathf(p, "%s/%s/images.json", w->store, w->img[k].id), b.s, b.len, chance(r, 50));
    buf_free(&b);
    free(rec);
    return true;
}

static void d_bad_utf8(world *w, rng *r)
{
    static const char *const bad[] = {"\xff", "\xc0\xaf", "\xed\xa0\x80", "\xf8\x88\x80\x80\x80",
                                      "\xe2\x82", "\xc3("};
    static const char *const keys[] = {"names", "metadata", "id", "big-data-names"};
    int k = victim(w, r);
    if (k < 0)
        return;
    const char *key = keys[below(r, 4)], *b = bad[below(r, 6)];
    if (!edit_record(w, r, (size_t)k, key, b, strlen(b), false))
        edit_record(w, r, (size_t)k, key = "id", b, strlen(b), false);
    note(w, "bad-utf8(img%d %s)", k, key);
}

static void d_deep_nest(world *w, rng *r)
{
    int k = victim(w, r);
    if (k < 0)
        return;
    char p[PATH_LEN];
    pathf(p, "%s/%s/images.json", w->store, w->img[k].id);
    size_t kind = below(r, 3);
    if (kind == 2) { /* valid, with an unknown key 200 levels deep */
        buf b = {0};
        buf_adds(&b, ",\"x-hostile-deep\":");
        for (int i = 0; i < 200; i++)
            buf_adds(&b, i % 2 ? "{\"k\":" : "[");
        buf_adds(&b, "1");
        for (int i = 199; i >= 0; i--)
            buf_adds(&b, i % 2 ? "}" : "]");
        if (edit_record(w, r, (size_t)k, NULL, b.s, b.len, true)) {
            w->img[k].odd_damages++;
            w->img[k].keep = "odd-record";
        }
        buf_free(&b);
        note(w, "deep-nest(img%d, a valid record with an unknown key 200 deep)", k);
        return;
    }
    size_t depth = 100000;
    bool closed = chance(r, 50);
    buf b = {0};
    for (size_t i = 0; i < (kind == 0 ? depth : depth / 5); i++)
        buf_adds(&b, kind == 0 ? "[" : "{\"a\":");
    if (kind == 1)
        buf_adds(&b, "1");
    for (size_t i = 0; closed && i < (kind == 0 ? depth : depth / 5); i++)
        buf_adds(&b, kind == 0 ? "]" : "}");
    replace_file(p, b.s, b.len, chance(r, 50));
    buf_free(&b);
    note(w, "deep-nest(img%d, %zu %s%s)", k, kind == 0 ? depth : depth / 5,
         kind == 0 ? "arrays" : "objects", closed ? ", closed" : ", unclosed");
}

static void d_nul_string(world *w, rng *r)
{
    static const char *const keys[] = {"names", "metadata", "big-data-names", "id"};
    int k = victim(w, r);
    if (k < 0)
        return;
    size_t which = below(r, 4);
    const char *key = keys[which];
    bool done = edit_record(w, r, (size_t)k, key, "a\\u0000b", 8, false);
    if (!done)
        done = edit_record(w, r, (size_t)k, key = "id", "\\u0000", 6, false);
    if (done && (strcmp(key, "names") == 0 || strcmp(key, "metadata") == 0)) {
        w->img[k].odd_damages++; /* still valid JSON, and a valid record to other tools */
        w->img[k].keep = "odd-record";
    }
    note(w, "nul-string(img%d %s)", k, key);
}

/* Under ASan, realloc always moves, and yajl_tree grows an array one value
 * at a time: parsing 50000 names is quadratic there (a minute per open). */
#if defined(__SANITIZE_ADDRESS__)
#define HUGE_NAMES 4000
#else
#define HUGE_NAMES 50000
#endif

static void d_huge_names(world *w, rng *r)
{
    int k = victim(w, r);
    if (k < 0)
        return;
    buf b = {0};
    for (int i = 0; i < HUGE_NAMES; i++)
        buf_addf(&b, "hostile.example/s%" PRIu64 "/huge:%d\",\"", w->seed, i);
    if (edit_record(w, r, (size_t)k, "names", b.s, b.len, false)) {
        w->img[k].odd_damages++;
        w->img[k].keep = "odd-record";
    }
    buf_free(&b);
    note(w, "huge-names(img%d, %d)", k, HUGE_NAMES);
}

static void d_array_layout(world *w, rng *r)
{
    size_t len = 0;
    char *rec = record_of(w, w->keeper, &len), p[PATH_LEN];
    buf b = {0};
    buf_adds(&b, "[");
    if (rec != NULL) {
        buf_add(&b, rec, len);
        buf_adds(&b, ",");
    }
    char names[1][96];
    snprintf(names[0], sizeof(names[0]), "storage.example/layout:s%" PRIu64, w->seed);
    random_hex(r, w->layout_id, 64);
    make_record(&b, w->layout_id, names, 1, "from a containers/storage images.json", NULL, 0);
    buf_adds(&b, "]");
    write_file(pathf(p, "%s/images.json", w->store), b.s, b.len);
    buf_free(&b);
    free(rec);
    w->may_refuse_open = true; /* a writable open refuses that layout */
    w->foreign_layout = true;
    note(w, "array-layout(<dir>/images.json)");
}

/* A file of image k hard-linked to a file in outside/ (which holds no
 * marker: reading it is no escape, but writing into it is). */
static void d_hardlink(world *w, rng *r)
{
    int k = victim(w, r);
    if (k < 0)
        return;
    image *im = &w->img[k];
    char p[PATH_LEN], q[PATH_LEN], rel[96];
    const char *label;
    bool record = chance(r, 40);
    image_file(w, r, (size_t)k, record, p, &label);
    snprintf(rel, sizeof(rel), "hardlinked-%.12s-%s", im->id, record ? "record" : "file");
    pathf(q, "%s/%s", w->outside, rel);
    if (record) { /* a valid record of the image: loading it is fine */
        buf rec = {0};
        make_record(&rec, im->id, (const char(*)[96])im->names, im->nnames, "hard-linked", im->items,
                    im->nitems);
        write_file(q, rec.s, rec.len);
        buf_free(&rec);
    } else {
        size_t len = 0;
        char *data = read_file(p, &len);
        write_file(q, data ? data : "x", data ? len : 1);
        free(data);
    }
    rm_rf(p);
    if (link(q, p) != 0)
        note(w, "hardlink(img%d/%.24s: %s)", k, label, strerror(errno));
    else
        note(w, "hardlink(img%d/%.24s = outside/%s)", k, label, rel);
}

/* A store-wide entry of the wrong type. */
static void d_store_entry_type(world *w, rng *r)
{
    char p[PATH_LEN], q[PATH_LEN];
    switch (below(r, 5)) {
    case 0:
        rm_rf(pathf(p, "%s/.imagestore.lock", w->store));
        mkdir(p, 0700);
        write_file(pathf(q, "%s/x", p), "x", 1);
        w->may_refuse_open = true;
        note(w, "store-entry(lock is a directory)");
        break;
    case 1:
        rm_rf(pathf(p, "%s/.quarantine", w->store));
        write_file(p, "not a directory", 15);
        plant_bait(w, r);
        w->may_refuse_open = true;
        note(w, "store-entry(.quarantine is a file)");
        break;
    case 2:
        rm_rf(pathf(p, "%s/.quarantine", w->store));
        mkfifo(p, 0600);
        plant_bait(w, r);
        w->may_refuse_open = true;
        note(w, "store-entry(.quarantine is a FIFO)");
        break;
    case 3:
        rm_rf(pathf(p, "%s/.imagestore.snapshot", w->store));
        mkdir(p, 0700);
        note(w, "store-entry(snapshot is a directory)");
        break;
    default: /* a symlink loop where an image could be */
        {
            char id[65];
            random_hex(r, id, 64);
            symlink(id, pathf(p, "%s/%s", w->store, id));
            note(w, "store-entry(a symlink loop named like an image)");
        }
        break;
    }
}

typedef struct damage {
    const char *name;
    void (*fn)(world *w, rng *r);
    unsigned weight; /* the costly ones are rarer */
} damage;

static const damage damages[] = {
    {"link-dir", d_link_dir, 6},
    {"link-record", d_link_record, 6},
    {"link-bigdata", d_link_bigdata, 6},
    {"link-quarantine", d_link_quarantine, 6},
    {"link-in-store", d_link_in_store, 6},
    {"link-in-image", d_link_in_image, 6},
    {"link-lock", d_link_lock, 6},
    {"link-snapshot", d_link_snapshot, 6},
    {"fifo-record", d_fifo_record, 6},
    {"fifo-bigdata", d_fifo_bigdata, 6},
    {"fifo-lock", d_fifo_lock, 6},
    {"fifo-snapshot", d_fifo_snapshot, 6},
    {"fifo-in-image", d_fifo_in_image, 6},
    {"subdir", d_subdir, 6},
    {"trunc-record", d_trunc_record, 6},
    {"trunc-bigdata", d_trunc_bigdata, 6},
    {"trunc-lock", d_trunc_lock, 6},
    {"trunc-snapshot", d_trunc_snapshot, 6},
    {"bytes-record", d_bytes_record, 6},
    {"bytes-bigdata", d_bytes_bigdata, 6},
    {"bytes-lock", d_bytes_lock, 6},
    {"bytes-snapshot", d_bytes_snapshot, 6},
    {"bad-utf8", d_bad_utf8, 6},
    {"deep-nest", d_deep_nest, 3},
    {"nul-string", d_nul_string, 6},
    {"huge-names", d_huge_names, 1},
    {"array-layout", d_array_layout, 6},
    {"hardlink", d_hardlink, 6},
    {"store-entry", d_store_entry_type, 6},
};

#define N_DAMAGES (sizeof(damages) / sizeof(damages[0]))

/* Injected failures (spec/faults/fault_shim.c; a call it does not know never
 * fires, and the seed says so). */
static const char *const nth_calls[] = {"read", "read", "openat2", "openat", "getdents", "fstat", "stat"};
static const char *const image_calls[] = {"read", "openat2", "fstat", "stat", "getdents"};

/* One of: the nth call of a kind fails (anywhere); every call on one
 * image's files fails (a bad spot on the disk: the other images must not
 * notice); every call on the snapshot fails (a cache: no one may notice);
 * calls on the lock file fail; every call of a kind fails. */
static void choose_fault(world *w, rng *r)
{
    size_t roll = below(r, 100);
    const char *call;
    w->fault_path[0] = '\0';
    if (roll < 40) {
        call = nth_calls[below(r, sizeof(nth_calls) / sizeof(nth_calls[0]))];
        snprintf(w->fault, sizeof(w->fault), "%s:%zu:EIO", call, 1 + below(r, 40));
        note(w, "EIO on %s", w->fault);
        return;
    }
    if (roll < 70) {
        size_t cand[MAX_IMAGES], n = 0;
        for (size_t k = 0; k < w->n; k++)
            if (k != w->keeper && w->img[k].damages == 0)
                cand[n++] = k;
        if (n > 0) {
            size_t k = cand[below(r, n)];
            image *im = &w->img[k];
            call = image_calls[below(r, sizeof(image_calls) / sizeof(image_calls[0]))];
            im->damages++;
            im->odd_damages++;
            im->keep = "eio-image";
            snprintf(w->fault, sizeof(w->fault), "%s:every:EIO", call);
            pathf(w->fault_path, "%s/%s", w->store, im->id);
            w->fault_strict = true;
            note(w, "EIO on every %s in img%zu", call, k);
            return;
        }
    }
    if (roll < 80) {
        static const char *const calls[] = {"read", "openat2", "fstat", "stat"};
        call = calls[below(r, 4)];
        snprintf(w->fault, sizeof(w->fault), "%s:every:EIO", call);
        pathf(w->fault_path, "%s/.imagestore.snapshot", w->store);
        w->fault_strict = true;
        note(w, "EIO on every %s of the snapshot", call);
        return;
    }
    if (roll < 90) {
        static const char *const calls[] = {"read", "openat", "fstat", "stat"};
        call = calls[below(r, 4)];
        if (chance(r, 50))
            snprintf(w->fault, sizeof(w->fault), "%s:every:EIO", call);
        else
            snprintf(w->fault, sizeof(w->fault), "%s:%zu:EIO", call, 1 + below(r, 4));
        pathf(w->fault_path, "%s/.imagestore.lock", w->store);
        w->may_refuse_open = true;
        note(w, "EIO on %s of the lock file", w->fault);
        return;
    }
    static const char *const calls[] = {"read", "getdents", "openat2", "stat"};
    call = calls[below(r, 4)];
    snprintf(w->fault, sizeof(w->fault), "%s:every:EIO", call);
    w->may_refuse_open = true;
    note(w, "EIO on every %s", call);
}

static bool is_fault_seed(uint64_t seed)
{
    rng r = {seed ^ 0x5eedfa017ULL};
    return chance(&r, FAULT_PERCENT);
}

/* The seeds the process under the shim runs: the fault seeds, and about a
 * third of the others, so that the two processes take about as long. */
static bool is_runner_seed(uint64_t seed)
{
    rng r = {seed ^ 0x2a11ce5eedULL};
    return is_fault_seed(seed) || chance(&r, 37);
}

/* ---- the child: every operation, in every mode ------------------------------------------ */

static const struct mode {
    const char *name;
    bool daemon, readonly;
} modes[] = {{"plain", false, false}, {"read-only", false, true}, {"daemon", true, false}};

typedef struct cx {
    const world *w;
    int fd;           /* the report */
    const char *mode;
    int failures;
    bool strict;      /* no armed fault can reach an intact image: nothing is excused */
    bool array;       /* a read-only open of the containers/storage layout: the image
                         directories are not what it reads */
} cx;

static bool fault_hit(void) { return getenv("IMAGESTORE_FAULT_HIT") != NULL; }

static void say(cx *c, const char *kind, const char *cls, const char *fmt, va_list ap)
{
    char text[1024];
    vsnprintf(text, sizeof(text), fmt, ap);
    one_line(text);
    dprintf(c->fd, "%s\t%s\t[%s] %s\n", kind, cls, c->mode, text);
}

static void step(cx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void step(cx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say(c, "STEP", "-", fmt, ap);
    va_end(ap);
}

/* Something worth knowing when the seed fails. */
static void cnote(cx *c, const char *cls, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void cnote(cx *c, const char *cls, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say(c, "NOTE", cls, fmt, ap);
    va_end(ap);
}

/* A failed expectation; excused (a NOTE) once an injected fault fired. */
static void fail(cx *c, const char *cls, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(cx *c, const char *cls, const char *fmt, ...)
{
    bool excused = !c->strict && fault_hit();
    va_list ap;
    va_start(ap, fmt);
    say(c, excused ? "NOTE" : "FAIL", cls, fmt, ap);
    va_end(ap);
    if (!excused)
        c->failures++;
}

/* Never excused: wrong data, escapes. */
static void fail_always(cx *c, const char *cls, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail_always(cx *c, const char *cls, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say(c, "FAIL", cls, fmt, ap);
    va_end(ap);
    c->failures++;
}

static const char *err_of(const image_store_t *st)
{
    static char text[600];
    snprintf(text, sizeof(text), "%s: %.500s", image_store_error_name(st), image_store_error_message(st));
    return text;
}

/* Bytes from the API that only outside/ holds. */
static void scan(cx *c, const char *what, const char *data, size_t len)
{
    if (data != NULL && (memmem(data, len, MARK, strlen(MARK)) != NULL ||
                         memmem(data, len, "outside.example/", 16) != NULL))
        fail_always(c, "escape", "%s returned what outside/ holds", what);
}

static void scan_image(cx *c, const char *what, const image_storage_images *g)
{
    scan(c, what, g->metadata, g->metadata ? strlen(g->metadata) : 0);
    for (size_t i = 0; i < g->names_len; i++)
        scan(c, what, g->names[i], strlen(g->names[i]));
    if (g->id != NULL && strcmp(g->id, c->w->fake_id) == 0)
        fail_always(c, "escape", "%s: the image outside/ holds (%.12s) was loaded", what, g->id);
}

static void check_path(cx *c, const char *what, const char *path)
{
    size_t n = strlen(c->w->store);
    if (path == NULL || strncmp(path, c->w->store, n) != 0 || (path[n] != '/' && path[n] != '\0'))
        fail_always(c, "path", "%s names a path outside the store: %s", what, path ? path : "(null)");
}

/* Whether path is image k's directory or below it. */
static bool about(const world *w, const image *im, const char *path)
{
    size_t n = strlen(w->store);
    if (path == NULL || strncmp(path, w->store, n) != 0 || path[n] != '/' ||
        strncmp(path + n + 1, im->id, 64) != 0)
        return false;
    return path[n + 65] == '/' || path[n + 65] == '\0';
}

/* A list of problems: in the store, and none about an intact image. */
static void check_problems(cx *c, const char *what, const image_store_problem *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        check_path(c, what, p[i].path);
        for (size_t k = 0; k < c->w->n && !c->array; k++)
            if (image_intact(&c->w->img[k]) && about(c->w, &c->w->img[k], p[i].path))
                fail(c, "intact", "%s lists intact img%zu: %s %s: %.200s", what, k,
                     p[i].kind ? p[i].kind : "?", p[i].path, p[i].problem ? p[i].problem : "");
    }
}

static bool has(char *const *list, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (list[i] != NULL && strcmp(list[i], s) == 0)
            return true;
    return false;
}

/* An intact image: get() gives it back whole. false: get() failed (said
 * once, not once per call after it). */
static bool verify_intact_get(cx *c, image_store_t *st, size_t k)
{
    const image *im = &c->w->img[k];
    image_storage_images g;
    memset(&g, 0, sizeof(g));
    if (st->get(im->id, st, &g) != 0) { /* one line for it, not one per call */
        fail(c, "intact", "get(img%zu %.12s): %s", k, im->id, err_of(st));
        return false;
    }
    if (!st->exists(im->id, st))
        fail(c, "intact", "exists(img%zu %.12s) is false", k, im->id);
    {
        bool names_ok = g.names_len == im->nnames;
        for (size_t j = 0; j < im->nnames; j++)
            names_ok = names_ok && has(g.names, g.names_len, im->names[j]);
        if (!names_ok)
            fail_always(c, "intact", "get(img%zu): %zu names, not its %zu", k, g.names_len, im->nnames);
        if (g.metadata == NULL || strcmp(g.metadata, im->metadata) != 0)
            fail_always(c, "intact", "get(img%zu): metadata %.80s", k, g.metadata ? g.metadata : "(null)");
        bool keys_ok = g.big_data_names_len == im->nitems;
        for (size_t i = 0; i < im->nitems; i++)
            keys_ok = keys_ok && has(g.big_data_names, g.big_data_names_len, im->items[i].key);
        if (!keys_ok)
            fail_always(c, "intact", "get(img%zu): %zu big-data keys, not its %zu", k,
                        g.big_data_names_len, im->nitems);
        scan_image(c, "get", &g);
        image_storage_images_clear(&g);
    }
    return true;
}

/* An intact image: each of its names and a unique prefix of its ID lead to it. */
static void verify_intact_refs(cx *c, image_store_t *st, size_t k)
{
    const image *im = &c->w->img[k];
    char ref[80];
    for (size_t j = 0; j <= im->nnames; j++) {
        const char *name = j < im->nnames ? im->names[j] : ref;
        if (j == im->nnames)
            snprintf(ref, sizeof(ref), "%.63s", im->id); /* a unique prefix */
        char *id = NULL;
        if (st->lookup(name, st, &id) != 0)
            fail(c, "intact", "lookup(%s) of img%zu: %s", name, k, err_of(st));
        else if (strcmp(id, im->id) != 0)
            fail_always(c, "intact", "lookup(%s) gave %.12s, not img%zu", name, id, k);
        free(id);
        if (!st->exists(name, st))
            fail(c, "intact", "exists(%s) is false", name);
    }
}

/* An intact image: its metadata. */
static void verify_intact_metadata(cx *c, image_store_t *st, size_t k)
{
    const image *im = &c->w->img[k];
    char *meta = NULL;
    if (st->metadata(st, im->id, &meta) != 0)
        fail(c, "intact", "metadata(img%zu): %s", k, err_of(st));
    else if (strcmp(meta, im->metadata) != 0)
        fail_always(c, "intact", "metadata(img%zu) is %.80s", k, meta);
    free(meta);
}

/* An intact image: one big-data item, its bytes, size and digest, and for
 * the manifest, by_digest. */
static void verify_intact_item(cx *c, image_store_t *st, size_t k, const item *it)
{
    const image *im = &c->w->img[k];
    char *data = NULL, *digest = NULL;
    size_t len = 0;
    int64_t size = -1;
    if (st->big_data_len(st, im->id, it->key, &data, &len) != 0)
        fail(c, "intact", "big_data_len(img%zu, %.30s): %s", k, it->key, err_of(st));
    else if (len != it->len || memcmp(data, it->data, len) != 0)
        fail_always(c, "intact", "big_data_len(img%zu, %.30s): %zu bytes, not the %zu written", k,
                    it->key, len, it->len);
    free(data);
    data = NULL;
    if (st->big_data(st, im->id, it->key, &data) != 0)
        fail(c, "intact", "big_data(img%zu, %.30s): %s", k, it->key, err_of(st));
    else if (strncmp(data, it->data, it->len) != 0)
        fail_always(c, "intact", "big_data(img%zu, %.30s): other bytes", k, it->key);
    free(data);
    if (st->big_data_size(st, im->id, it->key, &size) != 0)
        fail(c, "intact", "big_data_size(img%zu, %.30s): %s", k, it->key, err_of(st));
    else if (size != (int64_t)it->len)
        fail_always(c, "intact", "big_data_size(img%zu, %.30s) is %lld, not %zu", k, it->key,
                    (long long)size, it->len);
    if (st->big_data_digest(st, im->id, it->key, &digest) != 0)
        fail(c, "intact", "big_data_digest(img%zu, %.30s): %s", k, it->key, err_of(st));
    else if (strcmp(digest, it->digest) != 0)
        fail_always(c, "intact", "big_data_digest(img%zu, %.30s) is %.80s", k, it->key, digest);
    free(digest);
    if (strcmp(it->key, "manifest") == 0) {
        image_storage_images *list = NULL;
        size_t n = 0;
        bool found = false;
        if (st->by_digest(st, it->digest, &list, &n) != 0) {
            fail(c, "intact", "by_digest(img%zu manifest): %s", k, err_of(st));
        } else {
            for (size_t j = 0; j < n; j++)
                found = found || (list[j].id && strcmp(list[j].id, im->id) == 0);
            if (!found)
                fail(c, "intact", "by_digest(img%zu manifest) does not list it", k);
            image_storage_images_free(list, n);
        }
    }
}

/* An intact image: the list of its big-data keys. */
static void verify_intact_big_data_names(cx *c, image_store_t *st, size_t k)
{
    const image *im = &c->w->img[k];
    char **keys = NULL;
    size_t nkeys = 0;
    if (st->big_data_names(st, im->id, &keys, &nkeys) != 0) {
        fail(c, "intact", "big_data_names(img%zu): %s", k, err_of(st));
    } else {
        if (nkeys != im->nitems)
            fail_always(c, "intact", "big_data_names(img%zu): %zu, not %zu", k, nkeys, im->nitems);
        image_store_strings_free(keys, nkeys);
    }
}

/* An intact image reads back exactly as it was written. */
static void verify_intact(cx *c, image_store_t *st, size_t k)
{
    const image *im = &c->w->img[k];
    if (!verify_intact_get(c, st, k))
        return;
    verify_intact_refs(c, st, k);
    verify_intact_metadata(c, st, k);
    for (size_t i = 0; i < im->nitems; i++)
        verify_intact_item(c, st, k, &im->items[i]);
    verify_intact_big_data_names(c, st, k);
}

/* Every read operation on ref (the big-data ones only when full); only
 * crashes, escapes and leaks matter. */
static void probe(cx *c, image_store_t *st, const char *ref, const image *im, bool full)
{
    static const char *const keys[] = {"images.json", "..", "extra", "layers"};
    (void)st->exists(ref, st);
    image_storage_images g;
    memset(&g, 0, sizeof(g));
    if (st->get(ref, st, &g) == 0) {
        scan_image(c, "get", &g);
        image_storage_images_clear(&g);
    }
    char *s = NULL;
    if (st->lookup(ref, st, &s) == 0)
        free(s);
    s = NULL;
    if (st->metadata(st, ref, &s) == 0) {
        scan(c, "metadata", s, strlen(s));
        free(s);
    }
    size_t nkeys = full ? sizeof(keys) / sizeof(keys[0]) + (im ? im->nitems : 0) : 0;
    for (size_t i = 0; i < nkeys; i++) {
        const char *key = i < sizeof(keys) / sizeof(keys[0]) ? keys[i]
                                                             : im->items[i - sizeof(keys) / sizeof(keys[0])].key;
        char *data = NULL;
        size_t len = 0;
        int64_t size;
        if (st->big_data_len(st, ref, key, &data, &len) == 0) {
            scan(c, "big_data_len", data, len);
            free(data);
        }
        data = NULL;
        if (st->big_data(st, ref, key, &data) == 0) {
            scan(c, "big_data", data, strlen(data));
            free(data);
        }
        (void)st->big_data_size(st, ref, key, &size);
        data = NULL;
        if (st->big_data_digest(st, ref, key, &data) == 0)
            free(data);
    }
    char **names = NULL;
    size_t n = 0;
    if (st->big_data_names(st, ref, &names, &n) == 0)
        image_store_strings_free(names, n);
}

/* ---- the operations, one function each ---- */

/* images(): lists every intact image, and nothing outside/ holds. */
static void op_images(cx *c, image_store_t *st)
{
    const world *w = c->w;
    image_storage_images *list = NULL;
    size_t n = 0;
    if (st->images(st, &list, &n) != 0) {
        fail(c, "api", "images(): %s", err_of(st));
    } else {
        bool layout_found = false;
        for (size_t i = 0; i < n; i++) {
            scan_image(c, "images", &list[i]);
            layout_found = layout_found || (list[i].id && strcmp(list[i].id, w->layout_id) == 0);
        }
        if (c->array && !layout_found)
            fail(c, "layout", "images() does not list the image images.json holds");
        for (size_t k = 0; k < w->n && !c->array; k++) {
            bool found = false;
            for (size_t i = 0; i < n; i++)
                found = found || (list[i].id && strcmp(list[i].id, w->img[k].id) == 0);
            if (image_intact(&w->img[k]) && !found)
                fail(c, "intact", "images() does not list intact img%zu", k);
        }
        image_storage_images_free(list, n);
    }
}

/* by_digest() of every item's digest (the fake image's too), and of a
 * malformed one. */
static void op_by_digest(cx *c, image_store_t *st)
{
    const world *w = c->w;
    image_storage_images *list = NULL;
    size_t n = 0;
    for (size_t k = 0; k <= w->n; k++) {
        const item *its = k < w->n ? w->img[k].items : &w->fake_manifest;
        size_t nits = k < w->n ? w->img[k].nitems : 1;
        for (size_t i = 0; i < nits; i++) {
            list = NULL;
            n = 0;
            if (st->by_digest(st, its[i].digest, &list, &n) == 0) {
                for (size_t j = 0; j < n; j++)
                    scan_image(c, "by_digest", &list[j]);
                image_storage_images_free(list, n);
            }
        }
    }
    list = NULL;
    n = 0;
    if (st->by_digest(st, "sha256:not-hex", &list, &n) == 0)
        image_storage_images_free(list, n);
}

static void op_verify_intact_images(cx *c, image_store_t *st)
{
    const world *w = c->w;
    for (size_t k = 0; k < w->n && !c->array; k++)
        if (image_intact(&w->img[k]))
            verify_intact(c, st, k);
}

/* Every read operation on every image, by ID, prefix and name, and on refs
 * that lead outside. */
static void op_probe_every_image(cx *c, image_store_t *st)
{
    const world *w = c->w;
    for (size_t k = 0; k < w->n; k++) {
        const image *im = &w->img[k];
        char prefix[16];
        snprintf(prefix, sizeof(prefix), "%.12s", im->id);
        probe(c, st, im->id, im, true);
        probe(c, st, prefix, im, false);
        for (size_t j = 0; j < im->nnames; j++)
            probe(c, st, im->names[j], im, false);
    }
    char ref[160];
    probe(c, st, w->fake_id, NULL, true);
    snprintf(ref, sizeof(ref), "outside.example/fake:s%" PRIu64, w->seed);
    probe(c, st, ref, NULL, false);
    snprintf(ref, sizeof(ref), "hostile.example/s%" PRIu64 "/huge:7", w->seed);
    probe(c, st, ref, NULL, false);
    snprintf(ref, sizeof(ref), "outside.example/fake@%s", w->fake_manifest.digest);
    probe(c, st, ref, NULL, false);
}

static void op_problems(cx *c, image_store_t *st)
{
    image_store_problem *probs = NULL;
    size_t n = 0;
    if (st->problems(st, &probs, &n) != 0)
        fail(c, "api", "problems(): %s", err_of(st));
    else
        check_problems(c, "problems()", probs, n);
    image_store_problems_free(probs, n);
}

static void op_load(cx *c, image_store_t *st)
{
    (void)c;
    (void)st->load(st); /* the whole disk again; a failure keeps the old state */
}

static void op_check(cx *c, image_store_t *st)
{
    image_store_problem *list = NULL;
    size_t n = 0;
    if (image_store_check(st, &list, &n) == 0)
        check_problems(c, "check()", list, n);
    image_store_problems_free(list, n);
    /* what iSulad would do may well concern intact images: only the paths */
    image_store_check_options isulad = {true, NULL};
    list = NULL;
    n = 0;
    if (image_store_check_with(st, &isulad, &list, &n) == 0)
        for (size_t i = 0; i < n; i++)
            check_path(c, "check{isulad}", list[i].path);
    image_store_problems_free(list, n);
}

/* On a read-only store, repair() must fail. */
static void op_repair_refused(cx *c, image_store_t *st)
{
    image_store_problem *list = NULL;
    size_t n = 0;
    if (image_store_repair(st, &list, &n) == 0)
        fail_always(c, "api", "repair() succeeded on a read-only store");
    image_store_problems_free(list, n);
}

static void op_repair(cx *c, image_store_t *st)
{
    image_store_problem *list = NULL;
    size_t n = 0;
    (void)image_store_repair(st, &list, &n);
    check_problems(c, "repair()", list, n);
    image_store_problems_free(list, n);
}

/* Store GC (core/store_gc.c): every entry in the store and none about an
 * intact image; a dry run in every mode, the removal (quarantine included)
 * where the store is writable, refused where it is not. */
static void check_gc(cx *c, const char *what, const image_store_gc_entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        image_store_problem p = {e[i].path, e[i].kind, e[i].problem};
        check_problems(c, what, &p, 1);
    }
}

static void op_gc_dry_run(cx *c, image_store_t *st)
{
    image_store_gc_entry *e = NULL;
    size_t n = 0;
    image_store_gc_options o = {.dry_run = true, .quarantine = true};
    if (image_store_gc(st, &o, &e, &n) == 0 || e != NULL)
        check_gc(c, "gc{dry_run}", e, n);
    image_store_gc_entries_free(e, n);
}

static void op_gc_refused(cx *c, image_store_t *st)
{
    image_store_gc_entry *e = NULL;
    size_t n = 0;
    if (image_store_gc(st, NULL, &e, &n) == 0)
        fail_always(c, "api", "gc() succeeded on a read-only store");
    image_store_gc_entries_free(e, n);
}

static void op_gc(cx *c, image_store_t *st)
{
    image_store_gc_entry *e = NULL;
    size_t n = 0;
    image_store_gc_options o = {.quarantine = true, .quarantine_age = 0,
                                .now = timestamp_now().seconds + 3600};
    (void)image_store_gc(st, &o, &e, &n);
    check_gc(c, "gc()", e, n);
    image_store_gc_entries_free(e, n);
}

static void op_usage(cx *c, image_store_t *st)
{
    image_store_usage_figures u;
    if (image_store_usage(st, &u) == 0 && (u.size < 0 || u.disk_bytes < 0))
        fail_always(c, "api", "usage() gave negative figures: %lld, %lld", (long long)u.size,
                    (long long)u.disk_bytes);
}

static void op_close(cx *c, image_store_t *st)
{
    (void)c;
    image_store_close(st);
}

/* What a store opened in a mode goes through, in order, each after a STEP
 * line naming it: the modes it runs in. */
enum { READ_ONLY = 1, WRITABLE = 2, EVERY_MODE = READ_ONLY | WRITABLE };

static const struct operation {
    const char *step;
    void (*fn)(cx *c, image_store_t *st);
    int modes;
} operations[] = {
    {"images", op_images, EVERY_MODE},
    {"by_digest", op_by_digest, EVERY_MODE},
    {"intact images", op_verify_intact_images, EVERY_MODE},
    {"every image", op_probe_every_image, EVERY_MODE},
    {"problems", op_problems, EVERY_MODE},
    {"load", op_load, EVERY_MODE},
    {"check", op_check, EVERY_MODE},
    {"usage", op_usage, EVERY_MODE},
    {"gc dry run", op_gc_dry_run, EVERY_MODE},
    {"repair", op_repair_refused, READ_ONLY},
    {"repair", op_repair, WRITABLE},
    {"after repair", op_verify_intact_images, WRITABLE},
    {"gc", op_gc_refused, READ_ONLY},
    {"gc", op_gc, WRITABLE},
    {"after gc", op_verify_intact_images, WRITABLE},
    {"close", op_close, EVERY_MODE},
};

/* Opens the store in mode m; false (and the store closed) when that failed,
 * which is a failure unless the seed's damage or fault may make it refuse. */
static bool open_in_mode(cx *c, const struct mode *m, image_store_t *st)
{
    step(c, "open");
    if (new_image_store(m->daemon, m->readonly, c->w->store, st) != 0) {
        const char *msg = image_store_error_message(st);
        if (msg == NULL || msg[0] == '\0' || image_store_error_code(st) == 0)
            fail_always(c, "open", "open failed without saying why (code %d)", image_store_error_code(st));
        else if (!c->w->may_refuse_open)
            fail(c, "open", "open failed: %s", err_of(st));
        else
            cnote(c, "open", "refused: %s", err_of(st));
        image_store_close(st);
        return false;
    }
    return true;
}

static void run_mode(cx *c, const struct mode *m)
{
    image_store_t st;
    c->mode = m->name;
    c->array = m->readonly && c->w->foreign_layout;
    if (!open_in_mode(c, m, &st))
        return;
    int mode = m->readonly ? READ_ONLY : WRITABLE;
    for (size_t i = 0; i < sizeof(operations) / sizeof(operations[0]); i++) {
        if ((operations[i].modes & mode) == 0)
            continue;
        step(c, "%s", operations[i].step);
        operations[i].fn(c, &st);
    }
}

#if !defined(__SANITIZE_ADDRESS__)
/* Without ASan: the frames, as module + offset, for the parent to resolve. */
static void crash_handler(int sig)
{
    void *frames[40];
    int n = backtrace(frames, 40);
    for (int i = 0; i < n; i++) {
        Dl_info info;
        char line[PATH_LEN + 64];
        if (dladdr(frames[i], &info) != 0 && info.dli_fname != NULL) {
            int len = snprintf(line, sizeof(line), "BT\t%s\t%#lx\n", info.dli_fname,
                               (unsigned long)((const char *)frames[i] - (const char *)info.dli_fbase));
            if (len > 0)
                (void)!write(2, line, (size_t)len);
        }
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static void catch_crashes(void)
{
    static char altstack[1 << 16];
    void *warm[2];
    backtrace(warm, 2); /* loads what backtrace needs, outside the handler */
    stack_t ss = {.ss_sp = altstack, .ss_size = sizeof(altstack), .ss_flags = 0};
    sigaltstack(&ss, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = crash_handler;
    sa.sa_flags = SA_ONSTACK | SA_RESETHAND;
    int sigs[] = {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL};
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        sigaction(sigs[i], &sa, NULL);
}
#else
static void catch_crashes(void) {}
#endif

/* The seed's injected fault, if any, for the opens that follow. */
static void arm_fault(cx *c)
{
    const world *w = c->w;
    if (w->fault[0] != '\0') {
        unsetenv("IMAGESTORE_FAULT_HIT");
        if (w->fault_path[0] != '\0')
            setenv("IMAGESTORE_FAULT_PATH", w->fault_path, 1);
        setenv("IMAGESTORE_FAULT", w->fault, 1);
        c->strict = w->fault_strict;
    }
}

/* No more faults; notes whether the seed's fired. */
static void disarm_fault(cx *c)
{
    const world *w = c->w;
    if (w->fault[0] != '\0') {
        unsetenv("IMAGESTORE_FAULT");
        unsetenv("IMAGESTORE_FAULT_PATH");
        c->mode = "-";
        cnote(c, "fault", "%s %s", w->fault, fault_hit() ? "fired" : "never fired");
    }
}

/* a fresh read-only open, without faults: the intact images are whole */
static void final_read_only_open(cx *c)
{
    const world *w = c->w;
    c->strict = true;
    c->mode = "final read-only";
    c->array = w->foreign_layout;
    step(c, "open");
    image_store_t st;
    if (new_image_store(false, true, w->store, &st) != 0) {
        const char *msg = image_store_error_message(&st);
        if (msg == NULL || msg[0] == '\0' || image_store_error_code(&st) == 0)
            fail_always(c, "open", "open failed without saying why (code %d)", image_store_error_code(&st));
        else if (!w->may_refuse_open)
            fail(c, "open", "open failed: %s", err_of(&st));
    } else {
        step(c, "intact images");
        for (size_t k = 0; k < w->n && !c->array; k++)
            if (image_intact(&w->img[k]))
                verify_intact(c, &st, k);
    }
    step(c, "close");
    image_store_close(&st);
}

static void child(const world *w, int report_fd, int stderr_fd)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    dup2(stderr_fd, 2);
    close(stderr_fd);
    alarm(ALARM_SECONDS);
    catch_crashes();
    cx c = {w, report_fd, "-", 0, true, false};
    arm_fault(&c);
    for (int i = 0; i < 3; i++)
        run_mode(&c, &modes[w->order[i]]);
    disarm_fault(&c);
    final_read_only_open(&c);
    close(report_fd);
    exit(c.failures > 0 ? EXIT_ASSERT : 0);
}

/* ---- the parent: run a seed, judge it ----------------------------------------------------------- */

typedef struct run {
    double phase[3]; /* seconds in setup+damage, the child, judging */
    char tmp[PATH_LEN];
    char self[PATH_LEN];
    bool keep, keep_all;
    buf shown; /* crash summaries already shown in full, one per line */
} run;

typedef struct result {
    bool ok;
    int details; /* lines added to detail, shown or not */
    buf line;   /* after "seed S: " */
    buf detail; /* "# " lines */
} result;

/* The first frames of a plain build's backtrace, through addr2line. */
static void resolve_backtrace(const run *ctx, const char *err, buf *out)
{
    buf cmd = {0};
    int n = 0;
    buf_addf(&cmd, "addr2line -f -s -e '%s'", ctx->self);
    for (const char *p = strstr(err, "BT\t"); p != NULL && n < 12; p = strstr(p + 3, "BT\t")) {
        char module[PATH_LEN];
        unsigned long off;
        /* the program itself (dladdr names it as it was started) */
        if (sscanf(p, "BT\t%4095[^\t]\t%lx", module, &off) == 2 && strstr(module, ".so") == NULL) {
            buf_addf(&cmd, " %#lx", off > 0 ? off - 1 : off);
            n++;
        }
    }
    if (n == 0) {
        buf_free(&cmd);
        return;
    }
    buf_adds(&cmd, " 2>/dev/null");
    FILE *f = popen(cmd.s, "r");
    char fn[512], where[512];
    int shown = 0;
    while (f != NULL && shown < 4 && fgets(fn, sizeof(fn), f) && fgets(where, sizeof(where), f)) {
        fn[strcspn(fn, "\n")] = '\0';
        where[strcspn(where, "\n")] = '\0';
        if (strstr(fn, "crash_handler") != NULL)
            continue;
        buf_addf(out, "%s%s (%s)", shown ? " < " : "", fn, where);
        shown++;
    }
    if (f != NULL)
        pclose(f);
    buf_free(&cmd);
}

/* "<ASan/UBSan/LSan kind> in <frame>" from a sanitizer report. */
static void sanitizer_summary(const char *err, buf *out)
{
    const char *e = strstr(err, "ERROR: AddressSanitizer");
    if (e == NULL)
        e = strstr(err, "ERROR: LeakSanitizer");
    const char *ub = strstr(err, "runtime error:");
    if (e == NULL && ub != NULL) {
        const char *start = ub;
        while (start > err && start[-1] != '\n')
            start--;
        buf_addf(out, "UBSan: %.*s", (int)(strcspn(start, "\n") > 300 ? 300 : strcspn(start, "\n")), start);
        return;
    }
    if (e == NULL)
        return;
    const char *kind = strstr(e, "Sanitizer") + strlen("Sanitizer");
    while (*kind == ':' || *kind == ' ')
        kind++;
    size_t klen = strcspn(kind, "\n");
    const char *on = memmem(kind, klen, " on ", 4);
    if (on != NULL)
        klen = (size_t)(on - kind);
    buf_addf(out, "%s %.*s", strstr(e, "Leak") ? "LSan" : "ASan", (int)(klen > 120 ? 120 : klen), kind);
    /* the first frame in our code, else the first outside the runtimes */
    const char *best = NULL, *fallback = NULL;
    for (const char *p = strstr(e, "    #"); p != NULL; p = strstr(p + 1, "    #")) {
        size_t len = strcspn(p, "\n");
        bool ours = memmem(p, len, "/core/", 6) != NULL || memmem(p, len, " core/", 6) != NULL;
        bool runtime = memmem(p, len, "libasan", 7) != NULL || memmem(p, len, "libubsan", 8) != NULL ||
                       memmem(p, len, "libc.so", 7) != NULL || memmem(p, len, "hostile_test.c", 14) != NULL;
        if (ours) {
            best = p;
            break;
        }
        if (!runtime && fallback == NULL)
            fallback = p;
        if (strncmp(p + len, "\n\n", 2) == 0 && (best || fallback))
            break; /* only the first stack */
    }
    const char *f = best ? best : fallback;
    if (f != NULL) {
        const char *in = strstr(f, " in ");
        size_t len = strcspn(f, "\n");
        if (in != NULL && in < f + len)
            buf_addf(out, " in %.*s", (int)(f + len - in - 4 > 200 ? 200 : f + len - in - 4), in + 4);
    }
}

#define MAX_DETAILS 16 /* "# " lines per seed; the rest are counted */

static void add_detail(result *res, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_detail(result *res, const char *fmt, ...)
{
    if (res->details++ >= MAX_DETAILS)
        return;
    char *s = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        abort();
    va_end(ap);
    one_line(s);
    buf_addf(&res->detail, "%s\n", s);
    free(s);
}

/* Records the first failure as the line's reason; counts the rest. */
static void failure(result *res, int *count, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void failure(result *res, int *count, const char *fmt, ...)
{
    char *s = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        abort();
    va_end(ap);
    one_line(s);
    if ((*count)++ == 0)
        buf_addf(&res->line, ": %s", s);
    add_detail(res, "%s", s);
    res->ok = false;
    free(s);
}

/* The last STEP the child reported: where it was. */
static void last_step(const char *report, char *out, size_t outlen)
{
    snprintf(out, outlen, "before its first step");
    for (const char *p = strstr(report ? report : "", "STEP\t"); p != NULL; p = strstr(p + 1, "STEP\t")) {
        const char *mode = strchr(p + 5, '\t');
        if (mode == NULL)
            break;
        mode++;
        snprintf(out, outlen, "%.*s", (int)strcspn(mode, "\n"), mode);
    }
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* One seed's run, from its world to its verdict. */
typedef struct seed_run {
    run *ctx;
    result *res;
    world w;
    rng r;
    int count;       /* failures found (the first is the line's reason) */
    char report_path[PATH_LEN], stderr_path[PATH_LEN];
    pid_t pid;       /* the child; -1: it could not be started */
    int status;      /* its wait status */
    char *report, *errtext; /* what it reported, what it wrote to stderr */
} seed_run;

/* 1. The temp root, the images, outside/ and the store; false (the reason in
 * the line, the root removed) when something failed. */
static bool seed_setup(seed_run *s)
{
    world *w = &s->w;
    pathf(w->root, "%s/hostile-%" PRIu64 "-XXXXXX", s->ctx->tmp, w->seed);
    if (mkdtemp(w->root) == NULL) {
        buf_addf(&s->res->line, "[setup] mkdtemp %s: %s", w->root, strerror(errno));
        s->res->ok = false;
        return false;
    }
    pathf(w->store, "%s/store", w->root);
    pathf(w->outside, "%s/outside", w->root);
    make_images(w, &s->r);
    make_outside(w, &s->r);
    buf err = {0};
    if (!make_store(w, &s->r, &err)) {
        buf_addf(&s->res->line, "[setup] %s", buf_str(&err));
        s->res->ok = false;
        buf_free(&err);
        world_free(w);
        rm_rf(w->root);
        return false;
    }
    buf_free(&err);
    return true;
}

/* 2. The damages, the injected fault (for a fault seed) and the order of
 * the open modes. */
static void seed_damage(seed_run *s)
{
    world *w = &s->w;
    rng *r = &s->r;
    bool faulty = is_fault_seed(w->seed);
    size_t ndamages = faulty ? below(r, MAX_DAMAGES) : 1 + below(r, MAX_DAMAGES);
    unsigned total_weight = 0;
    for (size_t i = 0; i < N_DAMAGES; i++)
        total_weight += damages[i].weight;
    for (size_t i = 0; i < ndamages; i++) {
        unsigned pick = (unsigned)below(r, total_weight);
        size_t d = 0;
        while (pick >= damages[d].weight)
            pick -= damages[d++].weight;
        damages[d].fn(w, r);
    }
    if (faulty) {
        choose_fault(w, r);
        if (getenv("IMAGESTORE_FAULT_SHIM") == NULL) {
            note(w, "(no shim: not injected)");
            w->fault[0] = '\0';
            w->fault_path[0] = '\0';
            w->fault_strict = false;
        }
    }
    if (w->what.len == 0)
        note(w, "no damage");
    int order[3] = {0, 1, 2};
    for (int i = 2; i > 0; i--) {
        int j = (int)below(r, (size_t)i + 1), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    memcpy(w->order, order, sizeof(order));
}

/* What must not change: outside/, and the intact and odd images. */
static void seed_record(seed_run *s)
{
    world *w = &s->w;
    char p[PATH_LEN];
    w->outside_picture = picture(w->outside);
    for (size_t k = 0; k < w->n; k++)
        if (image_intact(&w->img[k]) || image_odd(&w->img[k]))
            w->img[k].picture = picture(pathf(p, "%s/%s", w->store, w->img[k].id));
    buf_addf(&s->res->line, "%s", buf_str(&w->what));
}

/* 3. The operations, in a child; returns when it ended. t1: when the
 * fork came (for the phase times). */
static void seed_run_child(seed_run *s, double *t1)
{
    world *w = &s->w;
    pathf(s->report_path, "%s/report", w->root);
    pathf(s->stderr_path, "%s/stderr", w->root);
    int report_fd = open(s->report_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    int stderr_fd = open(s->stderr_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    fflush(stdout);
    fflush(stderr);
    *t1 = now();
    s->pid = report_fd >= 0 && stderr_fd >= 0 ? fork() : -1;
    if (s->pid == 0)
        child(w, report_fd, stderr_fd);
    if (report_fd >= 0)
        close(report_fd);
    if (stderr_fd >= 0)
        close(stderr_fd);
    s->status = 0;
    if (s->pid < 0) {
        failure(s->res, &s->count, "[setup] fork: %s", strerror(errno));
    } else {
        while (waitpid(s->pid, &s->status, 0) < 0 && errno == EINTR)
            ;
    }
}

/* 4a. How the child ended: a hang, a crash, a sanitizer report (shown in
 * full once per kind), with where it was; and the fault that fired. */
static void judge_child_exit(seed_run *s)
{
    run *ctx = s->ctx;
    result *res = s->res;
    pid_t pid = s->pid;
    int status = s->status;
    size_t len = 0;
    s->report = read_file(s->report_path, &len);
    s->errtext = read_file(s->stderr_path, &len);
    char *report = s->report, *errtext = s->errtext;
    char where[256];
    last_step(report, where, sizeof(where));
    const char *fired = strstr(report ? report : "", "NOTE\tfault\t[-] ");
    if (fired != NULL)
        buf_addf(&res->line, " (%.*s)", (int)(strcspn(fired + 15, "\n") > 100 ? 100 : strcspn(fired + 15, "\n")),
                 fired + 15);
    buf summary = {0};
    if (pid > 0 && WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM) {
        failure(res, &s->count, "[hang] no end after %d s, at %s", ALARM_SECONDS, where);
    } else if (pid > 0 && WIFSIGNALED(status)) {
        resolve_backtrace(ctx, errtext ? errtext : "", &summary);
        failure(res, &s->count, "[crash] %s at %s%s%s", strsignal(WTERMSIG(status)), where,
                summary.len ? ": " : "", buf_str(&summary));
    } else if (pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) != 0 &&
               WEXITSTATUS(status) != EXIT_ASSERT) {
        sanitizer_summary(errtext ? errtext : "", &summary);
        failure(res, &s->count, "[%s] exit %d at %s: %s",
                strstr(buf_str(&summary), "LSan") ? "leak" : "sanitizer", WEXITSTATUS(status), where,
                summary.len ? summary.s : "(no sanitizer report)");
    }
    if (summary.len > 0 && errtext != NULL) { /* the whole report, once per kind of crash */
        char key[300];
        snprintf(key, sizeof(key), "%.290s\n", summary.s);
        if (strstr(buf_str(&ctx->shown), key) == NULL) {
            buf_adds(&ctx->shown, key);
            int lines = 0; /* not counted against MAX_DETAILS */
            for (const char *q = errtext; *q && lines < 40; lines++) {
                size_t l = strcspn(q, "\n");
                char *text = strndup(q, l > 300 ? 300 : l);
                if (text == NULL)
                    abort();
                one_line(text);
                buf_addf(&res->detail, "  | %s\n", text);
                free(text);
                q += l + (q[l] == '\n');
            }
        }
    }
    buf_free(&summary);
}

/* 4b. outside/ is as it was. */
static void judge_outside(seed_run *s)
{
    world *w = &s->w;
    char diff[512];
    char *outside_now = picture(w->outside);
    if (strcmp(outside_now, w->outside_picture) != 0) {
        first_difference(w->outside_picture, outside_now, diff, sizeof(diff));
        failure(s->res, &s->count, "[outside-changed] %s", diff);
    }
    free(outside_now);
}

/* 4c. Every intact or odd image is as it was, in its place. */
static void judge_images(seed_run *s)
{
    world *w = &s->w;
    char p[PATH_LEN], diff[512];
    char quarantine[PATH_LEN];
    pathf(quarantine, "%s/.quarantine", w->store);
    char *q_now = picture(quarantine);
    for (size_t k = 0; k < w->n; k++) {
        image *im = &w->img[k];
        if (im->picture == NULL)
            continue;
        char *now = picture(pathf(p, "%s/%s", w->store, im->id));
        if (strcmp(now, im->picture) != 0) {
            const char *cls = image_intact(im) ? "intact" : im->keep;
            if (!exists(p))
                failure(s->res, &s->count, "[%s-moved] img%zu %.12s is gone from the store%s", cls, k, im->id,
                        strstr(q_now, im->id) ? ", into .quarantine" : "");
            else {
                first_difference(im->picture, now, diff, sizeof(diff));
                failure(s->res, &s->count, "[%s-changed] img%zu %.12s: %s", cls, k, im->id, diff);
            }
        }
        free(now);
    }
    free(q_now);
}

/* 4d. the child's own checks, then (on a failed seed) what it noted */
static void judge_report(seed_run *s)
{
    result *res = s->res;
    const char *report = s->report;
    for (int pass = 0; pass < 2; pass++)
        for (const char *q = report ? report : ""; *q;) {
            size_t l = strcspn(q, "\n");
            const char *kind = pass == 0 ? "FAIL\t" : "NOTE\t";
            const char *cls = q + 5, *text = strncmp(q, kind, 5) == 0 ? memchr(cls, '\t', l - 5) : NULL;
            if (text != NULL && pass == 0)
                failure(res, &s->count, "[%.*s] %.*s", (int)(text - cls), cls, (int)(q + l - text - 1), text + 1);
            else if (text != NULL && !res->ok)
                add_detail(res, "note: %.*s", (int)(q + l - text - 1 > 300 ? 300 : q + l - text - 1), text + 1);
            q += l + (q[l] == '\n');
        }
}

/* The last detail lines; the temp root kept or removed; everything freed. */
static void seed_finish(seed_run *s)
{
    run *ctx = s->ctx;
    result *res = s->res;
    if (res->details > MAX_DETAILS)
        buf_addf(&res->detail, "... and %d more\n", res->details - MAX_DETAILS);
    if ((!res->ok && ctx->keep) || ctx->keep_all)
        buf_addf(&res->detail, "kept: %s\n", s->w.root);
    else
        rm_rf(s->w.root);
    free(s->report);
    free(s->errtext);
    world_free(&s->w);
}

static bool run_seed(run *ctx, uint64_t seed, result *res)
{
    double t0 = now(), t1 = 0;
    seed_run s;
    memset(&s, 0, sizeof(s));
    memset(res, 0, sizeof(*res));
    res->ok = true;
    s.ctx = ctx;
    s.res = res;
    s.w.seed = seed;
    s.r.state = seed * 0x2545f4914f6cdd1dULL + 0x1234567ULL;
    if (!seed_setup(&s))
        return false;
    seed_damage(&s);
    seed_record(&s);
    seed_run_child(&s, &t1);
    ctx->phase[0] += t1 - t0;
    ctx->phase[1] += now() - t1;
    t1 = now();
    judge_child_exit(&s);
    judge_outside(&s);
    judge_images(&s);
    judge_report(&s);
    seed_finish(&s);
    ctx->phase[2] += now() - t1;
    return res->ok;
}

static void result_free(result *res)
{
    buf_free(&res->line);
    buf_free(&res->detail);
}

static uint64_t env_u64(const char *name, uint64_t fallback)
{
    const char *v = getenv(name);
    if (v == NULL || *v == '\0')
        return fallback;
    return strtoull(v, NULL, 10);
}

static void print_tap(int number, uint64_t seed, bool ok, const char *line, const char *detail)
{
    printf("%s %d - seed %" PRIu64 ": %s\n", ok ? "ok" : "not ok", number, seed, line);
    for (const char *q = detail; *q;) {
        size_t l = strcspn(q, "\n");
        printf("#   %.*s\n", (int)l, q);
        q += l + (q[l] == '\n');
    }
}

/* Under the shim: its seeds, one result per line, for the first process. */
static int fault_runner(run *ctx, uint64_t first, uint64_t count)
{
    for (uint64_t seed = first; seed < first + count; seed++) {
        if (!is_runner_seed(seed))
            continue;
        result res;
        run_seed(ctx, seed, &res);
        printf("R\t%" PRIu64 "\t%d\t%s\n", seed, res.ok, buf_str(&res.line));
        for (const char *q = buf_str(&res.detail); *q;) {
            size_t l = strcspn(q, "\n");
            printf("D\t%" PRIu64 "\t%.*s\n", seed, (int)l, q);
            q += l + (q[l] == '\n');
        }
        fflush(stdout);
        result_free(&res);
    }
    return 0;
}

/* Starts this program again under the fault shim, its output going to out_path. */
static pid_t start_fault_runner(run *ctx, const char *out_path)
{
    char shim[PATH_LEN];
    const char *slash = strrchr(ctx->self, '/');
    pathf(shim, "%.*s/fault_shim.so", (int)(slash - ctx->self), ctx->self);
    if (!is_file(shim))
        return 0;
    int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* it goes when the first process goes */
        dup2(fd, 1);
        const char *pre = getenv("LD_PRELOAD");
        buf b = {0};
        buf_addf(&b, "%s%s%s", pre ? pre : "", pre ? " " : "", shim);
        setenv("LD_PRELOAD", b.s, 1);
        setenv("IMAGESTORE_FAULT_SHIM", shim, 1);
        setenv("IMAGESTORE_HOSTILE_ROLE", "faults", 1);
        const char *asan = getenv("ASAN_OPTIONS");
        buf opts = {0};
        buf_addf(&opts, "%s%sverify_asan_link_order=0", asan ? asan : "", asan && *asan ? ":" : "");
        setenv("ASAN_OPTIONS", opts.s, 1);
        char *const argv[] = {ctx->self, NULL};
        execv(ctx->self, argv);
        _exit(127);
    }
    close(fd);
    return pid;
}

/* Where the temp roots go: TMPDIR, else /dev/shm when writable, else /tmp.
 * The seeds are about damage, not durability: on a tmpfs the store's
 * fsyncs cost nothing (on this VM's disk they triple the run time). */
static void choose_tmp(run *ctx)
{
    const char *tmp = getenv("TMPDIR");
    struct stat st;
    if (tmp == NULL || *tmp == '\0')
        tmp = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0
                  ? "/dev/shm"
                  : "/tmp";
    pathf(ctx->tmp, "%s", tmp);
}

#if defined(__SANITIZE_ADDRESS__)
/* Each child's leak check walks every chunk the allocator holds,
 * quarantined ones too: with the default 256 MB quarantine filling up
 * over the seeds, that walk came to dominate. The children are short.
 * Runs this program again with a 16 MB quarantine, unless it already runs
 * so (or ASAN_OPTIONS sets one); returns only then, or when exec failed. */
static void reexec_with_small_quarantine(run *ctx)
{
    const char *asan = getenv("ASAN_OPTIONS");
    if (getenv("IMAGESTORE_HOSTILE_REEXEC") == NULL && (asan == NULL || strstr(asan, "quarantine_size_mb") == NULL)) {
        buf opts = {0};
        buf_addf(&opts, "%s%squarantine_size_mb=16", asan ? asan : "", asan && *asan ? ":" : "");
        setenv("ASAN_OPTIONS", opts.s, 1);
        setenv("IMAGESTORE_HOSTILE_REEXEC", "1", 1);
        buf_free(&opts);
        char *const argv[] = {ctx->self, NULL};
        execv(ctx->self, argv);
        exit(2);
    }
}
#endif

/* The seeds this process runs (all but the runner's, when it runs), one
 * TAP line each. */
static void run_seeds_here(run *ctx, uint64_t first, uint64_t count, pid_t runner, int *number,
                           int *failed)
{
    for (uint64_t seed = first; seed < first + count; seed++) {
        if (runner > 0 && is_runner_seed(seed))
            continue;
        result res;
        if (!run_seed(ctx, seed, &res))
            (*failed)++;
        print_tap(++*number, seed, res.ok, buf_str(&res.line), buf_str(&res.detail));
        result_free(&res);
    }
}

/* The runner's seeds: waits for it, then one TAP line for each from its
 * output ("not ok" for each it did not get to). */
static void collect_runner_seeds(pid_t runner, const char *runner_out, uint64_t first, uint64_t count,
                                 int *number, int *failed)
{
    int status = 0;
    while (waitpid(runner, &status, 0) < 0 && errno == EINTR)
        ;
    size_t len = 0;
    char *out = read_file(runner_out, &len);
    uint64_t next = first; /* the next fault seed expected */
    const char *q = out ? out : "";
    while (true) {
        while (next < first + count && !is_runner_seed(next))
            next++;
        if (next >= first + count)
            break;
        uint64_t seed = 0;
        int ok = 0, used = 0;
        if (*q == '\0' || sscanf(q, "R\t%" SCNu64 "\t%d\t%n", &seed, &ok, &used) < 2 || seed != next) {
            char why[128];
            snprintf(why, sizeof(why), "the fault runner ended (%s %d) before this seed",
                     WIFSIGNALED(status) ? "signal" : "status",
                     WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
            print_tap(++*number, next, false, why, "");
            (*failed)++;
            next++;
            continue;
        }
        size_t l = strcspn(q, "\n");
        buf line = {0}, detail = {0};
        buf_add(&line, q + used, l - (size_t)used);
        q += l + (q[l] == '\n');
        while (strncmp(q, "D\t", 2) == 0) {
            l = strcspn(q, "\n");
            const char *text = memchr(q + 2, '\t', l - 2);
            if (text != NULL) {
                buf_add(&detail, text + 1, (size_t)(q + l - text - 1));
                buf_adds(&detail, "\n");
            }
            q += l + (q[l] == '\n');
        }
        print_tap(++*number, seed, ok != 0, buf_str(&line), buf_str(&detail));
        *failed += ok == 0;
        buf_free(&line);
        buf_free(&detail);
        next++;
    }
    free(out);
    unlink(runner_out);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    run ctx;
    memset(&ctx, 0, sizeof(ctx));
    choose_tmp(&ctx);
    const char *keep = getenv("IMAGESTORE_HOSTILE_KEEP");
    ctx.keep = keep != NULL;
    ctx.keep_all = keep != NULL && strcmp(keep, "all") == 0;
    ssize_t n = readlink("/proc/self/exe", ctx.self, sizeof(ctx.self) - 1);
    if (n <= 0)
        return 2;
    ctx.self[n] = '\0';
#if defined(__SANITIZE_ADDRESS__)
    reexec_with_small_quarantine(&ctx);
#endif
    uint64_t first = env_u64("IMAGESTORE_HOSTILE_FIRST", 1);
    uint64_t count = env_u64("IMAGESTORE_HOSTILE_SEEDS", 500);
    const char *role = getenv("IMAGESTORE_HOSTILE_ROLE");
    if (role != NULL && strcmp(role, "faults") == 0) {
        int rc = fault_runner(&ctx, first, count);
        buf_free(&ctx.shown);
        return rc;
    }
    unsetenv("IMAGESTORE_FAULT_SHIM"); /* set only in the runner */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    printf("1..%" PRIu64 "\n", count);
    char runner_out[PATH_LEN];
    pathf(runner_out, "%s/hostile-faults-%d.tap", ctx.tmp, (int)getpid());
    uint64_t nfault = 0;
    for (uint64_t seed = first; seed < first + count; seed++)
        nfault += is_fault_seed(seed);
    pid_t runner = start_fault_runner(&ctx, runner_out);
    int number = 0, failed = 0;
    run_seeds_here(&ctx, first, count, runner, &number, &failed);
    if (runner > 0)
        collect_runner_seeds(runner, runner_out, first, count, &number, &failed);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("# %" PRIu64 " seeds (%" PRIu64 " with an injected fault%s), %d failed, %.1f s\n", count,
           nfault, nfault == 0 || runner > 0 ? "" : "; no shim: run without it", failed,
           (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    printf("# this process: %.1f s making and damaging stores, %.1f s in the children, %.1f s judging\n",
           ctx.phase[0], ctx.phase[1], ctx.phase[2]);
    buf_free(&ctx.shown);
    return failed > 0 ? 1 : 0;
}

/*
 * The imagestore side of `make interop` (interop/run): a C host that opens a
 * containers/storage image directory (<graph root>/vfs-images) read-only
 * through the public API and reports what it sees, in the canonical form
 * interop/cswriter.go writes for what containers/storage committed.
 *
 *   reader DIR serve LOG   the protocol with cswriter on stdin/stdout:
 *                          "step N": one images() (and the big data), logged
 *                          as A/AH lines, answered "ack N"; "free": images(),
 *                          get, lookup, by_digest and big_data_len in a loop
 *                          until "end", logged as S/G/L/D/B lines; "end": a
 *                          last read (A/AH "final"), answered "bye"
 *   reader DIR dump        one read, A/AH lines labelled "dump", on stdout
 *   reader DIR loop N      N rounds of the free loop on stdout
 * Each round of the free loop: images(), then get() of one image it lists,
 * lookup() of that image's names, by_digest() of its digests and
 * big_data_len() of its items, and get() and lookup() of one ID and one name
 * seen in an earlier round (gone by now, or moved, or not).
 *
 * Lines (tab-separated; state and image as in cswriter.go):
 *   A label state                 AH label id key sha256:<hex> length
 *   S state                       G id image|ERR CODE
 *   L name id|ERR CODE            D digest id,id,...|ERR CODE
 *   B id key sha256:<hex> length|ERR CODE
 *   E where CODE message          a failed call (open: the store stays unread)
 * S lines only when images() answers differently from the last S; the free
 * loop logs each other answer once per S (the same query answering the
 * same again is left out). Exit status: 0, 1 usage or I/O, 3 a call failed.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "image_store.h"

typedef struct buf {
    char *data;
    size_t len, cap;
} buf;

static void oom(void)
{
    fprintf(stderr, "reader: out of memory\n");
    exit(1);
}

static void put(buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->data, cap);
        if (!p)
            oom();
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void puts_(buf *b, const char *s) { put(b, s, strlen(s)); }

/* Empties b: "" (not NULL) from here on. */
static void reset(buf *b)
{
    b->len = 0;
    put(b, "", 0);
}

static void putf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(buf *b, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(tmp))
        oom();
    put(b, tmp, (size_t)n);
}

/* The canonical string: '"', '\\' and bytes below 0x20 escaped (cswriter's quote()). */
static void quote(buf *b, const char *s)
{
    puts_(b, "\"");
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\') {
            char esc[2] = {'\\', (char)*p};
            put(b, esc, 2);
        } else if (*p < 0x20) {
            putf(b, "\\u%04x", *p);
        } else {
            put(b, (const char *)p, 1);
        }
    }
    puts_(b, "\"");
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void quote_list(buf *b, char **list, size_t len, int sorted)
{
    char **copy = NULL;
    if (sorted && len > 0) {
        copy = malloc(len * sizeof(*copy));
        if (!copy)
            oom();
        memcpy(copy, list, len * sizeof(*copy));
        qsort(copy, len, sizeof(*copy), cmp_str);
        list = copy;
    }
    puts_(b, "[");
    for (size_t i = 0; i < len; i++) {
        if (i > 0)
            puts_(b, ",");
        quote(b, list[i]);
    }
    puts_(b, "]");
    free(copy);
}

static void image_json(buf *b, const image_storage_images *img)
{
    puts_(b, "{\"id\":");
    quote(b, img->id);
    puts_(b, ",\"names\":");
    quote_list(b, img->names, img->names_len, 0);
    puts_(b, ",\"names_history\":");
    quote_list(b, img->names_history, img->names_history_len, 0);
    puts_(b, ",\"digest\":");
    quote(b, img->digest);
    puts_(b, ",\"digests\":");
    quote_list(b, img->digests, img->digests_len, 1);
    puts_(b, ",\"layer\":");
    quote(b, img->layer);
    puts_(b, ",\"metadata\":");
    quote(b, img->metadata);
    puts_(b, ",\"created\":");
    quote(b, img->created);
    puts_(b, ",\"big_data\":[");
    for (size_t i = 0; i < img->big_data_names_len; i++) {
        if (i > 0)
            puts_(b, ",");
        puts_(b, "{\"key\":");
        quote(b, img->big_data_names[i]);
        putf(b, ",\"size\":%lld,\"digest\":",
             (long long)(img->big_data_sizes ? img->big_data_sizes[i] : -1));
        quote(b, img->big_data_digests ? img->big_data_digests[i] : NULL);
        puts_(b, "}");
    }
    puts_(b, "]}");
}

static int cmp_image(const void *a, const void *b)
{
    return strcmp(((const image_storage_images *)a)->id, ((const image_storage_images *)b)->id);
}

static void state_json(buf *b, image_storage_images *imgs, size_t len)
{
    qsort(imgs, len, sizeof(*imgs), cmp_image);
    puts_(b, "[");
    for (size_t i = 0; i < len; i++) {
        if (i > 0)
            puts_(b, ",");
        image_json(b, &imgs[i]);
    }
    puts_(b, "]");
}

typedef struct strings {
    char **v;
    size_t len;
} strings;

#define KNOWN_MAX 512

static void remember(strings *set, const char *s)
{
    for (size_t i = 0; i < set->len; i++)
        if (strcmp(set->v[i], s) == 0)
            return;
    if (set->len == KNOWN_MAX)
        return;
    if (!set->v && !(set->v = calloc(KNOWN_MAX, sizeof(*set->v))))
        oom();
    if (!(set->v[set->len] = strdup(s)))
        oom();
    set->len++;
}

static void strings_clear(strings *set)
{
    for (size_t i = 0; i < set->len; i++)
        free(set->v[i]);
    free(set->v);
}

typedef struct reader {
    image_store_t st;
    int opened; /* 1 open, 0 not yet, -1 failed */
    const char *dir;
    FILE *log;
    int failed;
    buf last_state;
    /* the free loop's answers since the last S line: "query\tanswer" */
    char **seen;
    size_t seen_len, seen_cap;
    /* every name and ID the free loop has seen, to ask for them after they go */
    strings known_names, known_ids;
} reader;

static void err_line(reader *r, const char *where)
{
    fprintf(r->log, "E\t%s\t%s\t%s\n", where, image_store_error_name(&r->st),
            image_store_error_message(&r->st));
    r->failed = 1;
}

static int ensure_open(reader *r)
{
    if (r->opened == 0) {
        if (new_image_store(false, true, r->dir, &r->st) == 0) {
            r->opened = 1;
        } else {
            err_line(r, "open");
            r->opened = -1;
        }
    }
    return r->opened == 1;
}

static void err_answer(buf *b, const reader *r)
{
    puts_(b, "ERR ");
    puts_(b, image_store_error_name(&r->st));
}

/* One big-data item's "sha256:<hex>\t<length>", or ERR CODE. */
static void big_data_answer(buf *b, reader *r, const char *id, const char *key)
{
    char *data = NULL, sum[72];
    size_t len = 0;
    if (r->st.big_data_len(&r->st, id, key, &data, &len) != 0) {
        err_answer(b, r);
        return;
    }
    if (image_store_sha256(sum, data, len) != 0) {
        free(data);
        puts_(b, "ERR sha256");
        return;
    }
    free(data);
    putf(b, "%s\t%zu", sum, len);
}

/* A/AH lines: one images(), then every big-data item it lists. */
static void read_all(reader *r, const char *label)
{
    image_storage_images *imgs = NULL;
    size_t len = 0;
    if (!ensure_open(r))
        return;
    if (r->st.images(&r->st, &imgs, &len) != 0) {
        err_line(r, label);
        fprintf(r->log, "A\t%s\tERR %s\n", label, image_store_error_name(&r->st));
        return;
    }
    buf b = {0};
    state_json(&b, imgs, len);
    fprintf(r->log, "A\t%s\t%s\n", label, b.data);
    for (size_t i = 0; i < len; i++) {
        for (size_t k = 0; k < imgs[i].big_data_names_len; k++) {
            reset(&b);
            big_data_answer(&b, r, imgs[i].id, imgs[i].big_data_names[k]);
            fprintf(r->log, "AH\t%s\t%s\t%s\t%s\n", label, imgs[i].id,
                    imgs[i].big_data_names[k], b.data);
        }
    }
    free(b.data);
    image_storage_images_free(imgs, len);
}

static void forget_answers(reader *r)
{
    for (size_t i = 0; i < r->seen_len; i++)
        free(r->seen[i]);
    r->seen_len = 0;
}

/* Logs "kind\tquery\tanswer" unless this S already logged it. */
static void answer(reader *r, const char *kind, const char *query, const char *ans)
{
    buf line = {0};
    puts_(&line, kind);
    puts_(&line, "\t");
    puts_(&line, query);
    puts_(&line, "\t");
    puts_(&line, ans);
    for (size_t i = 0; i < r->seen_len; i++) {
        if (strcmp(r->seen[i], line.data) == 0) {
            free(line.data);
            return;
        }
    }
    if (r->seen_len == r->seen_cap) {
        size_t cap = r->seen_cap ? r->seen_cap * 2 : 64;
        char **p = realloc(r->seen, cap * sizeof(*p));
        if (!p)
            oom();
        r->seen = p;
        r->seen_cap = cap;
    }
    fprintf(r->log, "%s\n", line.data);
    r->seen[r->seen_len++] = line.data;
}

static void get_answer(reader *r, const char *id)
{
    image_storage_images got;
    buf b = {0};
    if (r->st.get(id, &r->st, &got) == 0) {
        image_json(&b, &got);
        image_storage_images_clear(&got);
    } else {
        err_answer(&b, r);
    }
    answer(r, "G", id, b.data);
    free(b.data);
}

static void lookup_answer(reader *r, const char *name)
{
    char *id = NULL;
    buf b = {0};
    if (r->st.lookup(name, &r->st, &id) == 0) {
        puts_(&b, id);
        free(id);
    } else {
        err_answer(&b, r);
    }
    answer(r, "L", name, b.data);
    free(b.data);
}

/* One round of the free loop: images(), then the other reads on one image
 * (and on one name and one ID it saw before). */
static void free_round(reader *r, unsigned long round)
{
    image_storage_images *imgs = NULL;
    size_t len = 0;
    buf b = {0};
    if (!ensure_open(r))
        return;
    if (r->st.images(&r->st, &imgs, &len) != 0) {
        err_line(r, "images");
        return;
    }
    state_json(&b, imgs, len);
    if (r->last_state.data == NULL || strcmp(b.data, r->last_state.data) != 0) {
        fprintf(r->log, "S\t%s\n", b.data);
        reset(&r->last_state);
        put(&r->last_state, b.data, b.len);
        forget_answers(r);
    }
    for (size_t i = 0; i < len; i++) {
        remember(&r->known_ids, imgs[i].id);
        for (size_t k = 0; k < imgs[i].names_len; k++)
            remember(&r->known_names, imgs[i].names[k]);
    }
    /* names and IDs seen before, which may be gone or moved by now */
    if (r->known_ids.len > 0)
        get_answer(r, r->known_ids.v[round % r->known_ids.len]);
    if (r->known_names.len > 0)
        lookup_answer(r, r->known_names.v[round % r->known_names.len]);
    if (len > 0) {
        const image_storage_images *img = &imgs[round % len];
        get_answer(r, img->id);
        for (size_t i = 0; i < img->names_len; i++)
            lookup_answer(r, img->names[i]);
        for (size_t i = 0; i < img->digests_len; i++) {
            image_storage_images *found = NULL;
            size_t found_len = 0;
            reset(&b);
            if (r->st.by_digest(&r->st, img->digests[i], &found, &found_len) == 0) {
                qsort(found, found_len, sizeof(*found), cmp_image);
                for (size_t k = 0; k < found_len; k++) {
                    if (k > 0)
                        puts_(&b, ",");
                    puts_(&b, found[k].id);
                }
                image_storage_images_free(found, found_len);
            } else {
                err_answer(&b, r);
            }
            answer(r, "D", img->digests[i], b.data);
        }
        for (size_t i = 0; i < img->big_data_names_len; i++) {
            buf q = {0};
            reset(&b);
            big_data_answer(&b, r, img->id, img->big_data_names[i]);
            puts_(&q, img->id);
            puts_(&q, "\t");
            puts_(&q, img->big_data_names[i]);
            answer(r, "B", q.data, b.data);
            free(q.data);
        }
    }
    free(b.data);
    image_storage_images_free(imgs, len);
}

/* Reads what stdin has; returns a complete line (caller frees) or NULL. */
typedef struct input {
    char data[4096];
    size_t len;
    int eof;
} input;

static char *next_line(input *in, int wait)
{
    for (;;) {
        char *nl = memchr(in->data, '\n', in->len);
        if (nl) {
            size_t n = (size_t)(nl - in->data);
            char *line = strndup(in->data, n);
            if (!line)
                oom();
            memmove(in->data, nl + 1, in->len - n - 1);
            in->len -= n + 1;
            return line;
        }
        if (in->eof || in->len == sizeof(in->data))
            return NULL;
        struct pollfd p = {.fd = 0, .events = POLLIN};
        int rc = poll(&p, 1, wait ? -1 : 0);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0)
            return NULL;
        ssize_t got = read(0, in->data + in->len, sizeof(in->data) - in->len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            in->eof = 1;
            return NULL;
        }
        in->len += (size_t)got;
    }
}

static void say(const char *line)
{
    if (printf("%s\n", line) < 0 || fflush(stdout) != 0) {
        fprintf(stderr, "reader: cannot answer the writer: %s\n", strerror(errno));
        exit(1);
    }
}

static int serve(reader *r)
{
    input in = {.len = 0};
    char *line;
    while ((line = next_line(&in, 1)) != NULL) {
        unsigned long step;
        char ack[64];
        if (sscanf(line, "step %lu", &step) == 1) {
            snprintf(ack, sizeof(ack), "%lu", step);
            read_all(r, ack);
            fflush(r->log);
            snprintf(ack, sizeof(ack), "ack %lu", step);
            say(ack);
        } else if (strcmp(line, "free") == 0) {
            unsigned long round = 0;
            char *cmd = NULL;
            time_t t0 = time(NULL);
            do {
                free_round(r, round++);
                if (r->opened != 1)
                    cmd = next_line(&in, 1); /* nothing to read: just wait */
                else
                    cmd = next_line(&in, 0);
            } while (!cmd && !in.eof && time(NULL) - t0 <= 60);
            fprintf(r->log, "# free loop: %lu rounds\n", round);
            fflush(r->log);
            if (cmd == NULL) {
                fprintf(stderr, "reader: no \"end\" from the writer\n");
                free(line);
                return 1;
            }
            free(line);
            line = cmd;
            if (strcmp(line, "end") != 0) {
                fprintf(stderr, "reader: expected \"end\", got \"%s\"\n", line);
                free(line);
                return 1;
            }
            read_all(r, "final");
            fflush(r->log);
            say("bye");
        } else {
            fprintf(stderr, "reader: unknown command \"%s\"\n", line);
            free(line);
            return 1;
        }
        free(line);
    }
    return 0;
}

int main(int argc, char **argv)
{
    reader r = {.dir = argc > 1 ? argv[1] : NULL, .log = stdout};
    int rc = 0;
    if (argc == 4 && strcmp(argv[2], "serve") == 0) {
        r.log = fopen(argv[3], "w");
        if (!r.log) {
            fprintf(stderr, "reader: %s: %s\n", argv[3], strerror(errno));
            return 1;
        }
        rc = serve(&r);
        if (fclose(r.log) != 0)
            rc = 1;
    } else if (argc == 3 && strcmp(argv[2], "dump") == 0) {
        read_all(&r, "dump");
    } else if (argc == 4 && strcmp(argv[2], "loop") == 0) {
        unsigned long n = strtoul(argv[3], NULL, 10);
        for (unsigned long i = 0; i < n; i++)
            free_round(&r, i);
    } else {
        fprintf(stderr, "usage: reader DIR serve LOG | DIR dump | DIR loop N\n");
        return 1;
    }
    if (fflush(stdout) != 0)
        rc = 1;
    if (r.opened != 0)
        image_store_close(&r.st);
    forget_answers(&r);
    free(r.seen);
    strings_clear(&r.known_names);
    strings_clear(&r.known_ids);
    free(r.last_state.data);
    return rc ? rc : r.failed ? 3 : 0;
}

/*
 * imagestore-bench: the C side of the benchmark (issue #3), one process per
 * phase, with the same workload as the containers/storage driver
 * (bench/csbench.go, "the peer" below).
 *
 *   imagestore-bench create DIR N [--mode calls|image-batch|batch] [--chunk K] [--start I]
 *                                 [--phase NAME]
 *   imagestore-bench read   DIR N
 *   imagestore-bench delete DIR N
 *   imagestore-bench rss    DIR N EMPTYDIR
 *
 * Image i has ID = hex sha256("image-<i>"), the name "example.com/repo<i>:tag",
 * a manifest (the peer's exact bytes) under "manifest" and a 1500-byte config
 * of 'c' bytes under "sha256:<id>". Every phase prints one JSON line:
 *   {"impl":"imagestore-c","phase":...,"n":...,"seconds":...,"per_op_us":...}
 *
 * create modes: "calls" makes the three calls per image, each durable on its
 * own; "image-batch" wraps each image's three calls in one batch (durable per
 * image); "batch" puts all N images into one batch (or batches of K images
 * with --chunk K) and also reports images_per_s. Timing covers the calls only
 * (the store is opened before, as the peer does). --start I creates images
 * I..I+N-1 instead of 0..N-1 (to add to a store that holds 0..I-1); --phase
 * names the JSON line's phase.
 *
 * read: "open" (new_image_store alone), "open+list" (from before
 * new_image_store to after images()) and "images-per-image" (that images()
 * call per image copy), then, each over all N images: lookup by name, by
 * 12-hex ID prefix, by manifest digest, the "manifest" big-data read (as the
 * peer), the 1500-byte config read and "get" (get() by full ID: one image
 * copy per call; last, so that the phases before it run as they did).
 * Everything the loops look up is computed before the clock starts; every
 * answer is checked. --readonly opens DIR read-only: bench/run reads the
 * peer's own store, in containers/storage's layout, that way.
 *
 * rss: opens the empty store EMPTYDIR first and reads VmRSS, then opens DIR
 * (N images) and reads VmRSS again; reports the difference per image.
 *
 * Times are CLOCK_MONOTONIC.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "image_store.h"


#define IMPL "imagestore-c"
#define CONFIG_LEN 1500

typedef struct workload {
    size_t n;
    char (*id)[65];
    char **name;
    char **manifest;
    size_t *manifest_len;
    char (*manifest_digest)[72];
    char (*prefix)[13];
    char (*config_key)[72];
    char config[CONFIG_LEN];
} workload;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const image_store_t *st)
{
    fprintf(stderr, "imagestore-bench: %s: %s (%s)\n", what,
            st ? image_store_error_message(st) : strerror(errno),
            st ? image_store_error_name(st) : "errno");
    exit(1);
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (p == NULL) {
        perror("imagestore-bench: calloc");
        exit(1);
    }
    return p;
}

static char *xasprintf(const char *fmt, const char *arg, size_t *len)
{
    char *out = NULL;
    int k = asprintf(&out, fmt, arg);
    if (k < 0) {
        perror("imagestore-bench: asprintf");
        exit(1);
    }
    if (len)
        *len = (size_t)k;
    return out;
}

static void sha256_hex(char out[65], const void *data, size_t len)
{
    char full[72];
    if (image_store_sha256(full, data, len) != 0) {
        fprintf(stderr, "imagestore-bench: sha256 failed\n");
        exit(1);
    }
    memcpy(out, full + 7, 65);
}

/* Images start .. start+n-1 of the peer's sequence. */
static void workload_init(workload *w, size_t n, size_t start)
{
    w->n = n;
    w->id = xcalloc(n, sizeof(*w->id));
    w->name = xcalloc(n, sizeof(*w->name));
    w->manifest = xcalloc(n, sizeof(*w->manifest));
    w->manifest_len = xcalloc(n, sizeof(*w->manifest_len));
    w->manifest_digest = xcalloc(n, sizeof(*w->manifest_digest));
    w->prefix = xcalloc(n, sizeof(*w->prefix));
    w->config_key = xcalloc(n, sizeof(*w->config_key));
    memset(w->config, 'c', sizeof(w->config));
    for (size_t i = 0; i < n; i++) {
        char seed[32], num[24];
        int k = snprintf(seed, sizeof(seed), "image-%zu", start + i);
        sha256_hex(w->id[i], seed, (size_t)k);
        snprintf(num, sizeof(num), "%zu", start + i);
        w->name[i] = xasprintf("example.com/repo%s:tag", num, NULL);
        /* The peer's manifest(i), byte for byte. */
        w->manifest[i] = xasprintf(
            "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
            "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
            "\"digest\":\"sha256:%s\",\"size\":1500},\"layers\":[]}",
            w->id[i], &w->manifest_len[i]);
        if (image_store_sha256(w->manifest_digest[i], w->manifest[i], w->manifest_len[i]) != 0)
            die("sha256", NULL);
        memcpy(w->prefix[i], w->id[i], 12);
        w->prefix[i][12] = '\0';
        snprintf(w->config_key[i], sizeof(w->config_key[i]), "sha256:%s", w->id[i]);
    }
}

static void workload_free(workload *w)
{
    for (size_t i = 0; i < w->n; i++) {
        free(w->name[i]);
        free(w->manifest[i]);
    }
    free(w->id);
    free(w->name);
    free(w->manifest);
    free(w->manifest_len);
    free(w->manifest_digest);
    free(w->prefix);
    free(w->config_key);
}

static void report(const char *phase, size_t n, double seconds, size_t ops, const char *extra)
{
    printf("{\"impl\":\"" IMPL "\",\"phase\":\"%s\",\"n\":%zu,\"seconds\":%.9f,"
           "\"per_op_us\":%.4f%s%s}\n",
           phase, n, seconds, seconds * 1e6 / (double)(ops ? ops : 1), extra ? "," : "",
           extra ? extra : "");
    fflush(stdout);
}

static void open_store_as(const char *dir, image_store_t *st, bool readonly)
{
    if (new_image_store(false, readonly, dir, st) != 0)
        die("open", st);
}

static void open_store(const char *dir, image_store_t *st)
{
    open_store_as(dir, st, false);
}

/* The three calls of one image, each durable on its own. */
static void create_one(image_store_t *st, const workload *w, size_t i)
{
    const char *names[1] = {w->name[i]};
    if (st->create(w->id[i], names, 1, NULL, "{}", IMAGE_TIME_NOW, NULL, st, NULL) != 0)
        die("create", st);
    if (st->set_big_data_len(st, w->id[i], "manifest", w->manifest[i], w->manifest_len[i]) != 0)
        die("set_big_data manifest", st);
    if (st->set_big_data_len(st, w->id[i], w->config_key[i], w->config, CONFIG_LEN) != 0)
        die("set_big_data config", st);
}

static void batch_begin(image_store_t *st)
{
    if (image_store_batch_begin(st) != 0)
        die("batch_begin", st);
}

static void batch_commit(image_store_t *st)
{
    if (image_store_batch_commit(st) != 0)
        die("batch_commit", st);
}

static int cmd_create(const char *dir, size_t n, const char *mode, size_t chunk, size_t start,
                      const char *label)
{
    workload w;
    image_store_t st;
    char phase[64], extra[128];
    snprintf(phase, sizeof(phase), "create-%s", mode);
    if (label != NULL)
        snprintf(phase, sizeof(phase), "%s", label);
    bool calls = strcmp(mode, "calls") == 0, image_batch = strcmp(mode, "image-batch") == 0,
         batch = strcmp(mode, "batch") == 0;
    if (!calls && !image_batch && !batch) {
        fprintf(stderr, "imagestore-bench: unknown create mode \"%s\"\n", mode);
        return 2;
    }
    workload_init(&w, n, start);
    open_store(dir, &st);
    if (chunk == 0 || chunk > n)
        chunk = n;
    double t0 = now();
    if (calls) {
        for (size_t i = 0; i < n; i++)
            create_one(&st, &w, i);
    }
    else if (image_batch) {
        for (size_t i = 0; i < n; i++) {
            batch_begin(&st);
            create_one(&st, &w, i);
            batch_commit(&st);
        }
    } else {
        for (size_t i = 0; i < n; i += chunk) {
            batch_begin(&st);
            for (size_t j = i; j < n && j < i + chunk; j++)
                create_one(&st, &w, j);
            batch_commit(&st);
        }
    }
    double dt = now() - t0;
    int k = snprintf(extra, sizeof(extra), "\"images_per_s\":%.1f", (double)n / dt);
    if (batch)
        k += snprintf(extra + k, sizeof(extra) - (size_t)k, ",\"chunk\":%zu", chunk);
    if (start)
        snprintf(extra + k, sizeof(extra) - (size_t)k, ",\"start\":%zu", start);
    report(phase, n, dt, n, extra);
    image_store_close(&st);
    workload_free(&w);
    return 0;
}

static int cmd_read(const char *dir, size_t n, bool readonly)
{
    workload w;
    image_store_t st;
    image_storage_images *imgs = NULL;
    size_t len = 0;
    workload_init(&w, n, 0);

    double t0 = now();
    open_store_as(dir, &st, readonly);
    double t1 = now();
    if (st.images(&st, &imgs, &len) != 0)
        die("images", &st);
    double t2 = now();
    if (len != n) {
        fprintf(stderr, "imagestore-bench: listed %zu images, want %zu\n", len, n);
        return 1;
    }
    image_storage_images_free(imgs, len);
    report("open", n, t1 - t0, 1, NULL);
    report("open+list", n, t2 - t0, 1, NULL);
    report("images-per-image", n, t2 - t1, n, NULL);

    t0 = now();
    for (size_t i = 0; i < n; i++) {
        char *id = NULL;
        if (st.lookup(w.name[i], &st, &id) != 0)
            die("lookup name", &st);
        if (strcmp(id, w.id[i]) != 0) {
            fprintf(stderr, "imagestore-bench: lookup %s gave %s\n", w.name[i], id);
            return 1;
        }
        free(id);
    }
    report("lookup-name", n, now() - t0, n, NULL);

    t0 = now();
    for (size_t i = 0; i < n; i++) {
        char *id = NULL;
        if (st.lookup(w.prefix[i], &st, &id) != 0)
            die("lookup ID prefix", &st);
        if (strcmp(id, w.id[i]) != 0) {
            fprintf(stderr, "imagestore-bench: lookup %s gave %s\n", w.prefix[i], id);
            return 1;
        }
        free(id);
    }
    report("lookup-id-prefix", n, now() - t0, n, NULL);

    t0 = now();
    for (size_t i = 0; i < n; i++) {
        if (st.by_digest(&st, w.manifest_digest[i], &imgs, &len) != 0)
            die("by_digest", &st);
        if (len != 1) {
            fprintf(stderr, "imagestore-bench: by-digest %zu gave %zu images\n", i, len);
            return 1;
        }
        image_storage_images_free(imgs, len);
    }
    report("by-digest", n, now() - t0, n, NULL);

    t0 = now();
    for (size_t i = 0; i < n; i++) {
        char *data = NULL;
        size_t dlen = 0;
        if (st.big_data_len(&st, w.id[i], "manifest", &data, &dlen) != 0)
            die("big_data", &st);
        if (dlen != w.manifest_len[i]) {
            fprintf(stderr, "imagestore-bench: manifest of %zu has %zu bytes, want %zu\n", i,
                    dlen, w.manifest_len[i]);
            return 1;
        }
        free(data);
    }
    report("big-data-read", n, now() - t0, n, NULL);

    t0 = now();
    for (size_t i = 0; i < n; i++) {
        char *data = NULL;
        size_t dlen = 0;
        if (st.big_data_len(&st, w.id[i], w.config_key[i], &data, &dlen) != 0)
            die("big_data config", &st);
        if (dlen != CONFIG_LEN) {
            fprintf(stderr, "imagestore-bench: config of %zu has %zu bytes, want %d\n", i, dlen,
                    CONFIG_LEN);
            return 1;
        }
        free(data);
    }
    report("big-data-read-config", n, now() - t0, n, NULL);

    t0 = now();
    for (size_t i = 0; i < n; i++) {
        image_storage_images img;
        if (st.get(w.id[i], &st, &img) != 0)
            die("get", &st);
        if (strcmp(img.id, w.id[i]) != 0) {
            fprintf(stderr, "imagestore-bench: get %s gave %s\n", w.id[i], img.id);
            return 1;
        }
        image_storage_images_clear(&img);
    }
    report("get", n, now() - t0, n, NULL);

    image_store_close(&st);
    workload_free(&w);
    return 0;
}

static int cmd_delete(const char *dir, size_t n)
{
    workload w;
    image_store_t st;
    workload_init(&w, n, 0);
    open_store(dir, &st);
    double t0 = now();
    for (size_t i = 0; i < n; i++)
        if (st.delete(w.id[i], &st) != 0)
            die("delete", &st);
    report("delete", n, now() - t0, n, NULL);
    image_store_close(&st);
    workload_free(&w);
    return 0;
}

/* VmRSS of this process, in bytes. */
static long long vm_rss(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long long kb = -1;
    if (f == NULL)
        die("open /proc/self/status", NULL);
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = strtoll(line + 6, NULL, 10);
            break;
        }
    fclose(f);
    if (kb < 0) {
        fprintf(stderr, "imagestore-bench: no VmRSS in /proc/self/status\n");
        exit(1);
    }
    return kb * 1024;
}

static int cmd_rss(const char *dir, size_t n, const char *empty_dir)
{
    image_store_t empty, st;
    char extra[160];
    open_store(empty_dir, &empty);
    long long before = vm_rss();
    double t0 = now();
    open_store(dir, &st);
    double dt = now() - t0;
    long long after = vm_rss();
    snprintf(extra, sizeof(extra),
             "\"rss_empty_bytes\":%lld,\"rss_bytes\":%lld,\"bytes_per_image\":%.1f", before, after,
             n ? (double)(after - before) / (double)n : 0.0);
    report("rss", n, dt, 1, extra);
    image_store_close(&st);
    image_store_close(&empty);
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: imagestore-bench create DIR N [--mode calls|image-batch|batch] "
                    "[--chunk K] [--start I] [--phase NAME]\n"
                    "       imagestore-bench read DIR N [--readonly]\n"
                    "       imagestore-bench delete DIR N\n"
                    "       imagestore-bench rss DIR N EMPTYDIR\n");
    exit(2);
}

static size_t parse_size(const char *s)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        usage();
    return (size_t)v;
}

int main(int argc, char **argv)
{
    if (argc < 4)
        usage();
    const char *cmd = argv[1], *dir = argv[2];
    size_t n = parse_size(argv[3]);
    if (strcmp(cmd, "create") == 0) {
        const char *mode = "calls", *label = NULL;
        size_t chunk = 0, start = 0;
        for (int i = 4; i < argc; i++) {
            if (strcmp(argv[i], "--mode") == 0 && i + 1 < argc)
                mode = argv[++i];
            else if (strcmp(argv[i], "--chunk") == 0 && i + 1 < argc)
                chunk = parse_size(argv[++i]);
            else if (strcmp(argv[i], "--start") == 0 && i + 1 < argc)
                start = parse_size(argv[++i]);
            else if (strcmp(argv[i], "--phase") == 0 && i + 1 < argc)
                label = argv[++i];
            else
                usage();
        }
        return cmd_create(dir, n, mode, chunk, start, label);
    }
    if (strcmp(cmd, "read") == 0 && argc == 4)
        return cmd_read(dir, n, false);
    if (strcmp(cmd, "read") == 0 && argc == 5 && strcmp(argv[4], "--readonly") == 0)
        return cmd_read(dir, n, true); /* e.g. containers/storage's layout */
    if (strcmp(cmd, "delete") == 0 && argc == 4)
        return cmd_delete(dir, n);
    if (strcmp(cmd, "rss") == 0 && argc == 5)
        return cmd_rss(dir, n, argv[4]);
    usage();
    return 2;
}

/* cnnc runtime: reading and writing the tensors of the standalone drivers (the C driver
 * <m>_main.c and the CUDA driver <m>_main.cu share it).  An input is a .npy file (its
 * dtype, C order and shape are checked) or a raw little-endian file of exactly its bytes;
 * an output is written as .npy when its name ends in .npy, else raw.  C99 and C++; no
 * allocation (a .npy header is read into a fixed buffer). */
#ifndef CNNC_NPY_H
#define CNNC_NPY_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* one input or output of a driver */
typedef struct cnnc_io {
    const char *what;      /* "input 0 (x)", for messages */
    const char *descr;     /* numpy's type string, e.g. "<f4" */
    size_t bytes;
    int rank;
    const long *shape;
} cnnc_io;

/* the longest .npy header a driver reads */
#define CNNC_NPY_HEADER_MAX 4096

static int cnnc_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* the value of 'key' in a .npy header dict, after its colon and spaces */
static const char *cnnc_npy_field(const char *header, const char *key)
{
    const char *p = strstr(header, key);
    if (p == NULL) return NULL;
    p = strchr(p + strlen(key), ':');
    if (p == NULL) return NULL;
    for (++p; *p == ' '; ++p) {
    }
    return p;
}

/* checks a .npy header against `io`; leaves `f` at the data */
static int cnnc_read_npy_header(FILE *f, const cnnc_io *io, const char *path)
{
    unsigned char magic[8];
    static char h[CNNC_NPY_HEADER_MAX + 1];
    if (fread(magic, 1, 8, f) != 8 || memcmp(magic, "\x93NUMPY", 6) != 0) {
        fprintf(stderr, "%s: not a .npy file\n", path);
        return 0;
    }
    unsigned char len[4] = {0, 0, 0, 0};
    size_t len_bytes = magic[6] == 1 ? 2 : 4;
    if (magic[6] < 1 || magic[6] > 3 || fread(len, 1, len_bytes, f) != len_bytes) {
        fprintf(stderr, "%s: unsupported .npy version %d\n", path, magic[6]);
        return 0;
    }
    size_t hlen = len[0] | (size_t)len[1] << 8 | (size_t)len[2] << 16 | (size_t)len[3] << 24;
    if (hlen > CNNC_NPY_HEADER_MAX || fread(h, 1, hlen, f) != hlen) {
        fprintf(stderr, "%s: truncated or oversized .npy header\n", path);
        return 0;
    }
    h[hlen] = '\0';
    for (size_t n = hlen; n > 0 && (h[n - 1] == ' ' || h[n - 1] == '\n'); --n) {
        h[n - 1] = '\0';
    }
    const char *descr = cnnc_npy_field(h, "'descr'");
    size_t dl = strlen(io->descr);
    if (descr == NULL || *descr != '\'' || strncmp(descr + 1, io->descr, dl) != 0 || descr[1 + dl] != '\'') {
        fprintf(stderr, "%s: %s must have dtype '%s' (header: %s)\n", path, io->what, io->descr, h);
        return 0;
    }
    const char *order = cnnc_npy_field(h, "'fortran_order'");
    if (order == NULL || strncmp(order, "False", 5) != 0) {
        fprintf(stderr, "%s: %s must be in C order (header: %s)\n", path, io->what, h);
        return 0;
    }
    const char *shape = cnnc_npy_field(h, "'shape'");
    if (shape == NULL || *shape != '(') {
        fprintf(stderr, "%s: no shape in the .npy header (%s)\n", path, h);
        return 0;
    }
    int rank = 0;
    const char *p = shape + 1;
    for (;;) {
        while (*p == ' ' || *p == ',') ++p;
        if (*p == ')' || *p == '\0') break;
        char *end;
        long d = strtol(p, &end, 10);
        if (end == p || rank >= io->rank || d != io->shape[rank]) {
            rank = -1;
            break;
        }
        ++rank;
        p = end;
    }
    if (rank != io->rank) {
        fprintf(stderr, "%s: %s must have shape (", path, io->what);
        for (int i = 0; i < io->rank; ++i) fprintf(stderr, "%s%ld", i ? ", " : "", io->shape[i]);
        fprintf(stderr, ") (header: %s)\n", h);
        return 0;
    }
    return 1;
}

/* reads `io` from `path` (.npy, or raw of exactly io->bytes) into dst */
static int cnnc_read_input(const char *path, void *dst, const cnnc_io *io)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "cannot open %s\n", path);
        return 0;
    }
    int ok = 1;
    if (cnnc_ends_with(path, ".npy")) {
        ok = cnnc_read_npy_header(f, io, path);
    } else if (fseek(f, 0, SEEK_END) != 0 || ftell(f) != (long)io->bytes || fseek(f, 0, SEEK_SET) != 0) {
        fprintf(stderr, "%s: a raw file for %s must hold exactly %zu bytes\n", path, io->what, io->bytes);
        ok = 0;
    }
    if (ok && fread(dst, 1, io->bytes, f) != io->bytes) {
        fprintf(stderr, "%s: fewer than the %zu bytes of %s\n", path, io->bytes, io->what);
        ok = 0;
    }
    fclose(f);
    return ok;
}

/* writes `io` from src to `path`: .npy when the name ends in .npy, else raw */
static int cnnc_write_output(const char *path, const void *src, const cnnc_io *io)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        fprintf(stderr, "cannot write %s\n", path);
        return 0;
    }
    int ok = 1;
    if (cnnc_ends_with(path, ".npy")) {
        char shape[512] = "(";
        for (int i = 0; i < io->rank; ++i) {
            size_t n = strlen(shape);
            snprintf(shape + n, sizeof shape - n, "%ld,%s", io->shape[i], i + 1 < io->rank ? " " : "");
        }
        if (io->rank > 1) shape[strlen(shape) - 1] = '\0';  /* (2, 3) but (3,) */
        strncat(shape, ")", sizeof shape - strlen(shape) - 1);
        char header[640];
        int n = snprintf(header, sizeof header, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
                         io->descr, shape);
        int pad = (64 - (10 + n + 1) % 64) % 64;
        size_t hlen = (size_t)n + pad + 1;
        unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff),
                                 (unsigned char)(hlen >> 8)};
        ok = fwrite(pre, 1, 10, f) == 10 && fwrite(header, 1, (size_t)n, f) == (size_t)n;
        for (int i = 0; ok && i < pad; ++i) ok = fputc(' ', f) != EOF;
        ok = ok && fputc('\n', f) != EOF;
    }
    ok = ok && fwrite(src, 1, io->bytes, f) == io->bytes;
    return fclose(f) == 0 && ok;
}

#endif /* CNNC_NPY_H */

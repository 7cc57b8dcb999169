/*
** lsp_rpc.c — Content-Length framing of JSON-RPC messages (see lsp_rpc.h).
*/
#include "lsp_rpc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "util.h"

void lsp_io_init(lsp_io *io, int in_fd, int out_fd)
{
    memset(io, 0, sizeof *io);
    io->in_fd = in_fd;
    io->out_fd = out_fd;
}

void lsp_io_free(lsp_io *io)
{
    free(io->buf);
    memset(io, 0, sizeof *io);
}

long lsp_io_fill(lsp_io *io)
{
    if (io->cap - io->len < 65536) {
        io->cap = io->cap ? io->cap * 2 : 131072;
        while (io->cap - io->len < 65536) io->cap *= 2;
        io->buf = xrealloc(io->buf, io->cap);
    }
    for (;;) {
        ssize_t n = read(io->in_fd, io->buf + io->len, io->cap - io->len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -1;
        io->len += (size_t)n;
        return (long)n;
    }
}

/* The end of the header block at the start of buf ("\r\n\r\n", or "\n\n"
** from a lenient client), or NULL when not all of it is there yet. */
static const char *lsp_header_end(const char *buf, size_t len, size_t *sep)
{
    for (size_t i = 0; i + 1 < len; i++) {
        if (buf[i] == '\n' && buf[i + 1] == '\n') {
            *sep = 2;
            return buf + i;
        }
        if (i + 3 < len && memcmp(buf + i, "\r\n\r\n", 4) == 0) {
            *sep = 4;
            return buf + i;
        }
    }
    return NULL;
}

/* Content-Length of the headers [buf, end); -1 when missing or invalid. */
static long long lsp_content_length(const char *buf, const char *end)
{
    const char *p = buf;
    long long len = -1;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        static const char name[] = "Content-Length:";
        if ((size_t)(eol - p) > sizeof name - 1 && strncasecmp(p, name, sizeof name - 1) == 0) {
            const char *v = p + sizeof name - 1;
            while (v < eol && (*v == ' ' || *v == '\t')) v++;
            long long n = 0;
            const char *d = v;
            while (d < eol && *d >= '0' && *d <= '9' && n <= (long long)LSP_MAX_MESSAGE) n = n * 10 + (*d++ - '0');
            while (d < eol && (*d == ' ' || *d == '\t' || *d == '\r')) d++;
            if (d == v || d != eol || n > (long long)LSP_MAX_MESSAGE) return -1;
            len = n;
        }
        p = eol + 1;
    }
    return len;
}

lsp_next lsp_io_next(lsp_io *io, json_t **msg, char *err, size_t errsize)
{
    *msg = NULL;
    size_t sep = 0;
    const char *hend = lsp_header_end(io->buf, io->len, &sep);
    if (!hend) {
        if (io->len > 65536) {      /* no header is that long */
            snprintf(err, errsize, "no message header in the first 64 KiB of input");
            return LSP_NEXT_BAD_FRAME;
        }
        return LSP_NEXT_NONE;
    }
    long long n = lsp_content_length(io->buf, hend);
    if (n < 0) {
        snprintf(err, errsize, "a message header without a valid Content-Length");
        return LSP_NEXT_BAD_FRAME;
    }
    size_t start = (size_t)(hend - io->buf) + sep;
    if (io->len - start < (size_t)n) return LSP_NEXT_NONE;
    json_error_t je;
    json_t *v = json_loadb(io->buf + start, (size_t)n, JSON_ALLOW_NUL, &je);
    memmove(io->buf, io->buf + start + (size_t)n, io->len - start - (size_t)n);
    io->len -= start + (size_t)n;
    if (!v) {
        snprintf(err, errsize, "message is not JSON: %s", je.text);
        return LSP_NEXT_BAD_JSON;
    }
    *msg = v;
    return LSP_NEXT_MESSAGE;
}

static bool lsp_write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

bool lsp_io_send(lsp_io *io, const json_t *msg)
{
    char *body = json_dumps(msg, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (!body) return false;
    size_t n = strlen(body);
    char head[64];
    int h = snprintf(head, sizeof head, "Content-Length: %zu\r\n\r\n", n);
    bool ok = lsp_write_all(io->out_fd, head, (size_t)h) && lsp_write_all(io->out_fd, body, n);
    free(body);
    return ok;
}

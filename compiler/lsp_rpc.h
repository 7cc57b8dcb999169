/*
** lsp_rpc.h — the Language Server Protocol's base protocol: JSON-RPC 2.0
** messages as jansson values, framed by `Content-Length` headers on a pair
** of file descriptors (stdin and stdout for `flowc lsp`).
**
** Reading is split so that the server can wait with poll() for input or
** for its debounce timer: lsp_io_fill reads what one read() gives,
** lsp_io_next takes complete messages out of the buffer.
*/
#ifndef FLOWC_LSP_RPC_H
#define FLOWC_LSP_RPC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Largest message accepted (a whole document is sent on open). */
#define LSP_MAX_MESSAGE (256u * 1024 * 1024)

typedef struct lsp_io {
    int in_fd, out_fd;
    char *buf;              /* owned: bytes read and not yet taken */
    size_t len, cap;
} lsp_io;

void lsp_io_init(lsp_io *io, int in_fd, int out_fd);
void lsp_io_free(lsp_io *io);

/* One read() into the buffer. Returns the bytes read, 0 at end of input,
** -1 on a read error (EINTR is retried). */
long lsp_io_fill(lsp_io *io);

typedef enum lsp_next {
    LSP_NEXT_NONE,          /* no complete message buffered yet */
    LSP_NEXT_MESSAGE,       /* *msg: a new reference to the parsed message */
    LSP_NEXT_BAD_JSON,      /* a frame whose body is not JSON (skipped): err says why */
    LSP_NEXT_BAD_FRAME,     /* headers without a valid Content-Length: the stream is lost */
} lsp_next;

lsp_next lsp_io_next(lsp_io *io, json_t **msg, char *err, size_t errsize);

/* Write one message with its header. Returns false when the output is gone. */
bool lsp_io_send(lsp_io *io, const json_t *msg);

#endif

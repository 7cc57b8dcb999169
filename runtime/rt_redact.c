/*
** rt_redact.c — [base] redaction sets: the registered secrets, every form
** they may be written in, and one pass over a text that covers each
** occurrence of any of them; the set each thread redacts with.
*/
#include "rt_redact.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rt_util.h"

#define MIN_FORM 4              /* shorter values and forms are not redacted */
#define MARKER_LEN (sizeof RT_REDACTED - 1)

typedef struct form {
    char *s;                    /* owned, wiped when freed */
    size_t len;
} form;

/* Forms being built for one value, outside the lock. */
typedef struct form_list {
    form *v;
    size_t n, cap;
} form_list;

/* A redaction set: values, their forms, and the index the scan uses. */
struct rt_redact_set {
    char **values;              /* the registered values, as given */
    size_t nvalues;
    size_t *vslot;              /* a hash set over values: index + 1, 0 for a free slot */
    size_t vcap;                /* its size, a power of two */
    form *forms;                /* every form of every value: by first byte, then longest first */
    size_t nforms;
    size_t bucket[257];         /* the forms starting with byte b: forms[bucket[b] .. bucket[b + 1]) */
    uint64_t pairs[65536 / 64]; /* bit (a << 8 | b): some form starts with the bytes a, b */
    pthread_rwlock_t lock;
    bool any;                   /* nforms > 0, readable without the lock */
};

/* The process's set: a thread that uses no set of its own redacts with it. */
static rt_redact_set process_set = { .lock = PTHREAD_RWLOCK_INITIALIZER };

/* The set each thread redacts with (NULL: the process's), behind a
** pthread key: tcc cannot link the TLS relocations __thread needs. */
static pthread_key_t current_key;
static pthread_once_t current_once = PTHREAD_ONCE_INIT;

static void current_key_init(void)
{
    pthread_key_create(&current_key, NULL);
}

static rt_redact_set *current_set(void)
{
    pthread_once(&current_once, current_key_init);
    rt_redact_set *s = pthread_getspecific(current_key);
    return s ? s : &process_set;
}

rt_redact_set *rt_redact_use(rt_redact_set *set)
{
    pthread_once(&current_once, current_key_init);
    rt_redact_set *prev = pthread_getspecific(current_key);
    pthread_setspecific(current_key, set);
    return prev;
}

rt_redact_set *rt_redact_current(void)
{
    pthread_once(&current_once, current_key_init);
    return pthread_getspecific(current_key);
}

static void wipe_free(char *s, size_t n)
{
    if (!s) return;
    memset(s, 0, n);
    free(s);
}

/* ---- the forms of a value --------------------------------------------------- */

/* Adds a copy of s[0..n) unless it is too short or already listed. */
static void list_add(form_list *l, const char *s, size_t n)
{
    if (n < MIN_FORM) return;
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].len == n && memcmp(l->v[i].s, s, n) == 0) return;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 32;
        l->v = rt_xrealloc(l->v, sizeof *l->v * l->cap);
    }
    l->v[l->n++] = (form){ rt_xstrndup(s, n), n };
}

/* Adds the buffer's text and wipes the buffer. */
static void list_add_buf(form_list *l, rt_buf *b)
{
    if (b->data) list_add(l, b->data, b->len);
    if (b->data) memset(b->data, 0, b->len);
    rt_buf_free(b);
}

static void list_free(form_list *l)
{
    for (size_t i = 0; i < l->n; i++) wipe_free(l->v[i].s, l->v[i].len);
    free(l->v);
    *l = (form_list){ 0 };
}

/* The JSON string escapes writers differ in: jansson writes UTF-8 as it is
** (JSON_ENSURE_ASCII: \uXXXX, upper-case hex), Python \u00e9 (lower case),
** PHP escapes '/' too. Every combination is a form. */
enum { JS_ASCII = 1, JS_LOWER = 2, JS_SLASH = 4, JS_VARIANTS = 8 };

static void put_u(rt_buf *b, const char *hex, unsigned unit)
{
    char e[6] = { '\\', 'u', hex[unit >> 12 & 15], hex[unit >> 8 & 15], hex[unit >> 4 & 15], hex[unit & 15] };
    rt_buf_append(b, e, 6);
}

/* s[0..n) as the inside of a JSON string, escaped as variant v writes it. */
static void json_escape(rt_buf *b, const char *str, size_t n, unsigned v)
{
    const char *hex = v & JS_LOWER ? "0123456789abcdef" : "0123456789ABCDEF";
    const unsigned char *s = (const unsigned char *)str;
    rt_buf_append(b, "", 0);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        const char *esc = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\n' ? "\\n" : c == '\r' ? "\\r"
                        : c == '\t' ? "\\t" : c == '\b' ? "\\b" : c == '\f' ? "\\f"
                        : c == '/' && (v & JS_SLASH) ? "\\/" : NULL;
        size_t len = c >= 0x80 && (v & JS_ASCII) ? rt_utf8_seq(s + i, n - i) : 0;
        if (esc) {
            rt_buf_puts(b, esc);
        } else if (c < 0x20) {
            put_u(b, hex, c);
        } else if (len) {
            unsigned cp = len == 2 ? (c & 0x1fu) << 6 : len == 3 ? (c & 0x0fu) << 12 : (c & 0x07u) << 18;
            for (size_t k = 1; k < len; k++) cp |= (s[i + k] & 0x3fu) << (6 * (len - 1 - k));
            if (cp > 0xffff) {
                put_u(b, hex, 0xd800 + ((cp - 0x10000) >> 10));
                put_u(b, hex, 0xdc00 + ((cp - 0x10000) & 0x3ff));
            } else {
                put_u(b, hex, cp);
            }
            i += len - 1;
        } else {
            rt_buf_putc(b, (char)c);
        }
    }
}

/* Standard base64 and base64url, padded and not, of s[0..n) on its own;
** and at each byte alignment inside a longer text (k bytes before it in
** its 3-byte group), the characters that only s decides: those covering
** bits 8k .. 8(k + n) of the encoded stream, whole. */
static void base64_forms(form_list *l, const char *s, size_t n)
{
    char *tmp = rt_xmalloc(n + 2);
    for (size_t k = 0; k < 3; k++) {
        memset(tmp, 0, k);
        memcpy(tmp + k, s, n);
        char *enc = rt_base64(tmp, n + k);
        size_t len = strlen(enc), first = (8 * k + 5) / 6, last = 8 * (k + n) / 6;
        for (int url = 0; url < 2; url++) {
            if (url)
                for (char *p = enc; *p; p++) *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
            if (k == 0) {
                size_t bare = len;
                while (bare && enc[bare - 1] == '=') bare--;
                list_add(l, enc, len);
                list_add(l, enc, bare);
            }
            list_add(l, enc + first, last - first);
        }
        wipe_free(enc, len);
    }
    wipe_free(tmp, n + 2);
}

/* Every form of the value s[0..n) (see rt_redact.h). */
static void value_forms(form_list *l, const char *s, size_t n)
{
    list_add(l, s, n);
    /* JSON-escaped once (l->v[1 .. once)), then each of those again */
    for (unsigned v = 0; v < JS_VARIANTS; v++) {
        rt_buf b = { 0 };
        json_escape(&b, s, n, v);
        list_add_buf(l, &b);
    }
    size_t once = l->n;
    for (size_t i = 1; i < once; i++)
        for (unsigned v = 0; v < JS_VARIANTS; v++) {
            rt_buf b = { 0 };
            json_escape(&b, l->v[i].s, l->v[i].len, v);
            list_add_buf(l, &b);
        }
    /* percent-encoded: the raw value (a query, a form body, url_encode())
    ** and its JSON escapes (an object rendered into a query) */
    for (size_t i = 0; i < once; i++)
        for (unsigned f = 0; f < 4; f++) {
            rt_buf b = { 0 };
            rt_buf_append(&b, "", 0);
            rt_percent_encode(&b, l->v[i].s, l->v[i].len, f);
            list_add_buf(l, &b);
        }
    /* base64 of the value and of it as the runtime renders it in JSON */
    base64_forms(l, s, n);
    rt_buf b = { 0 };
    json_escape(&b, s, n, 0);
    if (b.len != n || memcmp(b.data, s, n) != 0) base64_forms(l, b.data, b.len);
    memset(b.data, 0, b.len);
    rt_buf_free(&b);
}

/* ---- the index ---------------------------------------------------------------- */

static int form_cmp(const void *a, const void *b)
{
    const form *x = a, *y = b;
    unsigned char cx = (unsigned char)x->s[0], cy = (unsigned char)y->s[0];
    if (cx != cy) return cx < cy ? -1 : 1;
    if (x->len != y->len) return x->len > y->len ? -1 : 1;
    return memcmp(x->s, y->s, x->len);
}

static inline unsigned pair_of(const unsigned char *p)
{
    return (unsigned)p[0] << 8 | p[1];
}

/* Merges a value's forms (sorted here) into the sorted index, dropping
** repeats (two values may share a form), and brings the buckets and the
** pair filter up to date; under the write lock. Linear in the index: a
** fanout that registers a derived value per item does not sort it anew
** each time. */
static void index_add_locked(rt_redact_set *S, form *add, size_t n)
{
    qsort(add, n, sizeof *add, form_cmp);
    form *merged = rt_xmalloc(sizeof *merged * (S->nforms + n + 1));
    size_t i = 0, j = 0, w = 0, count[256] = { 0 };
    while (i < S->nforms || j < n) {
        form f = j == n || (i < S->nforms && form_cmp(&S->forms[i], &add[j]) <= 0) ? S->forms[i++] : add[j++];
        if (w && form_cmp(&merged[w - 1], &f) == 0) {
            wipe_free(f.s, f.len);
            continue;
        }
        merged[w++] = f;
        unsigned pr = pair_of((const unsigned char *)f.s);
        count[pr >> 8]++;
        S->pairs[pr >> 6] |= 1ull << (pr & 63);
    }
    free(S->forms);
    S->forms = merged;
    S->nforms = w;
    __atomic_store_n(&S->any, w > 0, __ATOMIC_RELEASE);
    S->bucket[0] = 0;
    for (int c = 0; c < 256; c++) S->bucket[c + 1] = S->bucket[c] + count[c];
}

/* The registered values, found by hash: a secret is registered again on
** every read, by as many values as a run derives. */
static uint64_t value_hash(const char *s)
{
    uint64_t h = 14695981039346656037ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static bool value_known_locked(rt_redact_set *S, const char *s)
{
    if (!S->vcap) return false;
    for (size_t k = value_hash(s) & (S->vcap - 1); S->vslot[k]; k = (k + 1) & (S->vcap - 1))
        if (strcmp(S->values[S->vslot[k] - 1], s) == 0) return true;
    return false;
}

static void value_insert_locked(rt_redact_set *S, const char *s)
{
    if (2 * (S->nvalues + 1) > S->vcap) {
        /* grow and re-place: at most half full */
        free(S->vslot);
        S->vcap = S->vcap ? S->vcap * 2 : 64;
        S->vslot = rt_xcalloc(S->vcap, sizeof *S->vslot);
        for (size_t i = 0; i < S->nvalues; i++) {
            size_t k = value_hash(S->values[i]) & (S->vcap - 1);
            while (S->vslot[k]) k = (k + 1) & (S->vcap - 1);
            S->vslot[k] = i + 1;
        }
    }
    S->values = rt_xrealloc(S->values, sizeof *S->values * (S->nvalues + 1));
    S->values[S->nvalues++] = rt_xstrdup(s);
    size_t k = value_hash(s) & (S->vcap - 1);
    while (S->vslot[k]) k = (k + 1) & (S->vcap - 1);
    S->vslot[k] = S->nvalues;
}

void rt_redact_set_add(rt_redact_set *S, const char *secret)
{
    if (!secret || strlen(secret) < MIN_FORM) return;
    /* secret_value calls this on every read: a value seen before costs a
    ** shared lock and a hash lookup, not the write lock */
    pthread_rwlock_rdlock(&S->lock);
    bool known = value_known_locked(S, secret);
    pthread_rwlock_unlock(&S->lock);
    if (known) return;
    form_list l = { 0 };
    value_forms(&l, secret, strlen(secret));
    /* every form goes in under one write lock: whoever finds the value
    ** registered finds its forms too */
    pthread_rwlock_wrlock(&S->lock);
    if (!value_known_locked(S, secret)) {
        value_insert_locked(S, secret);
        index_add_locked(S, l.v, l.n);     /* the forms now belong to the index */
        l.n = 0;
    }
    pthread_rwlock_unlock(&S->lock);
    list_free(&l);
}

void rt_redact_add(const char *secret)
{
    rt_redact_set_add(current_set(), secret);
}

/* Forgets (and wipes) every value of S. */
static void set_clear(rt_redact_set *S)
{
    pthread_rwlock_wrlock(&S->lock);
    for (size_t i = 0; i < S->nvalues; i++) wipe_free(S->values[i], strlen(S->values[i]));
    for (size_t i = 0; i < S->nforms; i++) wipe_free(S->forms[i].s, S->forms[i].len);
    free(S->values);
    free(S->forms);
    free(S->vslot);
    S->values = NULL;
    S->forms = NULL;
    S->vslot = NULL;
    S->nvalues = S->nforms = S->vcap = 0;
    __atomic_store_n(&S->any, false, __ATOMIC_RELEASE);
    memset(S->bucket, 0, sizeof S->bucket);
    memset(S->pairs, 0, sizeof S->pairs);
    pthread_rwlock_unlock(&S->lock);
}

rt_redact_set *rt_redact_set_new(void)
{
    rt_redact_set *S = rt_xcalloc(1, sizeof *S);
    pthread_rwlock_init(&S->lock, NULL);
    return S;
}

void rt_redact_set_free(rt_redact_set *S)
{
    if (!S || S == &process_set) return;
    set_clear(S);
    pthread_rwlock_destroy(&S->lock);
    free(S);
}

void rt_redact_teardown(void)
{
    set_clear(&process_set);
}

/* ---- the scan ----------------------------------------------------------------- */

/* The length of the longest form at p (avail bytes on), or 0; under the lock. */
static inline size_t form_at(rt_redact_set *S, const unsigned char *p, size_t avail)
{
    if (avail < MIN_FORM) return 0;
    unsigned pr = pair_of(p);
    if (!(S->pairs[pr >> 6] >> (pr & 63) & 1)) return 0;
    for (size_t k = S->bucket[p[0]]; k < S->bucket[p[0] + 1]; k++) {
        const form *f = &S->forms[k];
        if (f->len <= avail && (unsigned char)f->s[1] == p[1] && memcmp(f->s, p, f->len) == 0) return f->len;
    }
    return 0;
}

/* One pass over s[0..n): every byte some form covers becomes part of a
** "[redacted]" (one per covered stretch, so overlapping secrets go whole),
** the rest is appended to out with invalid UTF-8 repaired. With out NULL,
** stops at the first form. Stops once out would pass `budget` bytes with
** nothing pending (what comes later cannot change what was written): the
** shortening caller cuts there. Returns whether a form was found. Under
** the lock. */
static bool scan_locked(rt_redact_set *S, const char *s, size_t n, rt_buf *out, size_t budget)
{
    if (!S->nforms) {
        if (out) rt_utf8_repair(out, s, n);
        return false;
    }
    const unsigned char *u = (const unsigned char *)s;
    size_t done = 0;                            /* s[0..done) is written */
    size_t cov_from = SIZE_MAX, cov_to = 0;     /* the covered stretch being built */
    bool found = false;
    for (size_t i = 0; i + MIN_FORM <= n; i++) {
        if (cov_from != SIZE_MAX && i >= cov_to) {
            rt_buf_puts(out, RT_REDACTED);
            done = cov_to;
            cov_from = SIZE_MAX;
        }
        if (cov_from == SIZE_MAX && out && out->len + (i - done) > budget) {
            rt_utf8_repair(out, s + done, i - done);
            return found;
        }
        size_t len = form_at(S, u + i, n - i);
        if (!len) continue;
        found = true;
        if (!out) return true;
        if (cov_from == SIZE_MAX) {
            rt_utf8_repair(out, s + done, i - done);
            cov_from = i;
        }
        if (i + len > cov_to) cov_to = i + len;
    }
    if (!out) return found;
    if (cov_from != SIZE_MAX) {
        rt_buf_puts(out, RT_REDACTED);
        done = cov_to;
    }
    rt_utf8_repair(out, s + done, n - done);
    return found;
}

/* s redacted into a new buffer, at most about budget bytes of it. */
static rt_buf redacted(rt_redact_set *S, const char *s, size_t n, size_t budget)
{
    rt_buf b = { 0 };
    rt_buf_append(&b, "", 0);
    pthread_rwlock_rdlock(&S->lock);
    scan_locked(S, s, n, &b, budget);
    pthread_rwlock_unlock(&S->lock);
    return b;
}

bool rt_redact_holds(const char *s)
{
    if (!s) return false;
    rt_redact_set *S = current_set();
    pthread_rwlock_rdlock(&S->lock);
    bool found = scan_locked(S, s, strlen(s), NULL, SIZE_MAX);
    pthread_rwlock_unlock(&S->lock);
    return found;
}

bool rt_redact_any(void)
{
    return __atomic_load_n(&current_set()->any, __ATOMIC_ACQUIRE);
}

bool rt_redact_holds_n(const char *s, size_t n)
{
    rt_redact_set *S = current_set();
    if (!__atomic_load_n(&S->any, __ATOMIC_ACQUIRE)) return false;
    pthread_rwlock_rdlock(&S->lock);
    bool found = scan_locked(S, s, n, NULL, SIZE_MAX);
    pthread_rwlock_unlock(&S->lock);
    return found;
}

void rt_redact_append(rt_buf *b, const char *s, size_t n)
{
    rt_redact_set *S = current_set();
    pthread_rwlock_rdlock(&S->lock);
    scan_locked(S, s, n, b, SIZE_MAX);
    pthread_rwlock_unlock(&S->lock);
}

char *rt_redact(const char *s)
{
    if (!s) return NULL;
    rt_buf b = redacted(current_set(), s, strlen(s), SIZE_MAX);
    return rt_buf_take(&b);
}

/* The redacted text of s[0..n) as a NEW string, or NULL when s needs no change. */
static json_t *redact_text_locked(rt_redact_set *S, const char *s, size_t n)
{
    if (!scan_locked(S, s, n, NULL, SIZE_MAX) && rt_utf8_valid(s, n)) return NULL;
    rt_buf b = { 0 };
    rt_buf_append(&b, "", 0);
    scan_locked(S, s, n, &b, SIZE_MAX);
    json_t *r = json_stringn_nocheck(b.data, b.len);
    rt_buf_free(&b);
    return r;
}

/* Whether redacting v would change anything (a secret, or a string that is
** not UTF-8, anywhere in it): a walk that allocates nothing, so that the
** common case, a value with neither, costs one scan of its strings. */
static bool json_needs_redaction_locked(rt_redact_set *S, const json_t *v)
{
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        return scan_locked(S, s, n, NULL, SIZE_MAX) || !rt_utf8_valid(s, n);
    }
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            if (json_needs_redaction_locked(S, json_array_get(v, i))) return true;
        return false;
    }
    if (json_is_object(v)) {
        for (void *it = json_object_iter((json_t *)v); it; it = json_object_iter_next((json_t *)v, it)) {
            const char *k = json_object_iter_key(it);
            size_t kn = json_object_iter_key_len(it);
            if (scan_locked(S, k, kn, NULL, SIZE_MAX) || !rt_utf8_valid(k, kn)) return true;
            if (json_needs_redaction_locked(S, json_object_iter_value(it))) return true;
        }
        return false;
    }
    return false;
}

/* A NEW reference: v itself when nothing in it changed. */
static json_t *redact_json_locked(rt_redact_set *S, json_t *v)
{
    if (json_is_string(v)) {
        json_t *r = redact_text_locked(S, json_string_value(v), json_string_length(v));
        return r ? r : json_incref(v);
    }
    if (json_is_array(v)) {
        size_t n = json_array_size(v);
        json_t **items = rt_xmalloc(sizeof *items * (n ? n : 1));
        bool changed = false;
        for (size_t i = 0; i < n; i++) {
            items[i] = redact_json_locked(S, json_array_get(v, i));
            changed |= items[i] != json_array_get(v, i);
        }
        json_t *out = changed ? json_array() : json_incref(v);
        for (size_t i = 0; i < n; i++) {
            if (changed) json_array_append_new(out, items[i]);
            else json_decref(items[i]);
        }
        free(items);
        return out;
    }
    if (json_is_object(v)) {
        size_t n = json_object_size(v), i = 0;
        json_t **items = rt_xmalloc(sizeof *items * (n ? n : 1));
        json_t **keys = rt_xcalloc(n ? n : 1, sizeof *keys);     /* a redacted key, or NULL */
        bool changed = false;
        const char *k;
        json_t *item;
        json_object_foreach(v, k, item) {
            keys[i] = redact_text_locked(S, k, strlen(k));
            items[i] = redact_json_locked(S, item);
            changed |= keys[i] || items[i] != item;
            i++;
        }
        json_t *out = changed ? json_object() : json_incref(v);
        i = 0;
        json_object_foreach(v, k, item) {
            if (changed) json_object_set_new_nocheck(out, keys[i] ? json_string_value(keys[i]) : k, items[i]);
            else json_decref(items[i]);
            json_decref(keys[i]);
            i++;
        }
        free(items);
        free(keys);
        return out;
    }
    return json_incref(v);
}

json_t *rt_redact_json(json_t *v)
{
    if (!v) return json_null();
    rt_redact_set *S = current_set();
    pthread_rwlock_rdlock(&S->lock);
    json_t *r = json_needs_redaction_locked(S, v) ? redact_json_locked(S, v) : json_incref(v);
    pthread_rwlock_unlock(&S->lock);
    return r;
}

/* ---- shortening ----------------------------------------------------------------- */

/* Cuts a redacted text to at most max bytes plus "...": on a character
** boundary, and before a marker the cut would split ("[reda..."). */
static void shorten_buf(rt_buf *b, size_t max)
{
    if (b->len <= max) return;
    size_t cut = rt_utf8_cut(b->data, b->len, max);
    for (size_t k = cut >= MARKER_LEN ? cut - MARKER_LEN + 1 : 0; k < cut; k++)
        if (b->data[k] == '[' && k + MARKER_LEN <= b->len && memcmp(b->data + k, RT_REDACTED, MARKER_LEN) == 0) {
            cut = k;
            break;
        }
    b->len = cut;
    b->data[cut] = '\0';
    rt_buf_puts(b, "...");
}

char *rt_redact_shorten(const char *s, size_t max)
{
    /* the scan stops a little past max: a 16 MB body costs what its start does */
    rt_buf b = redacted(current_set(), s ? s : "", s ? strlen(s) : 0, max + 8);
    shorten_buf(&b, max);
    return rt_buf_take(&b);
}

void rt_redact_copy(char *dst, size_t n, const char *s)
{
    if (!n) return;
    rt_buf b = redacted(current_set(), s ? s : "", s ? strlen(s) : 0, n + 8);
    if (b.len >= n) shorten_buf(&b, n > 4 ? n - 4 : 0);
    size_t len = b.len < n ? b.len : n - 1;
    memcpy(dst, b.data, len);
    dst[len] = '\0';
    rt_buf_free(&b);
}

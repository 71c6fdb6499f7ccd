/*
 * herald-c-vectors VECTORS_DIR
 *
 * Checks the C frame codec against Vectors/frames/{valid,invalid}.json (format:
 * Vectors/README.md). For each vector it decodes `hex` (stream or WebSocket
 * message transport, with the vector's maxPayloadLength), and compares:
 *   - the failure (none for valid vectors, `error` for invalid ones);
 *   - each decoded frame with `frames`: header fields, opcode name, payload
 *     type, payload bytes; the payload re-packed by protobuf-c must equal
 *     payloadHex (payloads are canonical); and the unpacked message must equal
 *     the JSON `payload` (protobuf JSON mapping) field by field;
 *   - valid vectors: re-encoding the frames gives exactly `hex`;
 *   - stream vectors: the same result when fed one byte at a time and, for
 *     small inputs, split in two at every position (FRM-17).
 * Prints every failure with the vector id and reason, then "N passed, N failed".
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "herald_frame.h"

/* ------------------------------------------------------------ utilities */

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap + 1);
    size_t r;
    while (buf != NULL && (r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            cap *= 2;
            char *nb = realloc(buf, cap + 1);
            if (nb == NULL) { free(buf); buf = NULL; }
            buf = nb;
        }
    }
    fclose(f);
    if (buf == NULL) return NULL;
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Lower-case hex to bytes; returns malloc'd buffer or NULL on bad input. */
static uint8_t *unhex(const char *s, size_t *out_len)
{
    size_t n = strlen(s);
    if (n % 2) return NULL;
    uint8_t *b = malloc(n / 2 + 1);
    if (b == NULL) return NULL;
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0) { free(b); return NULL; }
        b[i] = (uint8_t)(hi << 4 | lo);
    }
    *out_len = n / 2;
    return b;
}

/* Standard base64 with padding (protobuf JSON mapping of bytes). */
static uint8_t *unbase64(const char *s, size_t *out_len)
{
    size_t n = strlen(s);
    uint8_t *b = malloc(n / 4 * 3 + 3);
    if (b == NULL || n % 4) { free(b); return NULL; }
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        uint32_t acc = 0;
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            char c = s[i + k];
            int v;
            if (c >= 'A' && c <= 'Z') v = c - 'A';
            else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
            else if (c >= '0' && c <= '9') v = c - '0' + 52;
            else if (c == '+') v = 62;
            else if (c == '/') v = 63;
            else if (c == '=' && i + 4 == n && k >= 2) { v = 0; pad++; }
            else { free(b); return NULL; }
            acc = acc << 6 | (uint32_t)v;
        }
        b[o++] = (uint8_t)(acc >> 16);
        if (pad < 2) b[o++] = (uint8_t)(acc >> 8);
        if (pad < 1) b[o++] = (uint8_t)acc;
    }
    *out_len = o;
    return b;
}

/* Failure reason for the current vector. */
static char reason[4096];

static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    return -1;
}

/* ------------------------------------- message vs JSON (protobuf JSON mapping) */

/* "from_user_id" -> "fromUserId" */
static void json_name(const char *snake, char *out, size_t cap)
{
    size_t n = 0;
    int up = 0;
    for (size_t i = 0; snake[i] && n + 1 < cap; i++) {
        if (snake[i] == '_') { up = 1; continue; }
        char c = snake[i];
        out[n++] = (up && c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
        up = 0;
    }
    out[n] = '\0';
}

static size_t elem_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32: case PROTOBUF_C_TYPE_FLOAT:
        return 4;
    case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64: case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_BOOL: return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_ENUM: return sizeof(int);
    case PROTOBUF_C_TYPE_STRING: return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES: return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE: return sizeof(ProtobufCMessage *);
    }
    return 0;
}

/* proto3: is this singular value the default (and so absent from JSON)? */
static int is_default(ProtobufCType t, const void *v)
{
    switch (t) {
    case PROTOBUF_C_TYPE_STRING: { const char *s = *(char *const *)v; return s == NULL || s[0] == '\0'; }
    case PROTOBUF_C_TYPE_BYTES: return ((const ProtobufCBinaryData *)v)->len == 0;
    case PROTOBUF_C_TYPE_MESSAGE: return *(ProtobufCMessage *const *)v == NULL;
    default: {
        static const uint8_t zero[8];
        return memcmp(v, zero, elem_size(t)) == 0;
    }
    }
}

static int cmp_message(const ProtobufCMessage *m, const cJSON *obj, const char *path);

static int cmp_value(const ProtobufCFieldDescriptor *fd, const void *v, const cJSON *j, const char *path)
{
    char want[64];
    switch (fd->type) {
    case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
        if (!cJSON_IsNumber(j) || j->valuedouble != (double)*(const int32_t *)v)
            return fail("%s: C has %d", path, *(const int32_t *)v);
        return 0;
    case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
        if (!cJSON_IsNumber(j) || j->valuedouble != (double)*(const uint32_t *)v)
            return fail("%s: C has %u", path, *(const uint32_t *)v);
        return 0;
    case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
        snprintf(want, sizeof want, "%lld", (long long)*(const int64_t *)v);
        goto str64;
    case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
        snprintf(want, sizeof want, "%llu", (unsigned long long)*(const uint64_t *)v);
    str64: /* 64-bit integers are JSON strings */
        if (!cJSON_IsString(j) || strcmp(j->valuestring, want) != 0) return fail("%s: C has \"%s\"", path, want);
        return 0;
    case PROTOBUF_C_TYPE_FLOAT:
        if (!cJSON_IsNumber(j) || (float)j->valuedouble != *(const float *)v) return fail("%s: float differs", path);
        return 0;
    case PROTOBUF_C_TYPE_DOUBLE:
        if (!cJSON_IsNumber(j) || j->valuedouble != *(const double *)v) return fail("%s: double differs", path);
        return 0;
    case PROTOBUF_C_TYPE_BOOL:
        if (!cJSON_IsBool(j) || cJSON_IsTrue(j) != (*(const protobuf_c_boolean *)v != 0))
            return fail("%s: bool differs", path);
        return 0;
    case PROTOBUF_C_TYPE_ENUM: {
        /* enums as value names, or as numbers when the schema has no name */
        int e = *(const int *)v;
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(fd->descriptor, e);
        if (ev != NULL) {
            if (!cJSON_IsString(j) || strcmp(j->valuestring, ev->name) != 0)
                return fail("%s: C has %s", path, ev->name);
        } else if (!cJSON_IsNumber(j) || j->valuedouble != (double)e) {
            return fail("%s: C has unnamed enum value %d", path, e);
        }
        return 0;
    }
    case PROTOBUF_C_TYPE_STRING:
        if (!cJSON_IsString(j) || strcmp(j->valuestring, *(char *const *)v) != 0)
            return fail("%s: C has \"%s\"", path, *(char *const *)v);
        return 0;
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *bd = v;
        size_t n;
        uint8_t *b = cJSON_IsString(j) ? unbase64(j->valuestring, &n) : NULL;
        int ok = b != NULL && n == bd->len && (n == 0 || memcmp(b, bd->data, n) == 0);
        free(b);
        return ok ? 0 : fail("%s: bytes differ (C has %zu bytes)", path, bd->len);
    }
    case PROTOBUF_C_TYPE_MESSAGE:
        if (!cJSON_IsObject(j)) return fail("%s: JSON is not an object", path);
        return cmp_message(*(ProtobufCMessage *const *)v, j, path);
    }
    return fail("%s: unsupported field type", path);
}

/* Every field of m equals obj (defaults absent), and obj has no other key. */
static int cmp_message(const ProtobufCMessage *m, const cJSON *obj, const char *path)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    char sub[1024];
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *fd = &d->fields[i];
        char key[128];
        json_name(fd->name, key, sizeof key);
        snprintf(sub, sizeof sub, "%s.%s", path, key);
        const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, key);
        const char *base = (const char *)m;
        if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t count = *(const size_t *)(base + fd->quantifier_offset);
            const char *arr = *(char *const *)(base + fd->offset);
            if (count == 0) {
                if (j != NULL) return fail("%s: C has no elements, JSON has some", sub);
                continue;
            }
            if (!cJSON_IsArray(j) || (size_t)cJSON_GetArraySize(j) != count)
                return fail("%s: C has %zu elements", sub, count);
            size_t k = 0;
            const cJSON *e;
            cJSON_ArrayForEach(e, j) {
                char esub[1100];
                snprintf(esub, sizeof esub, "%s[%zu]", sub, k);
                if (cmp_value(fd, arr + k * elem_size(fd->type), e, esub) != 0) return -1;
                k++;
            }
        } else {
            const void *v = base + fd->offset;
            if (is_default(fd->type, v)) {
                if (j != NULL) return fail("%s: C has the default value, JSON has one", sub);
                continue;
            }
            if (j == NULL) return fail("%s: missing from JSON", sub);
            if (cmp_value(fd, v, j, sub) != 0) return -1;
        }
    }
    const cJSON *c;
    cJSON_ArrayForEach(c, obj) {
        int known = 0;
        for (unsigned i = 0; i < d->n_fields && !known; i++) {
            char key[128];
            json_name(d->fields[i].name, key, sizeof key);
            known = strcmp(key, c->string) == 0;
        }
        if (!known) return fail("%s: JSON key %s is not a field of %s", path, c->string, d->name);
    }
    return 0;
}

/* ------------------------------------------------------------ decoding */

/* Outcome of decoding a whole input. */
typedef struct {
    herald_error error;
    herald_frame *frames;
    size_t n;
} outcome;

static void outcome_free(outcome *o)
{
    for (size_t i = 0; i < o->n; i++) herald_frame_free(&o->frames[i]);
    free(o->frames);
    memset(o, 0, sizeof *o);
}

/* Stream transport, fed in chunks of `step` bytes (0 = all at once), or in two
 * parts split at `split` when step == SIZE_MAX. */
static void decode_stream(const uint8_t *in, size_t n, uint32_t maxp, size_t step, size_t split, outcome *o)
{
    herald_decoder d;
    herald_decoder_init(&d, maxp);
    if (step == SIZE_MAX) {
        herald_decoder_feed(&d, in, split);
        herald_decoder_feed(&d, in + split, n - split);
    } else if (step == 0) {
        herald_decoder_feed(&d, in, n);
    } else {
        for (size_t i = 0; i < n; i += step) herald_decoder_feed(&d, in + i, (n - i < step) ? n - i : step);
    }
    o->error = herald_decoder_finish(&d);
    o->n = d.nframes;
    o->frames = d.frames; /* take ownership */
    d.frames = NULL;
    d.nframes = 0;
    herald_decoder_free(&d);
}

static void decode_message(const uint8_t *in, size_t n, uint32_t maxp, outcome *o)
{
    memset(o, 0, sizeof *o);
    herald_frame f;
    o->error = herald_decode_message(in, n, maxp, &f);
    if (o->error == HERALD_OK) {
        o->frames = malloc(sizeof f);
        o->frames[0] = f;
        o->n = 1;
    }
}

/* Same error and same frames (headers and payload bytes). */
static int same_outcome(const outcome *a, const outcome *b)
{
    if (a->error != b->error || a->n != b->n) return 0;
    for (size_t i = 0; i < a->n; i++) {
        const herald_frame *x = &a->frames[i], *y = &b->frames[i];
        if (memcmp(&x->header, &y->header, sizeof x->header) != 0) return 0;
        if (x->header.length && memcmp(x->payload, y->payload, x->header.length) != 0) return 0;
    }
    return 1;
}

static long json_int(const cJSON *o, const char *key, long dflt)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(j) ? (long)j->valuedouble : dflt;
}

/* One decoded frame against its JSON description. */
static int check_frame(const herald_frame *f, const cJSON *jf, size_t idx)
{
    const herald_header *h = &f->header;
    const ProtobufCMessageDescriptor *desc = herald_opcode_payload_type(h->opcode, NULL);
    if (json_int(jf, "version", -1) != h->version) return fail("frame %zu: version %u", idx, h->version);
    if (json_int(jf, "flags", -1) != h->flags) return fail("frame %zu: flags %u", idx, h->flags);
    if (json_int(jf, "opcode", -1) != h->opcode) return fail("frame %zu: opcode 0x%04x", idx, h->opcode);
    if (json_int(jf, "requestId", -1) != (long)h->request_id) return fail("frame %zu: request id %u", idx, h->request_id);
    if (json_int(jf, "payloadLength", -1) != (long)h->length) return fail("frame %zu: length %u", idx, h->length);
    const cJSON *on = cJSON_GetObjectItemCaseSensitive(jf, "opcodeName");
    if (!cJSON_IsString(on) || strcmp(on->valuestring, f->opcode_name) != 0)
        return fail("frame %zu: opcode name %s", idx, f->opcode_name);
    const cJSON *ty = cJSON_GetObjectItemCaseSensitive(jf, "type");
    if (!cJSON_IsString(ty) || strcmp(ty->valuestring, desc->name) != 0)
        return fail("frame %zu: payload type %s", idx, desc->name);
    const cJSON *ph = cJSON_GetObjectItemCaseSensitive(jf, "payloadHex");
    size_t plen;
    uint8_t *pb = cJSON_IsString(ph) ? unhex(ph->valuestring, &plen) : NULL;
    if (pb == NULL) return fail("frame %zu: bad payloadHex in vector", idx);
    int rc = 0;
    if (plen != h->length || (plen && memcmp(pb, f->payload, plen) != 0)) {
        rc = fail("frame %zu: payload bytes differ from payloadHex", idx);
    } else {
        /* Canonical payloads: protobuf-c's re-packing must give the same bytes. */
        size_t rl = protobuf_c_message_get_packed_size(f->message);
        uint8_t *rb = malloc(rl + 1);
        protobuf_c_message_pack(f->message, rb);
        if (rl != plen || (rl && memcmp(rb, pb, rl) != 0))
            rc = fail("frame %zu: protobuf-c re-packs %s to %zu bytes that differ from payloadHex (%zu bytes)", idx,
                      desc->name, rl, plen);
        free(rb);
    }
    free(pb);
    if (rc != 0) return rc;
    const cJSON *pj = cJSON_GetObjectItemCaseSensitive(jf, "payload");
    if (!cJSON_IsObject(pj)) return fail("frame %zu: no payload object in vector", idx);
    char path[64];
    snprintf(path, sizeof path, "frame %zu payload", idx);
    return cmp_message(f->message, pj, path);
}

/* Runs one vector; returns 0 if it passes, else -1 with `reason` set. */
static int run_vector(const cJSON *t)
{
    const cJSON *hex = cJSON_GetObjectItemCaseSensitive(t, "hex");
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(t, "result");
    const cJSON *errj = cJSON_GetObjectItemCaseSensitive(t, "error");
    const cJSON *tr = cJSON_GetObjectItemCaseSensitive(t, "transport");
    const cJSON *frames = cJSON_GetObjectItemCaseSensitive(t, "frames");
    if (!cJSON_IsString(hex) || !cJSON_IsString(res) || !cJSON_IsArray(frames)) return fail("malformed vector entry");
    int valid = strcmp(res->valuestring, "valid") == 0;
    int message = cJSON_IsString(tr) && strcmp(tr->valuestring, "message") == 0;
    uint32_t maxp = (uint32_t)json_int(t, "maxPayloadLength", HERALD_DEFAULT_MAX_PAYLOAD);
    size_t n;
    uint8_t *in = unhex(hex->valuestring, &n);
    if (in == NULL) return fail("bad hex in vector");

    outcome o;
    int rc = 0;
    if (message) {
        decode_message(in, n, maxp, &o);
    } else {
        decode_stream(in, n, maxp, 0, 0, &o);
        /* FRM-17: the split of the input must not matter. */
        outcome alt;
        decode_stream(in, n, maxp, 1, 0, &alt);
        if (!same_outcome(&o, &alt)) rc = fail("byte-at-a-time feeding gives a different result (%s vs %s)",
                                                herald_error_name(alt.error), herald_error_name(o.error));
        outcome_free(&alt);
        for (size_t s = 1; rc == 0 && n <= 4096 && s < n; s++) {
            decode_stream(in, n, maxp, SIZE_MAX, s, &alt);
            if (!same_outcome(&o, &alt)) rc = fail("splitting the input at %zu gives a different result", s);
            outcome_free(&alt);
        }
    }

    if (rc == 0) {
        if (valid && o.error != HERALD_OK) {
            rc = fail("expected valid, got %s", herald_error_name(o.error));
        } else if (!valid) {
            const char *want = cJSON_IsString(errj) ? errj->valuestring : "?";
            if (o.error == HERALD_OK) rc = fail("expected %s, decoded without error", want);
            else if (strcmp(want, herald_error_name(o.error)) != 0)
                rc = fail("expected %s, got %s", want, herald_error_name(o.error));
        }
    }
    if (rc == 0 && (size_t)cJSON_GetArraySize(frames) != o.n)
        rc = fail("expected %d frames, decoded %zu", cJSON_GetArraySize(frames), o.n);
    size_t i = 0;
    const cJSON *jf;
    cJSON_ArrayForEach(jf, frames) {
        if (rc != 0) break;
        rc = check_frame(&o.frames[i], jf, i);
        i++;
    }
    /* Valid vectors: re-encoding every frame reproduces the input exactly. */
    if (rc == 0 && valid) {
        size_t off = 0;
        for (i = 0; i < o.n && rc == 0; i++) {
            const herald_frame *f = &o.frames[i];
            size_t el;
            uint8_t *enc = herald_encode_frame(f->header.flags, f->header.opcode, f->header.request_id, f->message, &el);
            if (enc == NULL) rc = fail("frame %zu: encoding failed", i);
            else if (off + el > n || memcmp(enc, in + off, el) != 0) rc = fail("frame %zu: re-encoded bytes differ from hex", i);
            off += el;
            free(enc);
        }
        if (rc == 0 && off != n) rc = fail("re-encoding gives %zu bytes, hex has %zu", off, n);
    }
    outcome_free(&o);
    free(in);
    return rc;
}

static void run_file(const char *path, int *passed, int *failed)
{
    size_t len;
    char *text = read_file(path, &len);
    if (text == NULL) {
        printf("FAIL %s: cannot read: %s\n", path, strerror(errno));
        (*failed)++;
        return;
    }
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    const cJSON *tests = cJSON_GetObjectItemCaseSensitive(root, "tests");
    if (!cJSON_IsArray(tests)) {
        printf("FAIL %s: not a vector file\n", path);
        (*failed)++;
        cJSON_Delete(root);
        return;
    }
    if (json_int(root, "numberOfTests", -1) != cJSON_GetArraySize(tests)) {
        printf("FAIL %s: numberOfTests does not match the number of tests\n", path);
        (*failed)++;
    }
    const cJSON *t;
    cJSON_ArrayForEach(t, tests) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(t, "id");
        reason[0] = '\0';
        if (run_vector(t) == 0) {
            (*passed)++;
        } else {
            (*failed)++;
            printf("FAIL %s: %s\n", cJSON_IsString(id) ? id->valuestring : "?", reason);
        }
    }
    cJSON_Delete(root);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s VECTORS_DIR\n", argv[0]);
        return 2;
    }
    int passed = 0, failed = 0;
    const char *files[] = {"frames/valid.json", "frames/invalid.json"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", argv[1], files[i]);
        run_file(path, &passed, &failed);
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

/*
 * herald-c-adapter: the C client of Tests/Interop/C under the adapter protocol herald-adapter/1
 * (Spec/19-client-conformance.md), for `herald conform client --adapter Tests/Interop/C/build/herald-c-adapter`.
 *
 * The runner starts this program once per case, plays a scripted server on loopback and sends commands as JSON
 * lines on stdin; replies and events go to stdout, one JSON object per line, each with a single write.
 *
 * The file has three parts:
 *
 *   PART 1  THE CLIENT (hc_*). A small Herald client over TCP, written from the specification on top of the frame
 *           codec (herald_frame.c) and protobuf-c. It knows nothing of JSON or of the adapter protocol: the
 *           application calls hc_create, hc_login, hc_request, hc_logout and hc_close, and hears about connection
 *           states, events, invitations, Disconnect and faults through callbacks (hc_callbacks). It does what the
 *           spec asks of a client: server URLs (TRN-1..3), Hello/Welcome (HS-7, HS-13, HS-25), login timeout
 *           (SES-19), Ping after heartbeat_interval_ms of silence (HS-41), idle timeout (HS-44), request ids never
 *           reused while in flight (HS-31, ERR-11), responses matched by request id (HS-37) and ProtocolError by its
 *           payload request_id (HS-76), capabilities (HS-19), one DeliveryAck per ACK_REQUIRED event, ACCEPTED or
 *           INCOMPATIBLE (HS-47, HS-48, HS-50), nothing sent after Disconnect (HS-58), unknown enum values (ERR-12,
 *           HS-61, EXT-13), framing failures (HS-69, HS-70), seq checks (EXT-29), the connection states of
 *           Spec/05-session.md §5.5, and reconnection after a lost transport as §5.10 describes (with the resume
 *           handle, 17.8, and the channels joined again in a new session). It speaks tcp:// only: no TLS, no
 *           WebSocket. Single-threaded: the application polls hc_fd() and calls hc_on_readable() and hc_on_timer().
 *
 *   PART 2  THE ADAPTER MAPPING. Adapter commands to client calls, client callbacks to adapter events: the part a
 *           new client library has to write (about 220 lines, mostly one line per command or event member).
 *
 *   PART 3  PLUMBING. JSON lines on stdin/stdout, base64, copying JSON arguments into protobuf requests by field
 *           name, and the event loop (poll on stdin and the client's socket). Any C client could reuse it.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

#include "herald/v1/attributes.pb-c.h"
#include "herald/v1/channels.pb-c.h"
#include "herald/v1/common.pb-c.h"
#include "herald/v1/handshake.pb-c.h"
#include "herald/v1/invitations.pb-c.h"
#include "herald/v1/opcode.pb-c.h"
#include "herald/v1/peer.pb-c.h"
#include "herald/v1/presence.pb-c.h"
#include "herald/v1/session.pb-c.h"
#include "herald_frame.h"

#define OP(name) HERALD__V1__OPCODE__OPCODE_##name
#define CS(name) HERALD__V1__CONNECTION_STATE__CONNECTION_STATE_##name
#define CR(name) HERALD__V1__CONNECTION_CHANGE_REASON__CONNECTION_CHANGE_REASON_##name
#define DR(name) HERALD__V1__DISCONNECT_REASON__DISCONNECT_REASON_##name
#define LIS(name) HERALD__V1__LOCAL_INVITATION_STATE__LOCAL_INVITATION_STATE_##name
#define RIS(name) HERALD__V1__REMOTE_INVITATION_STATE__REMOTE_INVITATION_STATE_##name

/* ================================================================================================================
 * PART 1: THE CLIENT
 * ================================================================================================================ */

/* Protocol defaults (Spec/14-limits.md), used before Welcome and for Welcome fields equal to zero (HS-25). */
#define HC_DEFAULT_HEARTBEAT_MS 5000u
#define HC_DEFAULT_IDLE_MS 30000u
#define HC_DEFAULT_LOGIN_MS 10000u
#define HC_DEFAULT_PORT "7420"                      /* tcp:// (TRN-1) */
#define HC_RECEIVE_LIMIT HERALD_DEFAULT_MAX_PAYLOAD /* what Hello.max_payload_length announces */
#define HC_REQUEST_DEADLINE_MS 15000                /* the client's own deadline for an answer (ERR-10) */
#define HC_RECONNECT_INITIAL_MS 500u                /* reconnection delays (Spec/05-session.md §5.10) */
#define HC_RECONNECT_MAXIMUM_MS 30000u

/* Why an operation failed. code is one of the adapter protocol's codes, which are plain enough for a library:
 * failed (result/value say how), timeout, connection-lost, not-logged-in, invalid-argument, unsupported, error. */
typedef struct {
    const char *code;
    const char *result; /* the result's enum value name; NULL for a value this client does not know (ERR-12) */
    int value;
    char message[512];
} hc_error;

/* The answer to a request: the response message, or err. */
typedef void (*hc_answer_fn)(void *ctx, const ProtobufCMessage *response, const hc_error *err);

/* An invitation, as the client tracks it (Spec/12-invitations.md). */
typedef struct {
    int local;  /* 1: this client is the caller (LocalInvitationState), 0: the callee (RemoteInvitationState) */
    char *id;   /* the caller-chosen id (local) or the server's callee-side id (remote) */
    char *peer; /* callee id (local) or caller id (remote) */
    char *channel, *content, *response;
    int state;
} hc_invitation;

/* What the client reports to its application. */
typedef struct {
    void (*state)(void *app, int state, int reason);                         /* ConnectionState, Reason */
    int (*event)(void *app, uint16_t opcode, const ProtobufCMessage *event); /* 0: cannot represent it */
    void (*invitation)(void *app, const hc_invitation *invitation);          /* after each state change */
    void (*disconnected)(void *app, int reason);                             /* HS-61 already applied */
    void (*fault)(void *app, const char *code, const char *detail);          /* the server's bytes are wrong */
} hc_callbacks;

enum { REQ_APP, REQ_HELLO, REQ_LOGIN, REQ_LOGOUT, REQ_PING };

typedef struct {
    uint32_t id;
    uint16_t opcode;
    int kind;
    hc_answer_fn answer;
    void *ctx;
    int64_t deadline; /* 0: none */
} hc_pending;

typedef struct {
    char *id;
    uint64_t seq;  /* last seq of the channel stream (EXT-29) */
    int resumed;   /* the session was resumed: a gap before the next event is missed events (EXT-41) */
    int rejoining; /* joined again by the client after a reconnection (Spec/05-session.md §5.10) */
} hc_channel;

/* Capabilities, as bits (Spec/01-overview.md); the client asks for those it implements. */
static const char *const hc_capability_names[] = {
    "core",     "peer-messages",    "offline-messages",   "presence",   "user-attributes",
    "channels", "channel-messages", "channel-attributes", "invitations"};
#define HC_NCAPS (sizeof hc_capability_names / sizeof hc_capability_names[0])

typedef struct {
    hc_callbacks cb;
    void *app;
    char *host, *port, *app_id, *user, *token;
    int closed;
    int state, reason; /* as last reported */
    /* the connection */
    int fd;
    unsigned gen; /* +1 each time a connection ends */
    herald_decoder dec;
    enum { PH_NONE, PH_HELLO, PH_LOGIN, PH_READY } phase; /* PH_LOGIN: handshaken, LoginRequest in flight */
    int session;
    int broken;             /* a send failed: the connection is lost */
    int disconnect_reason;  /* of the Disconnect received, or -1 */
    const char *fault_code; /* a fault to report once the current frame is handled */
    char fault_detail[256];
    hc_answer_fn login_answer, logout_answer;
    void *login_ctx, *logout_ctx;
    int close_after_logout;
    /* what Welcome said */
    uint32_t heartbeat_ms, idle_ms, login_ms, server_max_payload;
    unsigned caps;
    int64_t last_sent, last_received;
    /* requests in flight (HS-31) */
    uint32_t next_id;
    hc_pending *pending;
    size_t npending, cap_pending;
    /* the session, and reconnection after a lost transport (Spec/05-session.md §5.10, 17.8) */
    char *session_id, *resume_handle;
    int reconnecting;
    unsigned attempt;
    int64_t reconnect_at;
    /* streams (EXT-29) and invitations */
    uint64_t user_seq;
    int user_resumed;
    hc_channel *channels;
    size_t nchannels, cap_channels;
    hc_invitation *invitations;
    size_t ninvitations, cap_invitations;
    unsigned invitation_counter;
} hc_client;

static int64_t hc_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t hc_unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *hc_strdup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (d == NULL) abort();
    return d;
}

static void *hc_grow(void *array, size_t *cap, size_t n, size_t size)
{
    if (n < *cap) return array;
    *cap = *cap ? *cap * 2 : 8;
    void *p = realloc(array, *cap * size);
    if (p == NULL) abort();
    return p;
}

static hc_error *hc_err(hc_error *e, const char *code, const char *fmt, const char *arg)
{
    memset(e, 0, sizeof *e);
    e->code = code;
    snprintf(e->message, sizeof e->message, fmt, arg ? arg : "");
    return e;
}

static void hc_set_state(hc_client *c, int state, int reason)
{
    if (state == c->state && reason == c->reason) return;
    c->state = state;
    c->reason = reason;
    c->cb.state(c->app, state, reason);
}

/* The enum field `result` of a response (field 1 in every response that has one): 1 if the message has one. */
static int hc_result_of(const ProtobufCMessage *m, int *value, const char **name)
{
    const ProtobufCFieldDescriptor *fd = protobuf_c_message_descriptor_get_field_by_name(m->descriptor, "result");
    if (fd == NULL || fd->type != PROTOBUF_C_TYPE_ENUM || fd->label == PROTOBUF_C_LABEL_REPEATED) return 0;
    *value = *(const int *)((const char *)m + fd->offset);
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(fd->descriptor, *value);
    *name = v ? v->name : NULL;
    return 1;
}

/* A uint64 `seq` field, if the event has one. */
static int hc_seq_of(const ProtobufCMessage *m, uint64_t *seq)
{
    const ProtobufCFieldDescriptor *fd = protobuf_c_message_descriptor_get_field_by_name(m->descriptor, "seq");
    if (fd == NULL || fd->type != PROTOBUF_C_TYPE_UINT64) return 0;
    *seq = *(const uint64_t *)((const char *)m + fd->offset);
    return 1;
}

static const char *hc_string_field(const ProtobufCMessage *m, const char *name)
{
    const ProtobufCFieldDescriptor *fd = protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
    if (fd == NULL || fd->type != PROTOBUF_C_TYPE_STRING) return "";
    const char *s = *(char *const *)((const char *)m + fd->offset);
    return s ? s : "";
}

/* The capability of a request opcode (Spec/03-framing.md §3.4): its high byte; -1 if this client never grants it. */
static int hc_capability_of(uint16_t opcode)
{
    static const int by_high_byte[] = {0, 0, 1, 3, 4, 5, 6, 7, 8};
    unsigned high = opcode >> 8;
    return high < sizeof by_high_byte / sizeof by_high_byte[0] ? by_high_byte[high] : -1;
}

/* ---- sending ---------------------------------------------------------------------------------------------------- */

/* Sends one frame. A failed send marks the connection broken (handled by hc_on_timer); an oversized frame is
 * refused before anything is sent (FRM-19). */
static int hc_send(hc_client *c, uint8_t flags, uint16_t opcode, uint32_t request_id, const ProtobufCMessage *msg,
                   hc_error *err)
{
    if (c->fd < 0 || c->broken) {
        if (err) hc_err(err, "connection-lost", "the connection is closed%s", NULL);
        return -1;
    }
    size_t n;
    uint8_t *buf = herald_encode_frame(flags, opcode, request_id, msg, &n);
    if (buf == NULL || n - HERALD_HEADER_SIZE > c->server_max_payload) {
        free(buf);
        if (err) hc_err(err, "invalid-argument", "the frame is larger than the server accepts (FRM-19)%s", NULL);
        return -1;
    }
    for (size_t off = 0; off < n;) {
        ssize_t w = send(c->fd, buf + off, n - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            c->broken = 1;
            break;
        }
        off += (size_t)w;
    }
    free(buf);
    c->last_sent = hc_now();
    return 0;
}

static hc_pending *hc_find_pending(hc_client *c, uint32_t id)
{
    for (size_t i = 0; i < c->npending; i++)
        if (c->pending[i].id == id) return &c->pending[i];
    return NULL;
}

/* A request id that no request in flight has (HS-31). */
static uint32_t hc_new_id(hc_client *c)
{
    for (;;) {
        uint32_t id = c->next_id++;
        if (c->next_id == 0) c->next_id = 1;
        if (id != 0 && hc_find_pending(c, id) == NULL) return id;
    }
}

static int hc_send_request(hc_client *c, int kind, uint16_t opcode, const ProtobufCMessage *msg, hc_answer_fn answer,
                           void *ctx, int64_t deadline, hc_error *err)
{
    uint32_t id = hc_new_id(c);
    if (hc_send(c, 0, opcode, id, msg, err) != 0) return -1;
    c->pending = hc_grow(c->pending, &c->cap_pending, c->npending, sizeof *c->pending);
    c->pending[c->npending++] = (hc_pending){id, opcode, kind, answer, ctx, deadline};
    return 0;
}

/* ---- the end of a connection -------------------------------------------------------------------------------- */

static void hc_free_invitations(hc_client *c)
{
    for (size_t i = 0; i < c->ninvitations; i++) {
        hc_invitation *v = &c->invitations[i];
        free(v->id), free(v->peer), free(v->channel), free(v->content), free(v->response);
    }
    c->ninvitations = 0;
}

/* Forgets what belonged to the session: its channels, streams and invitations. */
static void hc_end_session(hc_client *c)
{
    c->session = 0;
    c->reconnecting = 0;
    c->user_seq = 0;
    c->user_resumed = 0;
    for (size_t i = 0; i < c->nchannels; i++)
        free(c->channels[i].id);
    c->nchannels = 0;
    hc_free_invitations(c);
}

/* Closes the transport; every request in flight fails with connection-lost (the login's and the logout's owners
 * are told by the caller). */
static void hc_drop_transport(hc_client *c)
{
    if (c->fd < 0) return;
    close(c->fd);
    c->fd = -1;
    c->gen++;
    herald_decoder_free(&c->dec);
    c->phase = PH_NONE;
    c->broken = 0;
    c->fault_code = NULL;
    c->session = 0;
    hc_pending *pending = c->pending;
    size_t n = c->npending;
    c->pending = NULL;
    c->npending = c->cap_pending = 0;
    hc_error err;
    hc_err(&err, "connection-lost", "the connection ended before the answer%s", NULL);
    for (size_t i = 0; i < n; i++)
        if (pending[i].kind == REQ_APP && pending[i].answer) pending[i].answer(pending[i].ctx, NULL, &err);
    free(pending);
}

/* The Disconnect reasons after which the client does not reconnect (HS-59, HS-60, Spec/05-session.md §5.10). */
static int hc_final_disconnect(int reason)
{
    return reason == DR(REMOTE_LOGIN) || reason == DR(BANNED) || reason == DR(TOKEN_EXPIRED) ||
           reason == DR(UNSUPPORTED_VERSION) || reason == DR(PROTOCOL_ERROR) || reason == DR(LOGOUT);
}

/* The next reconnection attempt: after a random delay in the upper half of min(maximum, initial * 2^attempt). */
static void hc_schedule_reconnect(hc_client *c)
{
    unsigned ceiling = HC_RECONNECT_INITIAL_MS << (c->attempt < 6 ? c->attempt : 6);
    if (ceiling > HC_RECONNECT_MAXIMUM_MS) ceiling = HC_RECONNECT_MAXIMUM_MS;
    c->attempt++;
    c->reconnect_at = hc_now() + ceiling / 2 + (unsigned)rand() % (ceiling / 2 + 1);
}

static void hc_login_failed(hc_client *c, const hc_error *err, int reason)
{
    hc_drop_transport(c);
    if (c->reconnecting) {
        /* A refusal that repeating the same login cannot change ends the reconnection (row 11); anything else
         * (no transport, no answer, UNKNOWN, TIMEOUT, TOO_OFTEN) is tried again later. */
        int value = err->value, refused = (strcmp(err->code, "failed") == 0 && value >= 2 && value <= 7) ||
                                          strcmp(err->code, "error") == 0 || hc_final_disconnect(c->disconnect_reason);
        if (!refused) {
            hc_schedule_reconnect(c);
            return;
        }
        hc_end_session(c);
        hc_set_state(c, CS(DISCONNECTED), CR(LOGIN_FAILURE));
        return;
    }
    hc_set_state(c, CS(DISCONNECTED), reason);
    hc_answer_fn answer = c->login_answer;
    c->login_answer = NULL;
    if (answer) answer(c->login_ctx, NULL, err);
}

static void hc_logout_done(hc_client *c, const hc_error *err)
{
    hc_drop_transport(c);
    hc_end_session(c);
    hc_set_state(c, CS(DISCONNECTED), CR(LOGOUT));
    if (c->close_after_logout) c->closed = 1;
    hc_answer_fn answer = c->logout_answer;
    c->logout_answer = NULL;
    if (answer) answer(c->logout_ctx, NULL, c->close_after_logout ? NULL : err);
}

/* The connection ended without the application asking: end of stream, idle timeout, fault or Disconnect. */
static void hc_connection_lost(hc_client *c)
{
    int phase = c->phase;
    hc_drop_transport(c);
    if (phase == PH_HELLO || phase == PH_LOGIN) {
        hc_error err;
        hc_err(&err, "connection-lost", "the connection ended during the login%s", NULL);
        /* Spec/05-session.md §5.5 row 4: no Welcome could be obtained; after Welcome the login failed. */
        hc_login_failed(c, &err, phase == PH_HELLO ? CR(LOGIN_TIMEOUT) : CR(LOGIN_FAILURE));
        return;
    }
    if (c->logout_answer) {
        hc_logout_done(c, NULL);
        return;
    }
    if (c->state != CS(CONNECTED)) return;
    /* Spec/05-session.md §5.5 rows 6-9, and §5.10 for the reasons after which no reconnection may follow. */
    if (!hc_final_disconnect(c->disconnect_reason)) {
        c->reconnecting = 1;
        c->attempt = 0;
        hc_schedule_reconnect(c);
        hc_set_state(c, CS(RECONNECTING), CR(INTERRUPTED));
        return;
    }
    hc_end_session(c);
    switch (c->disconnect_reason) {
    case DR(REMOTE_LOGIN): hc_set_state(c, CS(ABORTED), CR(REMOTE_LOGIN)); break;
    case DR(BANNED): hc_set_state(c, CS(ABORTED), CR(BANNED_BY_SERVER)); break;
    case DR(TOKEN_EXPIRED): hc_set_state(c, CS(ABORTED), CR(TOKEN_EXPIRED)); break;
    case DR(UNSUPPORTED_VERSION):
    case DR(PROTOCOL_ERROR): hc_set_state(c, CS(ABORTED), CR(INTERRUPTED)); break;
    default: hc_set_state(c, CS(DISCONNECTED), CR(LOGOUT)); break; /* DISCONNECT_REASON_LOGOUT */
    }
}

/* HS-69, HS-70, EXT-29: report what is wrong with the server's frames and close the transport. */
static void hc_fault(hc_client *c, const char *code, const char *detail)
{
    c->cb.fault(c->app, code, detail);
    hc_connection_lost(c);
}

/* ---- invitations ------------------------------------------------------------------------------------------------ */

static hc_invitation *hc_invitation_find(hc_client *c, int local, const char *id)
{
    for (size_t i = 0; i < c->ninvitations; i++)
        if (c->invitations[i].local == local && strcmp(c->invitations[i].id, id) == 0) return &c->invitations[i];
    return NULL;
}

static int hc_invitation_final(const hc_invitation *v)
{
    if (v->local) return v->state >= LIS(ACCEPTED_BY_REMOTE);
    return v->state == RIS(REFUSED) || v->state >= RIS(ACCEPTED);
}

static hc_invitation *hc_invitation_add(hc_client *c, int local, const char *id, const char *peer, const char *channel,
                                        const char *content)
{
    c->invitations = hc_grow(c->invitations, &c->cap_invitations, c->ninvitations, sizeof *c->invitations);
    hc_invitation *v = &c->invitations[c->ninvitations++];
    *v = (hc_invitation){local,
                         hc_strdup(id),
                         hc_strdup(peer),
                         hc_strdup(channel),
                         hc_strdup(content),
                         hc_strdup(""),
                         local ? LIS(IDLE) : RIS(IDLE)};
    return v;
}

static void hc_invitation_remove(hc_client *c, hc_invitation *v)
{
    free(v->id), free(v->peer), free(v->channel), free(v->content), free(v->response);
    *v = c->invitations[--c->ninvitations];
}

/* Moves an invitation to a new state and tells the application; a final state forgets it. */
static void hc_invitation_update(hc_client *c, hc_invitation *v, int state, const char *response)
{
    if (v == NULL || v->state == state) return;
    v->state = state;
    if (response != NULL) {
        free(v->response);
        v->response = hc_strdup(response);
    }
    c->cb.invitation(c->app, v);
    if (hc_invitation_final(v)) hc_invitation_remove(c, v);
}

/* The invitation events of Spec/12-invitations.md: each names an invitation by the id its receiver knows. */
static void hc_invitation_event(hc_client *c, uint16_t op, const ProtobufCMessage *m)
{
    const char *id = hc_string_field(m, "invitation_id");
    switch (op) {
    case OP(REMOTE_INVITATION_RECEIVED): {
        const Herald__V1__RemoteInvitationReceived *e = (const void *)m;
        hc_invitation *v = hc_invitation_find(c, 0, id);
        if (v == NULL) v = hc_invitation_add(c, 0, id, e->caller_id, e->channel_id, e->content);
        hc_invitation_update(c, v, RIS(INVITATION_RECEIVED), NULL);
        break;
    }
    case OP(REMOTE_INVITATION_CANCELED):
        hc_invitation_update(c, hc_invitation_find(c, 0, id), RIS(CANCELED), NULL);
        break;
    case OP(REMOTE_INVITATION_ACCEPTED):
        hc_invitation_update(c, hc_invitation_find(c, 0, id), RIS(ACCEPTED), NULL);
        break;
    case OP(REMOTE_INVITATION_REFUSED):
        hc_invitation_update(c, hc_invitation_find(c, 0, id), RIS(REFUSED), NULL);
        break;
    case OP(REMOTE_INVITATION_FAILURE):
        hc_invitation_update(c, hc_invitation_find(c, 0, id), RIS(FAILURE), NULL);
        break;
    case OP(LOCAL_INVITATION_RECEIVED_BY_PEER):
        hc_invitation_update(c, hc_invitation_find(c, 1, id), LIS(RECEIVED_BY_REMOTE), NULL);
        break;
    case OP(LOCAL_INVITATION_ACCEPTED):
        hc_invitation_update(c, hc_invitation_find(c, 1, id), LIS(ACCEPTED_BY_REMOTE), hc_string_field(m, "response"));
        break;
    case OP(LOCAL_INVITATION_REFUSED):
        hc_invitation_update(c, hc_invitation_find(c, 1, id), LIS(REFUSED_BY_REMOTE), hc_string_field(m, "response"));
        break;
    case OP(LOCAL_INVITATION_CANCELED):
        hc_invitation_update(c, hc_invitation_find(c, 1, id), LIS(CANCELED), NULL);
        break;
    case OP(LOCAL_INVITATION_FAILURE): hc_invitation_update(c, hc_invitation_find(c, 1, id), LIS(FAILURE), NULL); break;
    }
}

/* ---- receiving -------------------------------------------------------------------------------------------------- */

static hc_channel *hc_channel_find(hc_client *c, const char *id)
{
    for (size_t i = 0; i < c->nchannels; i++)
        if (strcmp(c->channels[i].id, id) == 0) return &c->channels[i];
    return NULL;
}

static hc_error *hc_failed(hc_error *e, int value, const char *name)
{
    memset(e, 0, sizeof *e);
    e->code = "failed";
    e->result = name; /* NULL for a value this client does not know: still a failure (ERR-12, EXT-13) */
    e->value = value;
    snprintf(e->message, sizeof e->message, "the server answered %s (%d)", name ? name : "an unknown result", value);
    return e;
}

static void hc_on_welcome(hc_client *c, const Herald__V1__Welcome *w)
{
    hc_error err;
    if (w->version != 1) { /* HS-13: close without sending anything more */
        char v[16];
        snprintf(v, sizeof v, "%u", w->version);
        hc_login_failed(c, hc_err(&err, "error", "Welcome.version %s was not offered (HS-13)", v), CR(LOGIN_FAILURE));
        return;
    }
    const Herald__V1__ServerTimers *t = w->timers;
    const Herald__V1__ServerLimits *l = w->limits;
    /* HS-25: a field equal to zero (or an absent message) means the protocol default. */
    c->heartbeat_ms = t && t->heartbeat_interval_ms ? t->heartbeat_interval_ms : HC_DEFAULT_HEARTBEAT_MS;
    c->idle_ms = t && t->idle_timeout_ms ? t->idle_timeout_ms : HC_DEFAULT_IDLE_MS;
    c->login_ms = t && t->login_timeout_ms ? t->login_timeout_ms : HC_DEFAULT_LOGIN_MS;
    c->server_max_payload = l && l->max_payload_length ? l->max_payload_length : HERALD_DEFAULT_MAX_PAYLOAD;
    c->caps = 0;
    for (size_t i = 0; i < w->n_capabilities; i++)
        for (unsigned k = 0; k < HC_NCAPS; k++)
            if (strcmp(w->capabilities[i], hc_capability_names[k]) == 0) c->caps |= 1u << k;
    c->phase = PH_LOGIN;
    Herald__V1__LoginRequest login = HERALD__V1__LOGIN_REQUEST__INIT;
    login.app_id = c->app_id;
    login.user_id = c->user;
    login.token = c->token;
    if (c->reconnecting && c->resume_handle) login.resume_handle = c->resume_handle; /* 17.8 */
    if (hc_send_request(c, REQ_LOGIN, OP(LOGIN_REQUEST), &login.base, NULL, NULL, hc_now() + c->login_ms, &err) != 0)
        hc_login_failed(c, &err, CR(LOGIN_FAILURE));
}

static void hc_on_login_response(hc_client *c, const ProtobufCMessage *m)
{
    int value = 0;
    const char *name = NULL;
    hc_result_of(m, &value, &name);
    if (value != 0) {
        hc_error err;
        hc_login_failed(c, hc_failed(&err, value, name), CR(LOGIN_FAILURE));
        return;
    }
    const Herald__V1__LoginResponse *r = (const void *)m;
    int resumed = c->reconnecting && c->session_id && c->session_id[0] && strcmp(r->session_id, c->session_id) == 0;
    free(c->session_id), free(c->resume_handle);
    c->session_id = hc_strdup(r->session_id);
    c->resume_handle = hc_strdup(r->resume_handle);
    if (!c->reconnecting) hc_end_session(c); /* the application's login starts from nothing */
    c->phase = PH_READY;
    c->session = 1;
    if (resumed) { /* 17.8: the streams go on; what they skipped was discarded while detached (EXT-41) */
        c->user_resumed = 1;
        for (size_t i = 0; i < c->nchannels; i++)
            c->channels[i].resumed = 1;
    } else if (c->reconnecting) { /* a new session: new streams, and the channels joined again (EXT-40) */
        c->user_seq = 0;
        hc_free_invitations(c);
        for (size_t i = 0; i < c->nchannels; i++) {
            Herald__V1__JoinChannelRequest join = HERALD__V1__JOIN_CHANNEL_REQUEST__INIT;
            join.channel_id = c->channels[i].id;
            c->channels[i].seq = 0;
            c->channels[i].rejoining = 1;
            hc_send_request(c, REQ_APP, OP(JOIN_CHANNEL_REQUEST), &join.base, NULL, NULL, 0, NULL);
        }
    }
    c->reconnecting = 0;
    c->attempt = 0;
    hc_set_state(c, CS(CONNECTED), CR(LOGIN_SUCCESS));
    hc_answer_fn answer = c->login_answer;
    c->login_answer = NULL;
    if (answer) answer(c->login_ctx, m, NULL);
}

/* Bookkeeping of successful responses: channel streams and invitation states. */
static void hc_track_response(hc_client *c, uint16_t op, const ProtobufCMessage *m, int ok)
{
    const char *channel = hc_string_field(m, "channel_id");
    hc_invitation *v;
    switch (op) {
    case OP(JOIN_CHANNEL_RESPONSE): {
        hc_channel *ch = hc_channel_find(c, channel);
        if (ch != NULL && ch->rejoining && !ok) { /* the channel could not be joined again */
            free(ch->id);
            *ch = c->channels[--c->nchannels];
        } else if (ok && ch == NULL) {
            c->channels = hc_grow(c->channels, &c->cap_channels, c->nchannels, sizeof *c->channels);
            ch = &c->channels[c->nchannels++];
            *ch = (hc_channel){hc_strdup(channel), 0, 0, 0};
        }
        if (ok) *ch = (hc_channel){ch->id, 0, 0, 0}; /* a new channel stream starts at seq 1 (EXT-28) */
        break;
    }
    case OP(LEAVE_CHANNEL_RESPONSE):
        if (ok && hc_channel_find(c, channel) != NULL) {
            hc_channel *ch = hc_channel_find(c, channel);
            free(ch->id);
            *ch = c->channels[--c->nchannels];
        }
        break;
    case OP(SEND_INVITATION_RESPONSE):
        v = hc_invitation_find(c, 1, hc_string_field(m, "invitation_id"));
        if (v != NULL && v->state == LIS(IDLE)) {
            if (ok)
                hc_invitation_update(c, v, LIS(SENT_TO_REMOTE), NULL);
            else
                hc_invitation_remove(c, v);
        }
        break;
    case OP(ACCEPT_INVITATION_RESPONSE):
        v = hc_invitation_find(c, 0, hc_string_field(m, "invitation_id"));
        if (ok && v != NULL && v->state == RIS(INVITATION_RECEIVED))
            hc_invitation_update(c, v, RIS(ACCEPT_SENT_TO_LOCAL), NULL);
        break;
    case OP(REFUSE_INVITATION_RESPONSE):
        v = hc_invitation_find(c, 0, hc_string_field(m, "invitation_id"));
        if (ok && v != NULL) hc_invitation_update(c, v, RIS(REFUSED), NULL);
        break;
    }
}

static void hc_remove_pending(hc_client *c, hc_pending *p)
{
    size_t i = (size_t)(p - c->pending);
    memmove(p, p + 1, (c->npending - i - 1) * sizeof *p);
    c->npending--;
}

/* A response: matched to its request by the header's request id and by opcode (HS-37, HS-74). */
static void hc_on_response(hc_client *c, const herald_frame *f)
{
    hc_pending *pp = hc_find_pending(c, f->header.request_id);
    if (pp == NULL || f->header.opcode != pp->opcode + 1) {
        fprintf(stderr, "herald-c: ignored %s with request id %u: it answers no request in flight (HS-34)\n",
                f->opcode_name, f->header.request_id);
        return;
    }
    hc_pending p = *pp;
    hc_remove_pending(c, pp);
    const ProtobufCMessage *m = f->message;
    int value = 0;
    const char *name = NULL;
    hc_error err;
    switch (p.kind) {
    case REQ_PING: return;
    case REQ_HELLO: hc_on_welcome(c, (const Herald__V1__Welcome *)m); return;
    case REQ_LOGIN: hc_on_login_response(c, m); return;
    case REQ_LOGOUT:
        hc_result_of(m, &value, &name);
        hc_logout_done(c, value == 0 ? NULL : hc_failed(&err, value, name));
        return;
    }
    int ok = !hc_result_of(m, &value, &name) || value == 0 ||
             (f->header.opcode == OP(SEND_PEER_MESSAGE_RESPONSE) &&
              value == HERALD__V1__PEER_MESSAGE_RESULT__PEER_MESSAGE_RESULT_CACHED_BY_SERVER);
    hc_track_response(c, f->header.opcode, m, ok);
    if (p.answer) p.answer(p.ctx, m, ok ? NULL : hc_failed(&err, value, name));
}

/* ProtocolError: the answer to a request in flight when its payload request_id names one and its code is one of
 * the three that answer requests (HS-76); anything else the server reports is passed on as a fault report. */
static void hc_on_protocol_error(hc_client *c, const Herald__V1__ProtocolError *e)
{
    int answers = strcmp(e->code, "malformed-payload") == 0 || strcmp(e->code, "capability-not-granted") == 0 ||
                  strcmp(e->code, "already-handshaken") == 0;
    hc_pending *pp = answers ? hc_find_pending(c, e->request_id) : NULL;
    char detail[300];
    snprintf(detail, sizeof detail, "the server reported %s: %s", e->code, e->message);
    if (pp == NULL) {
        c->cb.fault(c->app, e->code, detail);
        return;
    }
    hc_pending p = *pp;
    hc_remove_pending(c, pp);
    hc_error err;
    hc_err(&err, "error", "%s", detail);
    switch (p.kind) {
    case REQ_APP:
        if (p.answer) p.answer(p.ctx, NULL, &err);
        break;
    case REQ_HELLO:
    case REQ_LOGIN: hc_login_failed(c, &err, CR(LOGIN_FAILURE)); break;
    case REQ_LOGOUT:
        if (c->close_after_logout) {
            hc_logout_done(c, &err);
        } else {
            hc_answer_fn answer = c->logout_answer;
            c->logout_answer = NULL;
            answer(c->logout_ctx, NULL, &err);
        }
        break;
    }
}

/* An application event: checks its stream's seq (EXT-29), then hands it over. Returns 1 when handed over (or
 * deliberately dropped), 0 when its content cannot be represented (HS-48), -1 when the connection was closed. */
static int hc_deliver(hc_client *c, const herald_frame *f)
{
    uint16_t op = f->header.opcode;
    const ProtobufCMessage *m = f->message;
    uint64_t seq;
    if (hc_seq_of(m, &seq)) {
        uint64_t *last = &c->user_seq;
        int *resumed = &c->user_resumed;
        char stream[200] = "user stream";
        if ((op >> 8) >= 5 && (op >> 8) <= 7) { /* channel streams: Spec/17-extensibility.md §17.7 */
            hc_channel *ch = hc_channel_find(c, hc_string_field(m, "channel_id"));
            if (ch == NULL) return 1; /* not a channel of this session: dropped */
            last = &ch->seq;
            resumed = &ch->resumed;
            snprintf(stream, sizeof stream, "channel '%s'", ch->id);
        }
        if (seq <= *last) { /* a repeat is dropped, so the application never applies it twice */
            char detail[300];
            snprintf(detail, sizeof detail, "%s: seq %llu repeats (last was %llu) (EXT-29)", stream,
                     (unsigned long long)seq, (unsigned long long)*last);
            hc_fault(c, "seq-repeat", detail);
            return -1;
        }
        if (seq != *last + 1 && !*resumed) { /* a gap: the event is handed over, then the fault ends the connection */
            c->fault_code = "seq-gap";
            snprintf(c->fault_detail, sizeof c->fault_detail, "%s: seq %llu follows %llu (EXT-29)", stream,
                     (unsigned long long)seq, (unsigned long long)*last);
        }
        *last = seq;
        *resumed = 0;
    }
    const Herald__V1__MessageBody *body = NULL;
    if (op == OP(PEER_MESSAGE)) body = ((const Herald__V1__PeerMessage *)m)->message;
    if (op == OP(CHANNEL_MESSAGE)) body = ((const Herald__V1__ChannelMessage *)m)->message;
    if ((op == OP(PEER_MESSAGE) || op == OP(CHANNEL_MESSAGE)) &&
        (body == NULL || (body->type != HERALD__V1__MESSAGE_TYPE__MESSAGE_TYPE_TEXT &&
                          body->type != HERALD__V1__MESSAGE_TYPE__MESSAGE_TYPE_RAW)))
        return op == OP(CHANNEL_MESSAGE); /* a MessageType this client does not know (HS-48, PEER-22) */
    if ((op >> 8) == 8) {
        hc_invitation_event(c, op, m);
        return 1;
    }
    return c->cb.event(c->app, op, m);
}

static void hc_on_frame(hc_client *c, const herald_frame *f)
{
    uint16_t op = f->header.opcode;
    herald_kind kind = herald_opcode_kind(op);
    c->last_received = hc_now();
    if (kind == HERALD_KIND_RESPONSE) {
        hc_on_response(c, f);
        return;
    }
    if (kind != HERALD_KIND_EVENT || (c->phase == PH_HELLO && op != OP(PROTOCOL_ERROR) && op != OP(DISCONNECT))) {
        fprintf(stderr, "herald-c: ignored %s (not a frame a server sends here)\n", f->opcode_name);
        return;
    }
    int handed = 1;
    switch (op) {
    case OP(PROTOCOL_ERROR): hc_on_protocol_error(c, (const Herald__V1__ProtocolError *)f->message); break;
    case OP(DISCONNECT): {
        int reason = ((const Herald__V1__Disconnect *)f->message)->reason;
        if (protobuf_c_enum_descriptor_get_value(&herald__v1__disconnect_reason__descriptor, reason) == NULL)
            reason = DR(UNSPECIFIED); /* HS-61 */
        c->disconnect_reason = reason;
        c->cb.disconnected(c->app, reason);
        hc_connection_lost(c); /* HS-58: nothing more is sent on this connection */
        return;
    }
    case OP(CONNECTION_STATE_CHANGED): {
        const Herald__V1__ConnectionStateChanged *e = (const void *)f->message;
        if (protobuf_c_enum_descriptor_get_value(&herald__v1__connection_state__descriptor, e->state) == NULL ||
            protobuf_c_enum_descriptor_get_value(&herald__v1__connection_change_reason__descriptor, e->reason) ==
                NULL ||
            e->state == CS(UNSPECIFIED))
            break; /* EXT-13: a value this client need not act on */
        if (e->state == CS(ABORTED) || e->state == CS(DISCONNECTED)) c->session = 0;
        hc_set_state(c, e->state, e->reason);
        break;
    }
    default: handed = hc_deliver(c, f); break;
    }
    if (handed < 0 || c->fd < 0 || !(f->header.flags & HERALD_FLAG_ACK_REQUIRED)) return; /* HS-50 */
    /* HS-47, HS-48: exactly one DeliveryAck, after the event was handed to the application. */
    Herald__V1__DeliveryAck ack = HERALD__V1__DELIVERY_ACK__INIT;
    ack.result = handed ? HERALD__V1__DELIVERY_ACK_RESULT__DELIVERY_ACK_RESULT_ACCEPTED
                        : HERALD__V1__DELIVERY_ACK_RESULT__DELIVERY_ACK_RESULT_INCOMPATIBLE;
    hc_send(c, 0, OP(DELIVERY_ACK), f->header.request_id, &ack.base, NULL);
}

/* Handles the frames decoded so far; 1 if the connection ended meanwhile. */
static int hc_drain(hc_client *c)
{
    unsigned gen = c->gen;
    herald_frame f;
    while (c->gen == gen && herald_decoder_pop(&c->dec, &f)) {
        hc_on_frame(c, &f);
        herald_frame_free(&f);
        if (c->gen == gen && c->fault_code != NULL) {
            const char *code = c->fault_code;
            c->fault_code = NULL;
            hc_fault(c, code, c->fault_detail);
        }
    }
    return c->gen != gen;
}

/* ---- the API ---------------------------------------------------------------------------------------------------- */

/* TRN-1..TRN-3: tcp://HOST[:PORT], with tls://, ws:// and wss:// recognised but not offered by this client. */
static int hc_parse_url(const char *url, char **host, char **port, hc_error *err)
{
    const char *sep = strstr(url, "://");
    if (sep == NULL) return hc_err(err, "invalid-argument", "'%s' is not a URL", url), -1;
    char scheme[8] = "";
    size_t slen = (size_t)(sep - url);
    for (size_t i = 0; i < slen && i < sizeof scheme - 1; i++)
        scheme[i] = (char)(url[i] >= 'A' && url[i] <= 'Z' ? url[i] - 'A' + 'a' : url[i]);
    int stream = strcmp(scheme, "tcp") == 0 || strcmp(scheme, "tls") == 0;
    if (slen >= sizeof scheme || (!stream && strcmp(scheme, "ws") != 0 && strcmp(scheme, "wss") != 0))
        return hc_err(err, "invalid-argument", "'%s': unknown scheme (tcp, tls, ws or wss)", url), -1;
    const char *rest = sep + 3;
    size_t alen = strcspn(rest, "/?#");
    const char *after = rest + alen;
    if (strchr(rest, '#') != NULL || (stream && strcmp(after, "") != 0 && strcmp(after, "/") != 0))
        return hc_err(err, "invalid-argument", "'%s': no path, query or fragment here (TRN-2)", url), -1;
    char authority[300];
    if (alen == 0 || alen >= sizeof authority) return hc_err(err, "invalid-argument", "'%s': no host", url), -1;
    memcpy(authority, rest, alen);
    authority[alen] = '\0';
    if (strchr(authority, '@') != NULL) /* TRN-3: credentials are never taken from a URL */
        return hc_err(err, "invalid-argument", "'%s': user information in a server URL (TRN-3)", url), -1;
    char *h = authority, *p = NULL;
    if (h[0] == '[') {
        char *close_bracket = strchr(h, ']');
        if (close_bracket == NULL || (close_bracket[1] != '\0' && close_bracket[1] != ':'))
            return hc_err(err, "invalid-argument", "'%s': bad IPv6 address", url), -1;
        *close_bracket = '\0';
        h++;
        if (close_bracket[1] == ':') p = close_bracket + 2;
    } else {
        p = strrchr(h, ':');
        if (p != NULL) *p++ = '\0';
        if (strchr(h, ':') != NULL) return hc_err(err, "invalid-argument", "'%s': IPv6 hosts go in brackets", url), -1;
    }
    if (h[0] == '\0') return hc_err(err, "invalid-argument", "'%s': no host", url), -1;
    if (p != NULL) {
        char *end;
        long n = strtol(p, &end, 10);
        if (p[0] < '0' || p[0] > '9' || *end != '\0' || n < 1 || n > 65535)
            return hc_err(err, "invalid-argument", "'%s': the port must be 1 to 65535", url), -1;
    }
    if (strcmp(scheme, "tcp") != 0) return hc_err(err, "unsupported", "'%s': this client speaks tcp:// only", url), -1;
    *host = hc_strdup(h);
    *port = hc_strdup(p ? p : HC_DEFAULT_PORT);
    return 0;
}

static hc_client *hc_create(const char *url, const char *app_id, const hc_callbacks *cb, void *app, hc_error *err)
{
    char *host, *port;
    if (hc_parse_url(url, &host, &port, err) != 0) return NULL;
    hc_client *c = calloc(1, sizeof *c);
    if (c == NULL) abort();
    c->cb = *cb;
    c->app = app;
    c->host = host;
    c->port = port;
    c->app_id = hc_strdup(app_id);
    c->user = hc_strdup("");
    c->token = hc_strdup("");
    c->fd = -1;
    c->state = CS(DISCONNECTED);
    c->next_id = 1;
    c->disconnect_reason = -1;
    srand((unsigned)(hc_unix_ms() ^ getpid()));
    return c;
}

static void hc_free(hc_client *c)
{
    if (c == NULL) return;
    hc_drop_transport(c);
    hc_free_invitations(c);
    free(c->invitations), free(c->channels), free(c->pending);
    free(c->host), free(c->port), free(c->app_id), free(c->user), free(c->token);
    free(c->session_id), free(c->resume_handle);
    free(c);
}

static int hc_connect(const char *host, const char *port)
{
    struct addrinfo hints = {0}, *res, *ai;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port, &hints, &res) != 0) return -1;
    int fd = -1;
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    int one = 1;
    if (fd >= 0) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* TRN-6 */
    return fd;
}

static void hc_open(hc_client *c);

/* Connects, sends Hello, waits for Welcome, sends LoginRequest; answer gets the LoginResponse. */
static void hc_login(hc_client *c, const char *user, const char *token, hc_answer_fn answer, void *ctx)
{
    hc_error err;
    if (c->closed) {
        answer(ctx, NULL, hc_err(&err, "error", "the client is closed%s", NULL));
        return;
    }
    if ((c->state != CS(DISCONNECTED) && c->state != CS(ABORTED)) || c->login_answer != NULL) {
        answer(ctx, NULL, hc_err(&err, "error", "already logged in%s", NULL));
        return;
    }
    free(c->user), free(c->token);
    c->user = hc_strdup(user);
    c->token = hc_strdup(token);
    c->login_answer = answer;
    c->login_ctx = ctx;
    hc_set_state(c, CS(CONNECTING), CR(LOGIN));
    hc_open(c);
}

/* Opens a connection and sends Hello, for the application's login or a reconnection attempt. */
static void hc_open(hc_client *c)
{
    hc_error err;
    c->disconnect_reason = -1;
    int fd = hc_connect(c->host, c->port);
    if (fd < 0) { /* Spec/05-session.md §5.5 row 4: no transport could be obtained */
        hc_login_failed(c, hc_err(&err, "connection-lost", "cannot connect: %s", strerror(errno)), CR(LOGIN_TIMEOUT));
        return;
    }
    c->fd = fd;
    herald_decoder_init(&c->dec, HC_RECEIVE_LIMIT);
    c->phase = PH_HELLO;
    c->server_max_payload = HERALD_DEFAULT_MAX_PAYLOAD; /* FRM-20: what every server accepts */
    c->last_sent = c->last_received = hc_now();
    Herald__V1__Hello hello = HERALD__V1__HELLO__INIT;
    uint32_t versions[] = {1};
    hello.n_versions = 1;
    hello.versions = versions;
    hello.client_name = "herald-c";
    hello.n_capabilities = HC_NCAPS;
    hello.capabilities = (char **)hc_capability_names;
    hello.max_payload_length = HC_RECEIVE_LIMIT;
    /* HS-7: nothing else is sent until Welcome; no Welcome within the default login timeout ends the attempt. */
    if (hc_send_request(c, REQ_HELLO, OP(HELLO), &hello.base, NULL, NULL, hc_now() + HC_DEFAULT_LOGIN_MS, &err) != 0)
        hc_login_failed(c, &err, CR(LOGIN_TIMEOUT));
}

/* Sends LogoutRequest and closes the connection once LogoutResponse arrives (TRN-28). */
static void hc_logout(hc_client *c, hc_answer_fn answer, void *ctx)
{
    hc_error err;
    if (c->logout_answer != NULL) {
        answer(ctx, NULL, hc_err(&err, "error", "a logout is in progress%s", NULL));
        return;
    }
    if (!c->session || c->phase != PH_READY) {
        int was_logged_in = c->state != CS(DISCONNECTED);
        if (c->login_answer != NULL)
            hc_login_failed(c, hc_err(&err, "connection-lost", "the application logged out%s", NULL), CR(LOGOUT));
        hc_drop_transport(c); /* a reconnection ends here (row 12) */
        hc_end_session(c);
        if (!was_logged_in) {
            answer(ctx, NULL, hc_err(&err, "not-logged-in", "not logged in%s", NULL));
            return;
        }
        hc_set_state(c, CS(DISCONNECTED), CR(LOGOUT));
        answer(ctx, NULL, NULL);
        return;
    }
    c->logout_answer = answer;
    c->logout_ctx = ctx;
    Herald__V1__LogoutRequest req = HERALD__V1__LOGOUT_REQUEST__INIT;
    if (hc_send_request(c, REQ_LOGOUT, OP(LOGOUT_REQUEST), &req.base, NULL, NULL, hc_now() + c->login_ms, &err) != 0)
        hc_logout_done(c, &err);
}

/* The application ends the client: it logs out first if it has a session, then closes everything. */
static void hc_close(hc_client *c, hc_answer_fn answer, void *ctx)
{
    if (!c->closed && c->session && c->phase == PH_READY && c->logout_answer == NULL) {
        c->close_after_logout = 1;
        hc_logout(c, answer, ctx);
        return;
    }
    hc_error err;
    if (c->login_answer != NULL)
        hc_login_failed(c, hc_err(&err, "connection-lost", "the client was closed%s", NULL), CR(LOGIN_FAILURE));
    hc_drop_transport(c);
    hc_end_session(c);
    c->closed = 1;
    answer(ctx, NULL, NULL);
}

/* Sends a request of the application; answer gets the response, or an error (a result other than OK is one). */
static void hc_request(hc_client *c, uint16_t opcode, ProtobufCMessage *msg, hc_answer_fn answer, void *ctx)
{
    hc_error err;
    if (c->closed) {
        answer(ctx, NULL, hc_err(&err, "error", "the client is closed%s", NULL));
        return;
    }
    if (c->fd < 0 || c->phase == PH_HELLO) {
        answer(ctx, NULL, hc_err(&err, "not-logged-in", "no session%s", NULL));
        return;
    }
    int cap = hc_capability_of(opcode);
    if (cap < 0 || !(c->caps & (1u << cap))) { /* HS-19 */
        answer(ctx, NULL,
               hc_err(&err, "error", "capability-not-granted: %s was not granted (HS-19)",
                      cap < 0 ? "its capability" : hc_capability_names[cap]));
        return;
    }
    if (opcode == OP(SEND_INVITATION_REQUEST)) { /* the caller chooses the invitation id (12.1) */
        Herald__V1__SendInvitationRequest *r = (void *)msg;
        static char id[64];
        if (r->invitation_id == NULL || r->invitation_id[0] == '\0') {
            snprintf(id, sizeof id, "c-%ld-%u", (long)getpid(), ++c->invitation_counter);
            r->invitation_id = id;
        }
        if (hc_invitation_find(c, 1, r->invitation_id) == NULL)
            hc_invitation_add(c, 1, r->invitation_id, r->callee_id, r->channel_id, r->content);
    }
    if (hc_send_request(c, REQ_APP, opcode, msg, answer, ctx, hc_now() + HC_REQUEST_DEADLINE_MS, &err) != 0)
        answer(ctx, NULL, &err);
}

static int hc_fd(const hc_client *c)
{
    return c->fd;
}

/* Milliseconds until hc_on_timer has something to do; -1 for never. */
static int hc_timeout_ms(const hc_client *c)
{
    int64_t next = INT64_MAX;
    if (c->fd < 0 && c->reconnecting) next = c->reconnect_at;
    if (c->fd < 0 && !c->reconnecting) return -1;
    if (c->broken) return 0;
    for (size_t i = 0; i < c->npending; i++)
        if (c->pending[i].deadline != 0 && c->pending[i].deadline < next) next = c->pending[i].deadline;
    if (c->phase == PH_LOGIN || c->phase == PH_READY) {
        if (c->last_received + c->idle_ms < next) next = c->last_received + c->idle_ms;
        if (c->last_sent + c->heartbeat_ms < next) next = c->last_sent + c->heartbeat_ms;
    }
    if (next == INT64_MAX) return -1;
    int64_t wait = next - hc_now();
    return wait < 0 ? 0 : wait > 60000 ? 60000 : (int)wait;
}

static void hc_on_timer(hc_client *c)
{
    int64_t now = hc_now();
    if (c->fd < 0) {
        if (c->reconnecting && now >= c->reconnect_at) hc_open(c); /* the next attempt (§5.10) */
        return;
    }
    if (c->broken) {
        hc_connection_lost(c);
        return;
    }
    hc_error err;
    for (size_t i = 0; i < c->npending; i++) {
        hc_pending *p = &c->pending[i];
        if (p->deadline == 0 || now < p->deadline) continue;
        if (p->kind == REQ_PING) { /* unanswered; the idle timeout decides about the connection */
            hc_remove_pending(c, p);
            i--; /* wraps to SIZE_MAX at 0, and the loop's i++ brings it back */
            continue;
        }
        if (p->kind == REQ_APP) { /* ERR-10; the id stays in flight until the answer comes (ERR-11) */
            hc_answer_fn answer = p->answer;
            p->answer = NULL;
            p->deadline = 0;
            if (answer) answer(p->ctx, NULL, hc_err(&err, "timeout", "no answer within %s ms (ERR-10)", "15000"));
            if (c->fd < 0) return;
            continue;
        }
        if (p->kind == REQ_LOGOUT) {
            hc_remove_pending(c, p);
            hc_logout_done(c, hc_err(&err, "timeout", "no LogoutResponse%s", NULL));
            return;
        }
        /* SES-19: no Welcome or LoginResponse in time */
        hc_login_failed(
            c, hc_err(&err, "timeout", "no %s in time (SES-19)", p->kind == REQ_HELLO ? "Welcome" : "LoginResponse"),
            CR(LOGIN_TIMEOUT));
        return;
    }
    if (c->phase != PH_LOGIN && c->phase != PH_READY) return;
    if (now - c->last_received >= c->idle_ms) { /* HS-44 */
        fprintf(stderr, "herald-c: nothing received for %u ms: the connection is lost (HS-44)\n", c->idle_ms);
        hc_connection_lost(c);
        return;
    }
    if (now - c->last_sent >= c->heartbeat_ms) { /* HS-41 */
        Herald__V1__Ping ping = HERALD__V1__PING__INIT;
        ping.client_time_ms = hc_unix_ms();
        hc_send_request(c, REQ_PING, OP(PING), &ping.base, NULL, NULL, now + c->idle_ms, NULL);
    }
}

static void hc_on_readable(hc_client *c)
{
    uint8_t buf[65536];
    ssize_t n = recv(c->fd, buf, sizeof buf, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
    if (n > 0)
        herald_decoder_feed(&c->dec, buf, (size_t)n);
    else if (n == 0)
        herald_decoder_finish(&c->dec); /* FRM-14, FRM-15: bytes left over at the end */
    if (hc_drain(c)) return;            /* FRM-16: the frames before a failure count */
    if (c->dec.error != HERALD_OK) {    /* HS-69, HS-70 */
        char detail[HERALD_DETAIL_SIZE + 64];
        snprintf(detail, sizeof detail, "%s%s%s", herald_error_name(c->dec.error), c->dec.detail[0] ? ": " : "",
                 c->dec.detail);
        hc_fault(c, herald_error_name(c->dec.error), detail);
        return;
    }
    if (n <= 0) hc_connection_lost(c);
}

/* ================================================================================================================
 * PART 2: THE ADAPTER MAPPING (herald-adapter/1 commands -> client calls, client callbacks -> events)
 * ================================================================================================================ */

/* Plumbing, in part 3. */
static void emit(cJSON *message);
static cJSON *event_new(const char *name);
static void reply(int id, const hc_error *err, cJSON *result);
static const char *enum_name(const ProtobufCEnumDescriptor *d, int value);
static cJSON *json_u64(uint64_t v);
static cJSON *json_body(cJSON *object, const Herald__V1__MessageBody *body); /* text, rawBase64 */
static cJSON *json_attributes(ProtobufCMessage *const *attributes, size_t n);
static cJSON *json_states(Herald__V1__PeerOnlineStatus *const *statuses, size_t n);
static void json_to_request(ProtobufCMessage *request, const cJSON *args);
static Herald__V1__MessageBody *body_from_json(const cJSON *args);
static void *scratch(size_t n); /* memory that lives until the command has been handled */

static hc_client *client;
#define CTX(id) ((void *)(intptr_t)(id))
#define STR(name) hc_string_field(m, name)

/* ---- client callbacks -> events (Spec/19-client-conformance.md §19.1.3) ---- */

static void on_state(void *app, int state, int reason)
{
    cJSON *e = event_new("connectionState");
    cJSON_AddStringToObject(e, "state", enum_name(&herald__v1__connection_state__descriptor, state));
    cJSON_AddStringToObject(e, "reason", enum_name(&herald__v1__connection_change_reason__descriptor, reason));
    emit(e);
    (void)app;
}

static int on_event(void *app, uint16_t op, const ProtobufCMessage *m)
{
    const Herald__V1__PeerMessage *peer = (const void *)m;
    const Herald__V1__ChannelMessage *channel = (const void *)m;
    cJSON *e;
    switch (op) {
    case OP(PEER_MESSAGE):
        e = json_body(event_new("peerMessage"), peer->message);
        cJSON_AddStringToObject(e, "fromUserId", peer->from_user_id);
        cJSON_AddItemToObject(e, "messageId", json_u64(peer->message_id));
        cJSON_AddBoolToObject(e, "offline", peer->is_offline);
        break;
    case OP(CHANNEL_MESSAGE):
        e = json_body(event_new("channelMessage"), channel->message);
        cJSON_AddStringToObject(e, "channelId", channel->channel_id);
        cJSON_AddStringToObject(e, "fromUserId", channel->from_user_id);
        cJSON_AddItemToObject(e, "messageId", json_u64(channel->message_id));
        break;
    case OP(MEMBER_JOINED):
    case OP(MEMBER_LEFT):
        e = event_new(op == OP(MEMBER_JOINED) ? "memberJoined" : "memberLeft");
        cJSON_AddStringToObject(e, "channelId", STR("channel_id"));
        cJSON_AddStringToObject(e, "userId", STR("user_id"));
        break;
    case OP(MEMBER_COUNT_UPDATED):
        e = event_new("memberCount");
        cJSON_AddStringToObject(e, "channelId", STR("channel_id"));
        cJSON_AddNumberToObject(e, "count", ((const Herald__V1__MemberCountUpdated *)m)->member_count);
        break;
    case OP(PEERS_ONLINE_STATUS_CHANGED): {
        const Herald__V1__PeersOnlineStatusChanged *p = (const void *)m;
        cJSON_AddItemToObject(e = event_new("peersOnlineStatus"), "states", json_states(p->statuses, p->n_statuses));
        break;
    }
    case OP(CHANNEL_ATTRIBUTES_UPDATED): {
        const Herald__V1__ChannelAttributesUpdated *p = (const void *)m;
        cJSON_AddStringToObject(e = event_new("channelAttributes"), "channelId", p->channel_id);
        cJSON_AddItemToObject(e, "attributes", json_attributes((void *)p->attributes, p->n_attributes));
        break;
    }
    case OP(TOKEN_EXPIRED): e = event_new("tokenExpired"); break;
    default: return 0; /* nothing the adapter protocol reports */
    }
    emit(e);
    (void)app;
    return 1;
}

static void on_invitation(void *app, const hc_invitation *v)
{
    cJSON *e = event_new(v->local ? "localInvitation" : "remoteInvitation");
    cJSON_AddStringToObject(e, "invitationId", v->id);
    cJSON_AddStringToObject(e, v->local ? "calleeId" : "callerId", v->peer);
    if (v->local) cJSON_AddStringToObject(e, "response", v->response);
    if (!v->local) cJSON_AddStringToObject(e, "content", v->content);
    if (!v->local) cJSON_AddStringToObject(e, "channelId", v->channel);
    cJSON_AddStringToObject(e, "state",
                            enum_name(v->local ? &herald__v1__local_invitation_state__descriptor
                                               : &herald__v1__remote_invitation_state__descriptor,
                                      v->state));
    emit(e);
    (void)app;
}

static void on_disconnected(void *app, int reason)
{
    cJSON *e = event_new("disconnected");
    cJSON_AddStringToObject(e, "reason", enum_name(&herald__v1__disconnect_reason__descriptor, reason));
    emit(e);
    (void)app;
}

static void on_fault(void *app, const char *code, const char *detail)
{
    cJSON *e = event_new("protocolFault");
    cJSON_AddStringToObject(e, "code", code);
    cJSON_AddStringToObject(e, "message", detail);
    emit(e);
    (void)app;
}

static const hc_callbacks callbacks = {on_state, on_event, on_invitation, on_disconnected, on_fault};

/* ---- answers -> replies: the result members of each command (§19.1.2) ---- */

static void answer(void *ctx, const ProtobufCMessage *m, const hc_error *err)
{
    const ProtobufCMessageDescriptor *d = m && !err ? m->descriptor : NULL;
    cJSON *r = err ? NULL : cJSON_CreateObject();
    if (d == &herald__v1__send_peer_message_response__descriptor) {
        const Herald__V1__SendPeerMessageResponse *p = (const void *)m;
        cJSON_AddItemToObject(r, "messageId", json_u64(p->message_id));
        cJSON_AddStringToObject(r, "result", enum_name(&herald__v1__peer_message_result__descriptor, p->result));
        cJSON_AddBoolToObject(r, "cached",
                              p->result == HERALD__V1__PEER_MESSAGE_RESULT__PEER_MESSAGE_RESULT_CACHED_BY_SERVER);
    } else if (d == &herald__v1__query_peers_online_status_response__descriptor) {
        const Herald__V1__QueryPeersOnlineStatusResponse *p = (const void *)m;
        cJSON_AddItemToObject(r, "states", json_states(p->statuses, p->n_statuses));
    } else if (d == &herald__v1__get_user_attributes_response__descriptor) {
        const Herald__V1__GetUserAttributesResponse *p = (const void *)m;
        cJSON_AddItemToObject(r, "attributes", json_attributes((void *)p->attributes, p->n_attributes));
    } else if (d == &herald__v1__get_channel_attributes_response__descriptor) {
        const Herald__V1__GetChannelAttributesResponse *p = (const void *)m;
        cJSON_AddItemToObject(r, "attributes", json_attributes((void *)p->attributes, p->n_attributes));
    } else if (d == &herald__v1__get_members_response__descriptor) {
        const Herald__V1__GetMembersResponse *p = (const void *)m;
        cJSON_AddItemToObject(r, "userIds", cJSON_CreateStringArray((const char **)p->user_ids, (int)p->n_user_ids));
    } else if (d == &herald__v1__get_channel_member_count_response__descriptor) {
        const Herald__V1__GetChannelMemberCountResponse *p = (const void *)m;
        cJSON *counts = cJSON_AddObjectToObject(r, "counts");
        for (size_t i = 0; i < p->n_counts; i++)
            cJSON_AddNumberToObject(counts, p->counts[i]->channel_id, p->counts[i]->member_count);
    } else if (d == &herald__v1__send_invitation_response__descriptor) {
        cJSON_AddStringToObject(r, "invitationId", STR("invitation_id"));
    }
    reply((int)(intptr_t)ctx, err, r);
}

/* ---- commands -> client calls (§19.1.2). Arguments named like the request's fields in lowerCamelCase (peerIds,
 * channelId, attributes, ...) are copied by json_to_request; these fill in the others. ---- */

static void prepare_peer_message(ProtobufCMessage *m, const cJSON *a)
{
    Herald__V1__SendPeerMessageRequest *r = (void *)m;
    r->message = body_from_json(a);
    r->enable_offline_messaging = cJSON_IsTrue(cJSON_GetObjectItem(a, "offline"));
    const char *mode = cJSON_GetStringValue(cJSON_GetObjectItem(a, "ackMode"));
    if (mode != NULL && strcmp(mode, "server") == 0) r->ack_mode = HERALD__V1__ACK_MODE__ACK_MODE_SERVER;
}

static void prepare_channel_message(ProtobufCMessage *m, const cJSON *a)
{
    ((Herald__V1__SendChannelMessageRequest *)m)->message = body_from_json(a);
}

static void prepare_notify(ProtobufCMessage *m, const cJSON *a)
{
    ((Herald__V1__AddOrUpdateChannelAttributesRequest *)m)->notify_members =
        cJSON_IsTrue(cJSON_GetObjectItem(a, "notify"));
}

static const struct {
    const char *cmd;
    uint16_t opcode;
    void (*prepare)(ProtobufCMessage *request, const cJSON *args);
} requests[] = {
    {"renewToken", OP(RENEW_TOKEN_REQUEST), NULL},
    {"sendPeerMessage", OP(SEND_PEER_MESSAGE_REQUEST), prepare_peer_message},
    {"queryPeersOnlineStatus", OP(QUERY_PEERS_ONLINE_STATUS_REQUEST), NULL},
    {"subscribePeersOnlineStatus", OP(SUBSCRIBE_PEERS_ONLINE_STATUS_REQUEST), NULL},
    {"unsubscribePeersOnlineStatus", OP(UNSUBSCRIBE_PEERS_ONLINE_STATUS_REQUEST), NULL},
    {"setLocalUserAttributes", OP(SET_LOCAL_USER_ATTRIBUTES_REQUEST), NULL},
    {"addOrUpdateLocalUserAttributes", OP(ADD_OR_UPDATE_LOCAL_USER_ATTRIBUTES_REQUEST), NULL},
    {"deleteLocalUserAttributes", OP(DELETE_LOCAL_USER_ATTRIBUTES_BY_KEYS_REQUEST), NULL},
    {"getUserAttributes", OP(GET_USER_ATTRIBUTES_REQUEST), NULL},
    {"joinChannel", OP(JOIN_CHANNEL_REQUEST), NULL},
    {"leaveChannel", OP(LEAVE_CHANNEL_REQUEST), NULL},
    {"sendChannelMessage", OP(SEND_CHANNEL_MESSAGE_REQUEST), prepare_channel_message},
    {"getChannelMembers", OP(GET_MEMBERS_REQUEST), NULL},
    {"getChannelMemberCount", OP(GET_CHANNEL_MEMBER_COUNT_REQUEST), NULL},
    {"addOrUpdateChannelAttributes", OP(ADD_OR_UPDATE_CHANNEL_ATTRIBUTES_REQUEST), prepare_notify},
    {"getChannelAttributes", OP(GET_CHANNEL_ATTRIBUTES_REQUEST), NULL},
    {"sendInvitation", OP(SEND_INVITATION_REQUEST), NULL},
    {"cancelInvitation", OP(CANCEL_INVITATION_REQUEST), NULL},
    {"acceptInvitation", OP(ACCEPT_INVITATION_REQUEST), NULL},
    {"refuseInvitation", OP(REFUSE_INVITATION_REQUEST), NULL},
};

static void command(int id, const char *cmd, const cJSON *a)
{
    const char *url = cJSON_GetStringValue(cJSON_GetObjectItem(a, "url"));
    const char *app_id = cJSON_GetStringValue(cJSON_GetObjectItem(a, "appId"));
    const char *user = cJSON_GetStringValue(cJSON_GetObjectItem(a, "userId"));
    const char *token = cJSON_GetStringValue(cJSON_GetObjectItem(a, "token"));
    hc_error err = {"unsupported", NULL, 0, "the C client does not offer this command"};
    size_t i = 0, n = sizeof requests / sizeof requests[0];
    while (i < n && strcmp(requests[i].cmd, cmd) != 0)
        i++;
    int needs_client = i < n || !strcmp(cmd, "login") || !strcmp(cmd, "logout") || !strcmp(cmd, "close");
    if (strcmp(cmd, "hello") == 0) {
        cJSON *r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "protocol", "herald-adapter/1");
        cJSON_AddStringToObject(r, "name", "herald-c");
        cJSON_AddStringToObject(r, "version", "1.0");
        cJSON_AddStringToObject(r, "library", "Tests/Interop/C (protobuf-c)");
        reply(id, NULL, r);
    } else if (strcmp(cmd, "shutdown") == 0) {
        reply(id, NULL, NULL);
        exit(0);
    } else if (strcmp(cmd, "create") == 0) {
        hc_free(client);
        client = NULL;
        if (url == NULL || app_id == NULL)
            err = (hc_error){"invalid-argument", NULL, 0, "create needs url and appId"};
        else
            client = hc_create(url, app_id, &callbacks, NULL, &err); /* no I/O until login */
        reply(id, client ? NULL : &err, NULL);
    } else if (needs_client && client == NULL) {
        reply(id, &(hc_error){"error", NULL, 0, "no client: create comes first"}, NULL);
    } else if (strcmp(cmd, "login") == 0) {
        hc_login(client, user ? user : "", token ? token : "", answer, CTX(id));
    } else if (strcmp(cmd, "logout") == 0) {
        hc_logout(client, answer, CTX(id));
    } else if (strcmp(cmd, "close") == 0) {
        hc_close(client, answer, CTX(id));
    } else if (i < n) {
        const ProtobufCMessageDescriptor *desc = herald_opcode_payload_type(requests[i].opcode, NULL);
        ProtobufCMessage *m = scratch(desc->sizeof_message);
        protobuf_c_message_init(desc, m);
        json_to_request(m, a);
        if (requests[i].prepare) requests[i].prepare(m, a);
        hc_request(client, requests[i].opcode, m, answer, CTX(id));
    } else {
        reply(id, &err, NULL);
    }
}

/* ================================================================================================================
 * PART 3: PLUMBING
 * ================================================================================================================ */

/* One JSON object per line, written with a single write (Spec/19-client-conformance.md §19.1). */
static void emit(cJSON *message)
{
    char *text = cJSON_PrintUnformatted(message);
    cJSON_Delete(message);
    if (text == NULL) abort();
    size_t n = strlen(text);
    char *line = malloc(n + 1);
    if (line == NULL) abort();
    memcpy(line, text, n);
    line[n++] = '\n';
    for (size_t off = 0; off < n;) {
        ssize_t w = write(STDOUT_FILENO, line + off, n - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) exit(0); /* the runner has gone */
        off += (size_t)w;
    }
    free(line);
    cJSON_free(text);
}

static cJSON *event_new(const char *name)
{
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "event", name);
    return e;
}

static void reply(int id, const hc_error *err, cJSON *result)
{
    cJSON *r = cJSON_CreateObject();
    cJSON_AddNumberToObject(r, "id", id);
    cJSON_AddBoolToObject(r, "ok", err == NULL);
    if (err == NULL) {
        cJSON_AddItemToObject(r, "result", result ? result : cJSON_CreateObject());
    } else {
        cJSON *e = cJSON_AddObjectToObject(r, "error");
        cJSON_AddStringToObject(e, "code", err->code);
        if (err->result) cJSON_AddStringToObject(e, "result", err->result);
        if (strcmp(err->code, "failed") == 0) cJSON_AddNumberToObject(e, "value", err->value);
        cJSON_AddStringToObject(e, "message", err->message);
        cJSON_Delete(result);
    }
    emit(r);
}

/* 64-bit integers as decimal strings, as in the protobuf JSON mapping (a double would round ids above 2^53). */
static cJSON *json_u64(uint64_t v)
{
    char text[24];
    snprintf(text, sizeof text, "%llu", (unsigned long long)v);
    return cJSON_CreateString(text);
}

static const char *enum_name(const ProtobufCEnumDescriptor *d, int value)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(d, value);
    return v ? v->name : "UNKNOWN";
}

static cJSON *json_base64(const ProtobufCBinaryData *data);

/* A message body's members: text, and rawBase64 for a raw message (§19.1). */
static cJSON *json_body(cJSON *object, const Herald__V1__MessageBody *body)
{
    cJSON_AddStringToObject(object, "text", body->text);
    if (body->type == HERALD__V1__MESSAGE_TYPE__MESSAGE_TYPE_RAW)
        cJSON_AddItemToObject(object, "rawBase64", json_base64(&body->raw));
    return object;
}

/* [{"key", "value"}] of Attribute, or of ChannelAttribute with "lastUpdateUserId" and "lastUpdateTsMs". */
static cJSON *json_attributes(ProtobufCMessage *const *attributes, size_t n)
{
    cJSON *list = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        const ProtobufCMessage *m = attributes[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "key", hc_string_field(m, "key"));
        cJSON_AddStringToObject(o, "value", hc_string_field(m, "value"));
        if (m->descriptor == &herald__v1__channel_attribute__descriptor) {
            const Herald__V1__ChannelAttribute *a = (const void *)m;
            cJSON_AddStringToObject(o, "lastUpdateUserId", a->last_updated_by);
            cJSON_AddNumberToObject(o, "lastUpdateTsMs", (double)a->last_updated_ms);
        }
        cJSON_AddItemToArray(list, o);
    }
    return list;
}

/* {userId: "PEER_ONLINE_STATE_..."}; a state this client does not know is left out (EXT-13). */
static cJSON *json_states(Herald__V1__PeerOnlineStatus *const *statuses, size_t n)
{
    cJSON *states = cJSON_CreateObject();
    for (size_t i = 0; i < n; i++) {
        const ProtobufCEnumValue *v =
            protobuf_c_enum_descriptor_get_value(&herald__v1__peer_online_state__descriptor, statuses[i]->state);
        if (v != NULL) cJSON_AddStringToObject(states, statuses[i]->peer_id, v->name);
    }
    return states;
}

/* Memory of the request being built; freed once the command has been handled. */
static void **scratch_list;
static size_t scratch_n, scratch_cap;

static void *scratch(size_t n)
{
    void *p = calloc(1, n ? n : 1);
    if (p == NULL) abort();
    scratch_list = hc_grow(scratch_list, &scratch_cap, scratch_n, sizeof *scratch_list);
    scratch_list[scratch_n++] = p;
    return p;
}

static void scratch_free(void)
{
    while (scratch_n > 0)
        free(scratch_list[--scratch_n]);
}

/* RFC 4648 §4. */
static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static cJSON *json_base64(const ProtobufCBinaryData *d)
{
    char *out = malloc((d->len + 2) / 3 * 4 + 1), *o = out;
    if (out == NULL) abort();
    for (size_t i = 0; i < d->len; i += 3) {
        uint32_t v = (uint32_t)d->data[i] << 16;
        if (i + 1 < d->len) v |= (uint32_t)d->data[i + 1] << 8;
        if (i + 2 < d->len) v |= d->data[i + 2];
        *o++ = b64[v >> 18 & 63];
        *o++ = b64[v >> 12 & 63];
        *o++ = i + 1 < d->len ? b64[v >> 6 & 63] : '=';
        *o++ = i + 2 < d->len ? b64[v & 63] : '=';
    }
    *o = '\0';
    cJSON *s = cJSON_CreateString(out);
    free(out);
    return s;
}

static int base64_decode(const char *text, ProtobufCBinaryData *out)
{
    size_t n = strlen(text);
    if (n % 4 != 0) return -1;
    uint8_t *data = scratch(n / 4 * 3 + 1);
    size_t len = 0;
    for (size_t i = 0; i < n; i += 4) {
        uint32_t v = 0;
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            const char *p = text[i + k] ? strchr(b64, text[i + k]) : NULL;
            if (text[i + k] == '=' && i + 4 == n && k >= 2)
                pad++;
            else if (p == NULL || pad)
                return -1;
            v = v << 6 | (uint32_t)(p ? p - b64 : 0);
        }
        data[len++] = (uint8_t)(v >> 16);
        if (pad < 2) data[len++] = (uint8_t)(v >> 8);
        if (pad < 1) data[len++] = (uint8_t)v;
    }
    out->data = data;
    out->len = len;
    return 0;
}

/* The body of sendPeerMessage and sendChannelMessage: rawBase64 (with text as its description), or text. */
static Herald__V1__MessageBody *body_from_json(const cJSON *args)
{
    Herald__V1__MessageBody *body = scratch(sizeof *body);
    herald__v1__message_body__init(body);
    const char *text = cJSON_GetStringValue(cJSON_GetObjectItem(args, "text"));
    const char *raw = cJSON_GetStringValue(cJSON_GetObjectItem(args, "rawBase64"));
    if (text != NULL) body->text = (char *)text;
    body->type = HERALD__V1__MESSAGE_TYPE__MESSAGE_TYPE_TEXT;
    if (raw != NULL && base64_decode(raw, &body->raw) == 0) body->type = HERALD__V1__MESSAGE_TYPE__MESSAGE_TYPE_RAW;
    return body;
}

/* Copies the command's arguments into the request's fields of the same name in lowerCamelCase (`peerIds` ->
 * `peer_ids`): strings, booleans, repeated strings and repeated messages of those (attributes). */
static void json_to_request(ProtobufCMessage *m, const cJSON *args)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *fd = &d->fields[i];
        char name[64];
        size_t k = 0;
        for (const char *s = fd->name; *s && k + 1 < sizeof name; s++)
            name[k++] = (s[0] == '_' && s[1]) ? (char)(*++s - 'a' + 'A') : *s;
        name[k] = '\0';
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, name);
        char *field = (char *)m + fd->offset;
        if (v == NULL) continue;
        if (fd->label != PROTOBUF_C_LABEL_REPEATED) {
            if (fd->type == PROTOBUF_C_TYPE_STRING && cJSON_IsString(v)) *(char **)field = v->valuestring;
            if (fd->type == PROTOBUF_C_TYPE_BOOL && cJSON_IsBool(v)) *(protobuf_c_boolean *)field = cJSON_IsTrue(v);
            continue;
        }
        if (!cJSON_IsArray(v)) continue;
        size_t n = (size_t)cJSON_GetArraySize(v), j = 0;
        void **items = scratch(n * sizeof *items);
        const cJSON *e;
        cJSON_ArrayForEach(e, v)
        {
            if (fd->type == PROTOBUF_C_TYPE_STRING && cJSON_IsString(e)) {
                items[j++] = e->valuestring;
            } else if (fd->type == PROTOBUF_C_TYPE_MESSAGE && cJSON_IsObject(e)) {
                const ProtobufCMessageDescriptor *sub = fd->descriptor;
                ProtobufCMessage *sm = scratch(sub->sizeof_message);
                protobuf_c_message_init(sub, sm);
                json_to_request(sm, e);
                items[j++] = sm;
            }
        }
        *(size_t *)((char *)m + fd->quantifier_offset) = j;
        *(void ***)field = items;
    }
}

/* Commands arrive one per line; a line may take several reads. */
static void read_commands(void)
{
    static char *buf;
    static size_t len, cap;
    if (cap - len < 65536) {
        cap = cap ? cap * 2 : 131072;
        buf = realloc(buf, cap);
        if (buf == NULL) abort();
    }
    ssize_t n = read(STDIN_FILENO, buf + len, cap - len - 1);
    if (n < 0 && errno == EINTR) return;
    if (n <= 0) exit(0); /* §19.1: the adapter exits when its standard input ends */
    len += (size_t)n;
    char *start = buf, *nl;
    while ((nl = memchr(start, '\n', (size_t)(buf + len - start))) != NULL) {
        *nl = '\0';
        cJSON *c = cJSON_Parse(start);
        const cJSON *id = cJSON_GetObjectItem(c, "id"), *cmd = cJSON_GetObjectItem(c, "cmd");
        if (cJSON_IsNumber(id) && cJSON_IsString(cmd))
            command(id->valueint, cmd->valuestring, c);
        else if (*start)
            fprintf(stderr, "herald-c-adapter: ignored a line that is not a command: %.200s\n", start);
        scratch_free();
        cJSON_Delete(c);
        start = nl + 1;
    }
    len -= (size_t)(start - buf);
    memmove(buf, start, len);
}

/* One event loop: the server's bytes first (a command that arrives together with a Disconnect finds the connection
 * already ended, HS-58), then commands, then the client's timers. */
int main(void)
{
    for (;;) {
        struct pollfd p[2] = {{STDIN_FILENO, POLLIN, 0}, {-1, POLLIN, 0}};
        if (client) p[1].fd = hc_fd(client);
        int r = poll(p, 2, client ? hc_timeout_ms(client) : -1);
        if (r < 0 && errno != EINTR) return 1;
        if (r > 0 && p[1].fd >= 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) hc_on_readable(client);
        if (r > 0 && p[0].revents) read_commands();
        if (client) hc_on_timer(client);
    }
}

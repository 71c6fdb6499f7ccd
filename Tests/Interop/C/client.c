/*
 * herald-c-client HOST PORT APPID USER1 TOKEN1 USER2 TOKEN2
 *
 * An end-to-end check of a running `herald serve` over TCP, using the C frame
 * codec (herald_frame.c) and protobuf-c:
 *   1. two connections: Hello/Welcome, then LoginRequest -> LoginResponse OK;
 *   2. user1 sends a peer message to user2 with ACK_MODE_PEER; user2 receives
 *      the PeerMessage (ACK_REQUIRED, delivery id in the request id) and sends
 *      a DeliveryAck; only then does user1's SendPeerMessageResponse OK arrive;
 *   3. both join a channel; user1 sends a channel message; user2 receives the
 *      ChannelMessage; user1 does not receive its own;
 *   4. both log out (LogoutResponse OK).
 * Frames that are not awaited (MemberJoined, MemberCountUpdated, Pong, ...) are
 * skipped. Every wait has a 5 s timeout (poll). Exit 0 only if all steps pass.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "herald/v1/channels.pb-c.h"
#include "herald/v1/common.pb-c.h"
#include "herald/v1/handshake.pb-c.h"
#include "herald/v1/opcode.pb-c.h"
#include "herald/v1/peer.pb-c.h"
#include "herald/v1/session.pb-c.h"
#include "herald_frame.h"

#define WAIT_MS 5000

/* One client connection: socket, stream decoder, next request id. */
typedef struct {
    const char *name;
    int fd;
    herald_decoder dec;
    uint32_t next_id;
} conn;

static void die(const char *fmt, const char *a, const char *b)
{
    printf("FAIL: ");
    printf(fmt, a, b);
    printf("\n");
    exit(1);
}

static void step(const char *who, const char *what)
{
    printf("ok   %-6s %s\n", who, what);
    fflush(stdout);
}

static int dial(const char *host, const char *port)
{
    struct addrinfo hints, *res, *ai;
    memset(&hints, 0, sizeof hints);
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
    return fd;
}

static void send_all(conn *c, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) die("%s: send failed: %s", c->name, strerror(errno));
        p += w;
        n -= (size_t)w;
    }
}

/* Sends a frame; returns its request id. */
static uint32_t send_frame(conn *c, uint16_t opcode, uint32_t request_id, const ProtobufCMessage *msg)
{
    size_t n;
    uint8_t *buf = herald_encode_frame(0, opcode, request_id, msg, &n);
    if (buf == NULL) die("%s: cannot encode frame%s", c->name, "");
    send_all(c, buf, n);
    free(buf);
    return request_id;
}

static uint32_t send_request(conn *c, uint16_t opcode, const ProtobufCMessage *msg)
{
    return send_frame(c, opcode, c->next_id++, msg);
}

/*
 * Next frame from the connection, waiting at most timeout_ms. Returns 1 with
 * *f set, 0 on timeout. A framing failure or closed connection is fatal.
 */
static int next_frame(conn *c, herald_frame *f, int timeout_ms)
{
    for (;;) {
        if (herald_decoder_pop(&c->dec, f)) return 1;
        if (c->dec.error != HERALD_OK) {
            char why[HERALD_DETAIL_SIZE + 64];
            snprintf(why, sizeof why, "%s%s%s", herald_error_name(c->dec.error), c->dec.detail[0] ? ": " : "",
                     c->dec.detail);
            die("%s: framing error %s", c->name, why);
        }
        struct pollfd pfd = {c->fd, POLLIN, 0};
        int r = poll(&pfd, 1, timeout_ms);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) die("%s: poll: %s", c->name, strerror(errno));
        if (r == 0) return 0;
        uint8_t buf[65536];
        ssize_t n = recv(c->fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) die("%s: recv: %s", c->name, strerror(errno));
        if (n == 0) {
            herald_decoder_finish(&c->dec);
            if (herald_decoder_pop(&c->dec, f)) return 1;
            die("%s: connection closed by the server (%s)", c->name, herald_error_name(c->dec.error));
        }
        herald_decoder_feed(&c->dec, buf, (size_t)n);
    }
}

/* Prints frames that interrupt a flow but are worth seeing. */
static void note_skipped(conn *c, const herald_frame *f)
{
    if (f->header.opcode == HERALD__V1__OPCODE__OPCODE_PROTOCOL_ERROR) {
        Herald__V1__ProtocolError *e = (Herald__V1__ProtocolError *)f->message;
        die("%s: ProtocolError %s", c->name, e->code);
    }
    if (f->header.opcode == HERALD__V1__OPCODE__OPCODE_DISCONNECT) die("%s: Disconnect received%s", c->name, "");
    printf("     %-6s (skipped %s)\n", c->name, f->opcode_name);
}

/*
 * Waits for a frame with this opcode (and, if request_id != 0, this request
 * id), skipping others. Fatal on timeout.
 */
static void expect(conn *c, uint16_t opcode, uint32_t request_id, herald_frame *f)
{
    for (;;) {
        if (!next_frame(c, f, WAIT_MS)) {
            const char *name = NULL;
            herald_opcode_payload_type(opcode, &name);
            die("%s: timed out waiting for %s", c->name, name ? name : "?");
        }
        if (f->header.opcode == opcode && (request_id == 0 || f->header.request_id == request_id)) return;
        note_skipped(c, f);
        herald_frame_free(f);
    }
}

/* Handshake and login on a new connection. */
static void open_session(conn *c, const char *host, const char *port, const char *app, const char *user,
                         const char *token)
{
    c->fd = dial(host, port);
    if (c->fd < 0) die("%s: cannot connect to %s", c->name, host);
    herald_decoder_init(&c->dec, HERALD_DEFAULT_MAX_PAYLOAD);
    c->next_id = 1;

    /* Hello: version 1, no capability list (= every offered capability). */
    Herald__V1__Hello hello = HERALD__V1__HELLO__INIT;
    uint32_t versions[] = {1};
    hello.n_versions = 1;
    hello.versions = versions;
    hello.client_name = "herald-c-client";
    uint32_t id = send_request(c, HERALD__V1__OPCODE__OPCODE_HELLO, &hello.base);
    herald_frame f;
    expect(c, HERALD__V1__OPCODE__OPCODE_WELCOME, id, &f);
    Herald__V1__Welcome *w = (Herald__V1__Welcome *)f.message;
    if (w->version != 1) die("%s: Welcome.version is not 1%s", c->name, "");
    printf("ok   %-6s Hello -> Welcome (version %u, server %s, %zu capabilities)\n", c->name, w->version,
           w->server_name, w->n_capabilities);
    herald_frame_free(&f);

    Herald__V1__LoginRequest login = HERALD__V1__LOGIN_REQUEST__INIT;
    login.app_id = (char *)app;
    login.user_id = (char *)user;
    login.token = (char *)token;
    id = send_request(c, HERALD__V1__OPCODE__OPCODE_LOGIN_REQUEST, &login.base);
    expect(c, HERALD__V1__OPCODE__OPCODE_LOGIN_RESPONSE, id, &f);
    Herald__V1__LoginResponse *lr = (Herald__V1__LoginResponse *)f.message;
    if (lr->result != HERALD__V1__LOGIN_RESULT__LOGIN_RESULT_OK) {
        const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(&herald__v1__login_result__descriptor,
                                                                          (int)lr->result);
        die("%s: login failed: %s", c->name, v ? v->name : "?");
    }
    step(c->name, "LoginRequest -> LoginResponse OK");
    herald_frame_free(&f);
}

static void logout(conn *c)
{
    Herald__V1__LogoutRequest req = HERALD__V1__LOGOUT_REQUEST__INIT;
    uint32_t id = send_request(c, HERALD__V1__OPCODE__OPCODE_LOGOUT_REQUEST, &req.base);
    herald_frame f;
    expect(c, HERALD__V1__OPCODE__OPCODE_LOGOUT_RESPONSE, id, &f);
    if (((Herald__V1__LogoutResponse *)f.message)->result != HERALD__V1__LOGOUT_RESULT__LOGOUT_RESULT_OK)
        die("%s: LogoutResponse is not OK%s", c->name, "");
    step(c->name, "LogoutRequest -> LogoutResponse OK");
    herald_frame_free(&f);
    close(c->fd);
    herald_decoder_free(&c->dec);
}

static void join(conn *c, const char *channel)
{
    Herald__V1__JoinChannelRequest req = HERALD__V1__JOIN_CHANNEL_REQUEST__INIT;
    req.channel_id = (char *)channel;
    uint32_t id = send_request(c, HERALD__V1__OPCODE__OPCODE_JOIN_CHANNEL_REQUEST, &req.base);
    herald_frame f;
    expect(c, HERALD__V1__OPCODE__OPCODE_JOIN_CHANNEL_RESPONSE, id, &f);
    if (((Herald__V1__JoinChannelResponse *)f.message)->result != HERALD__V1__JOIN_CHANNEL_RESULT__JOIN_CHANNEL_RESULT_OK)
        die("%s: JoinChannelResponse is not OK%s", c->name, "");
    step(c->name, "JoinChannelRequest -> JoinChannelResponse OK");
    herald_frame_free(&f);
}

int main(int argc, char **argv)
{
    if (argc != 8) {
        fprintf(stderr, "usage: %s HOST PORT APPID USER1 TOKEN1 USER2 TOKEN2\n", argv[0]);
        return 2;
    }
    const char *host = argv[1], *port = argv[2], *app = argv[3];
    conn c1 = {.name = argv[4]}, c2 = {.name = argv[6]};
    herald_frame f;

    open_session(&c1, host, port, app, argv[4], argv[5]);
    open_session(&c2, host, port, app, argv[6], argv[7]);

    /* --- peer message with ACK_MODE_PEER ----------------------------- */
    Herald__V1__MessageBody body = HERALD__V1__MESSAGE_BODY__INIT;
    body.type = HERALD__V1__MESSAGE_TYPE__MESSAGE_TYPE_TEXT;
    body.text = "hello from C";
    Herald__V1__SendPeerMessageRequest spm = HERALD__V1__SEND_PEER_MESSAGE_REQUEST__INIT;
    spm.peer_id = (char *)c2.name;
    spm.message = &body;
    spm.ack_mode = HERALD__V1__ACK_MODE__ACK_MODE_PEER;
    uint32_t spm_id = send_request(&c1, HERALD__V1__OPCODE__OPCODE_SEND_PEER_MESSAGE_REQUEST, &spm.base);
    step(c1.name, "SendPeerMessageRequest sent (ACK_MODE_PEER)");

    /* The sender's response must not arrive before the receiver's ack: keep
     * reading user1 while waiting for the PeerMessage on user2. */
    expect(&c2, HERALD__V1__OPCODE__OPCODE_PEER_MESSAGE, 0, &f);
    Herald__V1__PeerMessage *pm = (Herald__V1__PeerMessage *)f.message;
    if (!(f.header.flags & HERALD_FLAG_ACK_REQUIRED) || f.header.request_id == 0)
        die("%s: PeerMessage without ACK_REQUIRED / delivery id%s", c2.name, "");
    if (strcmp(pm->from_user_id, c1.name) != 0 || pm->message == NULL || strcmp(pm->message->text, body.text) != 0)
        die("%s: PeerMessage has the wrong sender or text (%s)", c2.name, pm->from_user_id);
    printf("ok   %-6s PeerMessage from %s: \"%s\" (delivery id %u, ACK_REQUIRED)\n", c2.name, pm->from_user_id,
           pm->message->text, f.header.request_id);
    uint32_t delivery_id = f.header.request_id;
    herald_frame_free(&f);

    herald_frame early;
    while (next_frame(&c1, &early, 200)) {
        if (early.header.opcode == HERALD__V1__OPCODE__OPCODE_SEND_PEER_MESSAGE_RESPONSE)
            die("%s: SendPeerMessageResponse arrived before the DeliveryAck%s", c1.name, "");
        note_skipped(&c1, &early);
        herald_frame_free(&early);
    }
    step(c1.name, "no SendPeerMessageResponse before the DeliveryAck (checked 200 ms)");

    Herald__V1__DeliveryAck ack = HERALD__V1__DELIVERY_ACK__INIT; /* DELIVERY_ACK_RESULT_ACCEPTED */
    send_frame(&c2, HERALD__V1__OPCODE__OPCODE_DELIVERY_ACK, delivery_id, &ack.base);
    step(c2.name, "DeliveryAck sent");

    expect(&c1, HERALD__V1__OPCODE__OPCODE_SEND_PEER_MESSAGE_RESPONSE, spm_id, &f);
    Herald__V1__SendPeerMessageResponse *spr = (Herald__V1__SendPeerMessageResponse *)f.message;
    if (spr->result != HERALD__V1__PEER_MESSAGE_RESULT__PEER_MESSAGE_RESULT_OK)
        die("%s: SendPeerMessageResponse is not OK%s", c1.name, "");
    printf("ok   %-6s SendPeerMessageResponse OK (message id %llu)\n", c1.name, (unsigned long long)spr->message_id);
    herald_frame_free(&f);

    /* --- channel message -------------------------------------------- */
    const char *channel = "interop-c";
    join(&c1, channel);
    join(&c2, channel);

    Herald__V1__MessageBody cbody = HERALD__V1__MESSAGE_BODY__INIT;
    cbody.type = HERALD__V1__MESSAGE_TYPE__MESSAGE_TYPE_TEXT;
    cbody.text = "channel hello from C";
    Herald__V1__SendChannelMessageRequest scm = HERALD__V1__SEND_CHANNEL_MESSAGE_REQUEST__INIT;
    scm.channel_id = (char *)channel;
    scm.message = &cbody;
    uint32_t scm_id = send_request(&c1, HERALD__V1__OPCODE__OPCODE_SEND_CHANNEL_MESSAGE_REQUEST, &scm.base);
    /* user1 must get its response and must not get a ChannelMessage of its own. */
    for (;;) {
        if (!next_frame(&c1, &f, WAIT_MS)) die("%s: timed out waiting for SendChannelMessageResponse%s", c1.name, "");
        if (f.header.opcode == HERALD__V1__OPCODE__OPCODE_CHANNEL_MESSAGE)
            die("%s: received its own ChannelMessage%s", c1.name, "");
        if (f.header.opcode == HERALD__V1__OPCODE__OPCODE_SEND_CHANNEL_MESSAGE_RESPONSE && f.header.request_id == scm_id)
            break;
        note_skipped(&c1, &f);
        herald_frame_free(&f);
    }
    if (((Herald__V1__SendChannelMessageResponse *)f.message)->result !=
        HERALD__V1__CHANNEL_MESSAGE_RESULT__CHANNEL_MESSAGE_RESULT_OK)
        die("%s: SendChannelMessageResponse is not OK%s", c1.name, "");
    step(c1.name, "SendChannelMessageRequest -> SendChannelMessageResponse OK");
    herald_frame_free(&f);

    expect(&c2, HERALD__V1__OPCODE__OPCODE_CHANNEL_MESSAGE, 0, &f);
    Herald__V1__ChannelMessage *cm = (Herald__V1__ChannelMessage *)f.message;
    if (strcmp(cm->channel_id, channel) != 0 || strcmp(cm->from_user_id, c1.name) != 0 || cm->message == NULL ||
        strcmp(cm->message->text, cbody.text) != 0)
        die("%s: ChannelMessage has the wrong channel, sender or text (%s)", c2.name, cm->from_user_id);
    printf("ok   %-6s ChannelMessage in %s from %s: \"%s\"\n", c2.name, cm->channel_id, cm->from_user_id,
           cm->message->text);
    herald_frame_free(&f);

    /* Give a stray echo time to arrive, then make sure user1 got none. */
    while (next_frame(&c1, &f, 300)) {
        if (f.header.opcode == HERALD__V1__OPCODE__OPCODE_CHANNEL_MESSAGE)
            die("%s: received its own ChannelMessage%s", c1.name, "");
        note_skipped(&c1, &f);
        herald_frame_free(&f);
    }
    step(c1.name, "did not receive its own ChannelMessage");

    /* --- logout --------------------------------------------------------- */
    logout(&c1);
    logout(&c2);
    printf("PASS: all steps completed\n");
    return 0;
}

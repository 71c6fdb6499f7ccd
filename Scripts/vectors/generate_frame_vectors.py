#!/usr/bin/env python3
"""Generates Herald's golden frame-codec vectors (Vectors/frames/*.json).

This generator is deliberately independent of the Swift implementation: it packs the 14-byte frame header
by hand with `struct` and encodes payloads with Google's Python `protobuf` runtime from code that `protoc
--python_out` generated from Spec/proto. Run it through Scripts/generate-vectors.sh, which pins the
versions; running it twice gives byte-identical files (no clock, no randomness, fixed key order).

Usage: generate_frame_vectors.py --proto-python DIR [--out DIR] [--schema FILE]
  --proto-python  folder holding the generated herald/v1/*_pb2.py modules
  --out           folder to write valid.json and invalid.json into (default: <repo>/Vectors/frames)
  --schema        JSON Schema both files are validated against (default: <repo>/Vectors/schema/frame-vectors.schema.json)
After writing, the files are checked against the schema and by the independent decoder in
verify_frame_vectors.py; any disagreement makes the generator exit non-zero.
"""

from __future__ import annotations

import argparse
import base64
import importlib
import json
import re
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

MODULES = ["common", "handshake", "session", "peer", "presence", "attributes", "channels", "invitations", "legacy", "opcode"]

MAGIC = b"HR"
VERSION = 1
ACK_REQUIRED = 0x01
DEFAULT_MAX = 65536
ABSOLUTE_MAX = 0x00FFFFFF

# Fixed instants (Unix milliseconds) so the payloads read like real traffic without depending on a clock.
T0 = 1767225600000  # 2026-01-01T00:00:00Z

# Label name -> meaning. Every label used by a vector is declared here; every label declared here is used.
LABELS = {
    "Populated": "Every field of the payload message is set to a non-default value (repeated fields have 2+ entries, "
    "nested messages are populated). Catches encoders or decoders that drop, reorder or mis-type a field.",
    "SuccessShape": "A response whose result is the success value 0 (OK), which proto3 leaves off the wire. Catches decoders "
    "that require the result field to be present.",
    "EmptyPayload": "A frame whose length is 0: the message with every field at its default. Catches decoders that treat an "
    "empty payload as missing or as an error.",
    "AckRequired": "An event frame with the ACK_REQUIRED flag and a non-zero server-chosen request id. Catches decoders that "
    "reject flag 0x01 or demand request id 0 on every event.",
    "MultiFrame": "The input holds more than one frame back to back. Catches decoders that lose or merge frames at frame "
    "boundaries, or discard frames decoded before an error.",
    "Utf8": "Non-ASCII UTF-8 in string fields, or invalid UTF-8 where a string is expected. Catches decoders that mangle "
    "multi-byte text or skip UTF-8 validation.",
    "Binary": "A bytes field holding every byte value 0x00-0xFF. Catches encoders or decoders that treat bytes as text.",
    "Boundary": "A value exactly at a limit (payload length 65536, a raised maximum, 0x00FFFFFF, request id 0xFFFFFFFF). "
    "Catches off-by-one limit checks.",
    "RaisedLimit": "The receiver's maximum payload length (maxPayloadLength) is raised above the 65536 default. Catches "
    "decoders that hard-code the default.",
    "Oversize": "The header announces a payload longer than a limit. Catches decoders that buffer or read the payload "
    "before checking the length.",
    "HeaderOnly": "The input ends right after a header whose error is detectable from the header alone; the expected error "
    "is that header error, not truncated-payload. Catches decoders that wait for the payload before checking the header.",
    "EndOfStream": "The error is only known at the end of the input (leftover bytes). Catches decoders that silently drop "
    "an incomplete tail.",
    "CheckOrder": "Several faults at once; only the first in the check order of FRM-10 may be reported. Catches decoders "
    "that check header fields in another order.",
    "UnknownFields": "The payload carries field numbers the schema does not define. Catches decoders that reject or lose "
    "unknown fields (forward compatibility).",
    "OpenEnum": "An enum field carries a number the schema does not name (proto3 enums are open). Catches decoders that "
    "reject unknown enum values.",
    "WireTypeMismatch": "A field the schema defines arrives with another wire type. Note: stock protobuf runtimes (C++, Go, "
    "Python upb, SwiftProtobuf) store such a field as an unknown field; Herald requires rejecting it, so decoders need an "
    "explicit wire-type check.",
    "Groups": "Group start/end tags (wire types 3 and 4), which proto3 schemas never define. Catches decoders that skip "
    "groups without matching start and end.",
    "Nesting": "Nesting deeper than the 100-level limit. Catches decoders without a recursion limit.",
    "NonCanonical": "A valid input that is not the canonical encoding (FRM-24), such as a varint longer than its shortest "
    "form; the vector's canonicalHex is what re-encoding gives. Catches decoders that reject valid non-canonical input and "
    "verifiers that expect every input to re-encode to itself.",
    "LongVarint": "A tag or length prefix longer than 5 bytes (FRM-28), although its value is small. Catches decoders "
    "that read tags and lengths as 64-bit varints of up to 10 bytes, as upb and SwiftProtobuf do for length prefixes.",
    "VarintOverflow": "A 10-byte varint at the 64-bit boundary: a tenth byte of 0x00 or 0x01 is valid, anything above "
    "is malformed-payload (FRM-27). Catches decoders that silently drop bits beyond the 64th, as C++, upb, SwiftProtobuf "
    "and protobuf-c do.",
    "WebSocket": "The input is one WebSocket binary message (transport \"message\"), which must hold exactly one frame. "
    "Catches receivers that accept short messages or ignore bytes after the frame.",
}

ALL_REQUIREMENTS = [f"FRM-{n}" for n in range(1, 30)]


# --------------------------------------------------------------------------------------------------------------------
# Schema access


class Schema:
    """The generated Python messages and the v1 opcode table, derived from Spec/proto."""

    def __init__(self, proto_python: Path):
        sys.path.insert(0, str(proto_python))
        self.modules = {name: importlib.import_module(f"herald.v1.{name}_pb2") for name in MODULES}
        from google.protobuf import json_format  # noqa: E402  (import after sys.path is set up)

        self.json_format = json_format
        self.messages = {}
        for module in self.modules.values():
            for name in module.DESCRIPTOR.message_types_by_name:
                self.messages[name] = getattr(module, name)
        opcode_enum = self.modules["opcode"].DESCRIPTOR.enum_types_by_name["Opcode"]
        by_snake = {upper_snake(name): name for name in self.messages}
        self.opcodes = []  # list of (value, enum name, message name, kind), in opcode order
        for value in sorted(v.number for v in opcode_enum.values):
            if value == 0:
                continue
            enum_name = opcode_enum.values_by_number[value].name
            message_name = by_snake.get(enum_name[len("OPCODE_"):])
            if message_name is None:
                raise SystemExit(f"opcode {enum_name} names no message in Spec/proto")
            self.opcodes.append((value, enum_name, message_name, kind_of(value)))
        if len(self.opcodes) != 93:
            raise SystemExit(f"expected 93 opcodes in Spec/proto, found {len(self.opcodes)}")
        self.by_message = {m: (v, e, k) for v, e, m, k in self.opcodes}

    def opcode(self, message_name: str) -> int:
        return self.by_message[message_name][0]


def upper_snake(camel: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", camel).upper()


def kebab(camel: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", camel).lower()


def kind_of(opcode: int) -> str:
    """The kind rule of opcode.proto: low byte 0x01-0x0F requests (odd) / responses (even), 0x10-0x7F events,
    0x80-0xFF notices."""
    low = opcode & 0xFF
    if 0x01 <= low <= 0x0F:
        return "request" if low % 2 == 1 else "response"
    if 0x10 <= low <= 0x7F:
        return "event"
    if 0x80 <= low <= 0xFF:
        return "notice"
    raise SystemExit(f"opcode 0x{opcode:04X} has no kind")


# --------------------------------------------------------------------------------------------------------------------
# Realistic, fully populated payloads, one per message type


APP_ID = "4d0b4c3a9f8e4b2c8a6f1e0d2c3b4a59"


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def sample_token(user: str, iat_s: int, exp_s: int) -> str:
    """A syntactically valid HS256 JWT with a placeholder signature (these vectors test framing, not tokens)."""
    header = b64url(b'{"alg":"HS256","typ":"JWT"}')
    claims = b64url(json.dumps({"sub": user, "aud": APP_ID, "iat": iat_s, "exp": exp_s}, separators=(",", ":")).encode())
    signature = b64url(bytes(range(32)))
    return f"{header}.{claims}.{signature}"


TOKEN_ALICE = sample_token("alice", T0 // 1000, T0 // 1000 + 3600)
TOKEN_ALICE_RENEWED = sample_token("alice", T0 // 1000 + 3000, T0 // 1000 + 7200)
PNG_SIGNATURE = bytes([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52])

ALL_CAPABILITIES = ["core", "peer-messages", "offline-messages", "presence", "user-attributes", "channels",
                    "channel-messages", "channel-attributes", "invitations", "legacy-signaling"]

V1_LIMITS = dict(
    max_payload_length=65536, max_user_id_bytes=64, max_channel_id_bytes=64, max_message_bytes=32768,
    max_channels_joined=20, max_members_listed=512, max_member_event_channel_size=512, max_query_peers=256,
    max_subscriptions=512, max_member_count_channels=32, max_attribute_key_bytes=32, max_attribute_value_bytes=8192,
    max_user_attributes_bytes=16384, max_channel_attributes_bytes=32768, max_attributes_count=32,
    max_invitation_content_bytes=8192, max_offline_messages=200, max_legacy_member_list=200,
    max_outbound_queue_frames=1024,
    max_active_invitations=64,
)
V1_TIMERS = dict(
    heartbeat_interval_ms=5000, idle_timeout_ms=30000, login_timeout_ms=10000, peer_ack_timeout_ms=10000,
    presence_unreachable_ms=6000, invitation_peer_offline_ms=30000, invitation_no_response_ms=30000,
    invitation_expiry_ms=60000, invitation_accept_ack_ms=10000, token_will_expire_lead_ms=30000,
    offline_retention_ms=604800000, channel_attributes_empty_ttl_ms=300000, member_count_interval_ms=1000,
    member_count_interval_large_ms=3000, handshake_timeout_ms=10000,
)
V1_RATE_LIMITS = [
    ("RATE_CLASS_LOGIN", 2, 1000), ("RATE_CLASS_RENEW_TOKEN", 2, 1000), ("RATE_CLASS_MESSAGES", 180, 3000),
    ("RATE_CLASS_JOIN", 50, 3000), ("RATE_CLASS_JOIN_SAME_CHANNEL", 2, 5000), ("RATE_CLASS_GET_MEMBERS", 5, 2000),
    ("RATE_CLASS_QUERY_PRESENCE", 10, 5000), ("RATE_CLASS_SUBSCRIPTION", 10, 5000),
    ("RATE_CLASS_USER_ATTRIBUTES_WRITE", 10, 5000), ("RATE_CLASS_USER_ATTRIBUTES_READ", 40, 5000),
    ("RATE_CLASS_CHANNEL_ATTRIBUTES_WRITE", 10, 5000), ("RATE_CLASS_CHANNEL_ATTRIBUTES_READ", 10, 5000),
    ("RATE_CLASS_MEMBER_COUNT", 1, 1000),
]

RAW_BODY = dict(type="MESSAGE_TYPE_RAW", text="thumbnail.png (first 16 bytes)", raw=PNG_SIGNATURE)
TEXT_BODY = dict(type="MESSAGE_TYPE_TEXT", text="Standup moved to 10:30, same room.")
CHANNEL_ATTRIBUTES = [
    dict(key="topic", value="Quarterly planning", last_updated_by="alice", last_updated_ms=str(T0 + 60_000)),
    dict(key="host", value="carol", last_updated_by="carol", last_updated_ms=str(T0 + 45_000)),
]
USER_ATTRIBUTES = [dict(key="nickname", value="Alice"), dict(key="status", value="in a meeting")]

# Per message: (short description of the scenario, fields). Every field is non-default (see check_populated);
# where a message's only realistic value of a field is its default, the description says so.
POPULATED = {
    "Hello": ("a client offering versions 2 and 1 (most preferred first), asking for six capabilities and announcing a "
              "65536-byte receive limit",
              dict(versions=[2, 1], client_name="herald-swift/1.0.0 (Linux; x86_64)",
                   capabilities=["core", "peer-messages", "presence", "channels", "channel-messages", "invitations"],
                   max_payload_length=65536)),
    "Welcome": ("the server granting version 1 and every capability, with the v1 default limits, timers and all 13 rate "
                "limits",
                dict(version=1, server_name="herald-server/1.0.0", capabilities=ALL_CAPABILITIES,
                     limits=V1_LIMITS, timers=V1_TIMERS,
                     rate_limits=[dict(rate_class=c, count=n, window_ms=w) for c, n, w in V1_RATE_LIMITS],
                     server_time_ms=T0 + 123, connection_id="conn-7f3a9e21-0001")),
    "Ping": ("a heartbeat carrying the client's clock", dict(client_time_ms=T0 + 5_000)),
    "Pong": ("the answer to a heartbeat, echoing the client's clock", dict(client_time_ms=T0 + 5_000, server_time_ms=T0 + 5_012)),
    "Disconnect": ("the server closing after a protocol error",
                   dict(reason="DISCONNECT_REASON_PROTOCOL_ERROR", message="frame header: unknown opcode 0x0A01")),
    "ProtocolError": ("the server reporting a malformed LoginRequest payload (opcode 0x0101, request id 3)",
                      dict(code="malformed-payload", message="LoginRequest payload: invalid UTF-8 in field 2",
                           opcode=0x0101, request_id=3)),
    "DeliveryAck": ("a client telling the server it cannot represent a delivery (INCOMPATIBLE); the request id names the "
                    "delivery", dict(result="DELIVERY_ACK_RESULT_INCOMPATIBLE")),
    "LoginRequest": ("alice logging in with a token, a resume handle and an idempotency key",
                     dict(app_id=APP_ID, user_id="alice", token=TOKEN_ALICE, resume_handle="rh-2b7c91d4e5f60718",
                          idempotency_key="login-alice-0001")),
    "LoginResponse": ("ALREADY_LOGGED_IN carrying the existing session's id, resume handle, server time and token expiry",
                      dict(result="LOGIN_RESULT_ALREADY_LOGGED_IN", session_id="sess-5c1e0a9b", resume_handle="rh-2b7c91d4e5f60718",
                           server_time_ms=T0 + 250, token_expires_ms=T0 + 3_600_000)),
    "LogoutRequest": ("a logout with an idempotency key", dict(idempotency_key="logout-alice-0001")),
    "LogoutResponse": ("USER_NOT_LOGGED_IN (a logout before login)", dict(result="LOGOUT_RESULT_USER_NOT_LOGGED_IN")),
    "RenewTokenRequest": ("a token renewal with an idempotency key", dict(token=TOKEN_ALICE_RENEWED, idempotency_key="renew-alice-0001")),
    "RenewTokenResponse": ("TOO_OFTEN, echoing the presented token and its expiry",
                           dict(result="RENEW_TOKEN_RESULT_TOO_OFTEN", token=TOKEN_ALICE_RENEWED, token_expires_ms=T0 + 7_200_000)),
    "ConnectionStateChanged": ("the session aborted because the user logged in elsewhere",
                               dict(state="CONNECTION_STATE_ABORTED", reason="CONNECTION_CHANGE_REASON_REMOTE_LOGIN")),
    "TokenPrivilegeWillExpire": ("a warning 30 s before the token expires", dict(token_expires_ms=T0 + 3_600_000)),
    "TokenExpired": ("the token expired", dict(token_expires_ms=T0 + 3_600_000)),
    "SendPeerMessageRequest": ("a RAW message (16 bytes of a PNG with a text description) to bob, offline caching and history "
                               "on, server acknowledgement mode",
                               dict(peer_id="bob", message=RAW_BODY, enable_offline_messaging=True,
                                    enable_historical_messaging=True, ack_mode="ACK_MODE_SERVER", idempotency_key="pm-alice-0042")),
    "SendPeerMessageResponse": ("CACHED_BY_SERVER with the server-assigned message id and receive time",
                                dict(result="PEER_MESSAGE_RESULT_CACHED_BY_SERVER", message_id="9007199254740993",
                                     server_received_ms=T0 + 1_000)),
    "PeerMessage": ("an offline-cached RAW message from alice delivered at login, with its message id, receive time and "
                    "user-stream seq",
                    dict(from_user_id="alice", message=RAW_BODY, message_id="9007199254740993",
                         server_received_ms=T0 + 1_000, is_offline=True, seq="17")),
    "QueryPeersOnlineStatusRequest": ("a query for three users", dict(peer_ids=["bob", "carol", "dave"])),
    "QueryPeersOnlineStatusResponse": ("TOO_OFTEN with per-user states (one OFFLINE, one ONLINE, which is the default 0 "
                                       "and so absent inside its entry)",
                                       dict(result="QUERY_PEERS_ONLINE_STATUS_RESULT_TOO_OFTEN",
                                            statuses=[dict(peer_id="bob", state="PEER_ONLINE_STATE_OFFLINE"),
                                                      dict(peer_id="carol", state="PEER_ONLINE_STATE_ONLINE")])),
    "SubscribePeersOnlineStatusRequest": ("a subscription to two users; `option` is ONLINE_STATUS, the enum's only value "
                                          "(0), so it is absent",
                                          dict(peer_ids=["bob", "carol"], option="PEER_SUBSCRIPTION_OPTION_ONLINE_STATUS",
                                               idempotency_key="sub-alice-0001")),
    "SubscribePeersOnlineStatusResponse": ("OVERFLOW (more than 512 subscriptions)",
                                           dict(result="PEER_SUBSCRIPTION_STATUS_RESULT_OVERFLOW")),
    "UnsubscribePeersOnlineStatusRequest": ("an unsubscription from two users; `option` is ONLINE_STATUS, the enum's only "
                                            "value (0), so it is absent",
                                            dict(peer_ids=["bob", "carol"], option="PEER_SUBSCRIPTION_OPTION_ONLINE_STATUS",
                                                 idempotency_key="unsub-alice-0001")),
    "UnsubscribePeersOnlineStatusResponse": ("TOO_OFTEN", dict(result="PEER_SUBSCRIPTION_STATUS_RESULT_TOO_OFTEN")),
    "QueryPeersBySubscriptionOptionRequest": ("the request's only field, `option`, is ONLINE_STATUS, the enum's only value "
                                              "(0), so the payload is empty",
                                              dict(option="PEER_SUBSCRIPTION_OPTION_ONLINE_STATUS")),
    "QueryPeersBySubscriptionOptionResponse": ("TOO_OFTEN with the subscribed ids",
                                               dict(result="QUERY_PEERS_BY_SUBSCRIPTION_OPTION_RESULT_TOO_OFTEN",
                                                    peer_ids=["bob", "carol"])),
    "PeersOnlineStatusChanged": ("three subscribed users changed state (UNREACHABLE, OFFLINE, ONLINE), user-stream seq 3",
                                 dict(statuses=[dict(peer_id="bob", state="PEER_ONLINE_STATE_UNREACHABLE"),
                                                dict(peer_id="carol", state="PEER_ONLINE_STATE_OFFLINE"),
                                                dict(peer_id="dave", state="PEER_ONLINE_STATE_ONLINE")], seq="3")),
    "SetLocalUserAttributesRequest": ("replace alice's attributes with two entries",
                                      dict(attributes=USER_ATTRIBUTES, idempotency_key="uattr-set-0001")),
    "SetLocalUserAttributesResponse": ("SIZE_OVERFLOW", dict(result="ATTRIBUTE_OPERATION_RESULT_SIZE_OVERFLOW")),
    "AddOrUpdateLocalUserAttributesRequest": ("add or update two attributes",
                                              dict(attributes=[dict(key="status", value="available"),
                                                               dict(key="timezone", value="Europe/Berlin")],
                                                   idempotency_key="uattr-upd-0001")),
    "AddOrUpdateLocalUserAttributesResponse": ("INVALID_ARGUMENT", dict(result="ATTRIBUTE_OPERATION_RESULT_INVALID_ARGUMENT")),
    "DeleteLocalUserAttributesByKeysRequest": ("delete two keys",
                                               dict(keys=["status", "timezone"], idempotency_key="uattr-del-0001")),
    "DeleteLocalUserAttributesByKeysResponse": ("TOO_OFTEN", dict(result="ATTRIBUTE_OPERATION_RESULT_TOO_OFTEN")),
    "ClearLocalUserAttributesRequest": ("clear every attribute", dict(idempotency_key="uattr-clr-0001")),
    "ClearLocalUserAttributesResponse": ("USER_NOT_LOGGED_IN", dict(result="ATTRIBUTE_OPERATION_RESULT_USER_NOT_LOGGED_IN")),
    "GetUserAttributesRequest": ("read bob's attributes", dict(user_id="bob")),
    "GetUserAttributesResponse": ("TIMEOUT with the user id and two attributes",
                                  dict(result="ATTRIBUTE_OPERATION_RESULT_TIMEOUT", user_id="bob",
                                       attributes=[dict(key="nickname", value="Bobby"), dict(key="status", value="away")])),
    "GetUserAttributesByKeysRequest": ("read two of bob's attributes", dict(user_id="bob", keys=["nickname", "status"])),
    "GetUserAttributesByKeysResponse": ("USER_NOT_FOUND with the user id and two attributes",
                                        dict(result="ATTRIBUTE_OPERATION_RESULT_USER_NOT_FOUND", user_id="bob",
                                             attributes=[dict(key="nickname", value="Bobby"), dict(key="status", value="away")])),
    "JoinChannelRequest": ("join a channel asking for the legacy member list",
                           dict(channel_id="lobby-42", legacy_member_list=True, idempotency_key="join-lobby-42-0001")),
    "JoinChannelResponse": ("ALREADY_JOINED for the channel", dict(result="JOIN_CHANNEL_RESULT_ALREADY_JOINED", channel_id="lobby-42")),
    "LeaveChannelRequest": ("leave a channel", dict(channel_id="lobby-42", idempotency_key="leave-lobby-42-0001")),
    "LeaveChannelResponse": ("NOT_IN_CHANNEL for the channel", dict(result="LEAVE_CHANNEL_RESULT_NOT_IN_CHANNEL", channel_id="lobby-42")),
    "GetMembersRequest": ("list a channel's members", dict(channel_id="lobby-42")),
    "GetMembersResponse": ("TOO_OFTEN with the channel id and three members",
                           dict(result="GET_MEMBERS_RESULT_TOO_OFTEN", channel_id="lobby-42", user_ids=["alice", "bob", "carol"])),
    "GetChannelMemberCountRequest": ("count the members of three channels",
                                     dict(channel_ids=["lobby-42", "support", "empty-room"])),
    "GetChannelMemberCountResponse": ("TOO_OFTEN with two counts (the second is 0, the default, so absent inside its entry)",
                                      dict(result="GET_CHANNEL_MEMBER_COUNT_RESULT_TOO_OFTEN",
                                           counts=[dict(channel_id="lobby-42", member_count=3),
                                                   dict(channel_id="empty-room", member_count=0)])),
    "MemberJoined": ("dave joined a channel, channel-stream seq 4", dict(channel_id="lobby-42", user_id="dave", seq="4")),
    "MemberLeft": ("bob left because he logged in elsewhere, channel-stream seq 5",
                   dict(channel_id="lobby-42", user_id="bob", reason="MEMBER_LEFT_REASON_REMOTE_LOGIN", seq="5")),
    "MemberCountUpdated": ("the member count of a joined channel, channel-stream seq 6",
                           dict(channel_id="lobby-42", member_count=3, seq="6")),
    "ChannelMemberList": ("the legacy member list right after a join, channel-stream seq 1",
                          dict(channel_id="lobby-42", user_ids=["bob", "carol", "alice"], seq="1")),
    "SendChannelMessageRequest": ("a RAW message (the first bytes of a PDF with a text description) to a joined channel "
                                  "with history on",
                                  dict(channel_id="lobby-42", message=dict(type="MESSAGE_TYPE_RAW", text="agenda.pdf (header)",
                                                                           raw=b"%PDF-1.7\n"),
                                       enable_historical_messaging=True, idempotency_key="cm-alice-0007")),
    "SendChannelMessageResponse": ("TOO_OFTEN with a message id and receive time",
                                   dict(result="CHANNEL_MESSAGE_RESULT_TOO_OFTEN", message_id="4611686018427387905",
                                        server_received_ms=T0 + 2_000)),
    "ChannelMessage": ("a channel message from alice delivered to another member, channel-stream seq 7",
                       dict(channel_id="lobby-42", from_user_id="alice",
                            message=dict(type="MESSAGE_TYPE_RAW", text="agenda.pdf (header)", raw=b"%PDF-1.7\n"),
                            message_id="4611686018427387905", server_received_ms=T0 + 2_000, seq="7")),
    "SetChannelAttributesRequest": ("replace a channel's attributes and notify its members",
                                    dict(channel_id="lobby-42", attributes=[dict(key="topic", value="Quarterly planning"),
                                                                            dict(key="host", value="carol")],
                                         notify_members=True, idempotency_key="cattr-set-0001")),
    "SetChannelAttributesResponse": ("SIZE_OVERFLOW", dict(result="ATTRIBUTE_OPERATION_RESULT_SIZE_OVERFLOW")),
    "AddOrUpdateChannelAttributesRequest": ("add or update two channel attributes and notify the members",
                                            dict(channel_id="lobby-42", attributes=[dict(key="topic", value="Q3 planning"),
                                                                                    dict(key="room", value="Berlin 4.12")],
                                                 notify_members=True, idempotency_key="cattr-upd-0001")),
    "AddOrUpdateChannelAttributesResponse": ("TOO_OFTEN", dict(result="ATTRIBUTE_OPERATION_RESULT_TOO_OFTEN")),
    "DeleteChannelAttributesByKeysRequest": ("delete two channel attributes and notify the members",
                                             dict(channel_id="lobby-42", keys=["room", "host"], notify_members=True,
                                                  idempotency_key="cattr-del-0001")),
    "DeleteChannelAttributesByKeysResponse": ("INVALID_ARGUMENT", dict(result="ATTRIBUTE_OPERATION_RESULT_INVALID_ARGUMENT")),
    "ClearChannelAttributesRequest": ("clear a channel's attributes and notify the members",
                                      dict(channel_id="lobby-42", notify_members=True, idempotency_key="cattr-clr-0001")),
    "ClearChannelAttributesResponse": ("FAILURE", dict(result="ATTRIBUTE_OPERATION_RESULT_FAILURE")),
    "GetChannelAttributesRequest": ("read a channel's attributes", dict(channel_id="lobby-42")),
    "GetChannelAttributesResponse": ("TOO_OFTEN with the channel id and two attributes with writer and time",
                                     dict(result="ATTRIBUTE_OPERATION_RESULT_TOO_OFTEN", channel_id="lobby-42",
                                          attributes=CHANNEL_ATTRIBUTES)),
    "GetChannelAttributesByKeysRequest": ("read two channel attributes", dict(channel_id="lobby-42", keys=["topic", "host"])),
    "GetChannelAttributesByKeysResponse": ("TIMEOUT with the channel id and two attributes with writer and time",
                                           dict(result="ATTRIBUTE_OPERATION_RESULT_TIMEOUT", channel_id="lobby-42",
                                                attributes=CHANNEL_ATTRIBUTES)),
    "ChannelAttributesUpdated": ("after a DELETE of two keys: the remaining attributes, the touched keys, the writer and "
                                 "channel-stream seq 8",
                                 dict(channel_id="lobby-42", attributes=CHANNEL_ATTRIBUTES,
                                      kind="CHANNEL_ATTRIBUTES_UPDATE_KIND_DELETE", changed_keys=["room", "agenda"],
                                      updated_by="alice", seq="8")),
    "SendInvitationRequest": ("alice inviting bob to a call about a channel, requiring bob to be online",
                              dict(callee_id="bob", channel_id="call-7731", content='{"video":true}', require_peer_online=True,
                                   invitation_id="inv-alice-0001", idempotency_key="inv-send-0001")),
    "SendInvitationResponse": ("ALREADY_SENT for the invitation", dict(result="INVITATION_API_CALL_RESULT_ALREADY_SENT",
                                                                       invitation_id="inv-alice-0001")),
    "CancelInvitationRequest": ("cancel an invitation", dict(invitation_id="inv-alice-0001", idempotency_key="inv-cancel-0001")),
    "CancelInvitationResponse": ("ALREADY_END for the invitation", dict(result="INVITATION_API_CALL_RESULT_ALREADY_END",
                                                                        invitation_id="inv-alice-0001")),
    "AcceptInvitationRequest": ("bob accepting an invitation with a response text",
                                dict(invitation_id="srv-inv-000193", response="joining in 1 min", idempotency_key="inv-accept-0001")),
    "AcceptInvitationResponse": ("ALREADY_ACCEPT for the invitation", dict(result="INVITATION_API_CALL_RESULT_ALREADY_ACCEPT",
                                                                           invitation_id="srv-inv-000193")),
    "RefuseInvitationRequest": ("bob refusing an invitation with a response text",
                                dict(invitation_id="srv-inv-000193", response="busy, call you later", idempotency_key="inv-refuse-0001")),
    "RefuseInvitationResponse": ("NOT_STARTED for the invitation", dict(result="INVITATION_API_CALL_RESULT_NOT_STARTED",
                                                                        invitation_id="srv-inv-000193")),
    "LocalInvitationReceivedByPeer": ("the callee's client acknowledged the invitation, user-stream seq 21",
                                      dict(invitation_id="inv-alice-0001", callee_id="bob", channel_id="call-7731", seq="21")),
    "LocalInvitationAccepted": ("the callee accepted with a response text, user-stream seq 22",
                                dict(invitation_id="inv-alice-0001", response="joining in 1 min", seq="22")),
    "LocalInvitationRefused": ("the callee refused with a response text, user-stream seq 23",
                               dict(invitation_id="inv-alice-0001", response="busy, call you later", seq="23")),
    "LocalInvitationCanceled": ("the invitation was canceled, user-stream seq 24", dict(invitation_id="inv-alice-0001", seq="24")),
    "LocalInvitationFailure": ("the callee did not answer (PEER_NO_RESPONSE), user-stream seq 25",
                               dict(invitation_id="inv-alice-0001", error="LOCAL_INVITATION_ERROR_PEER_NO_RESPONSE", seq="25")),
    "RemoteInvitationReceived": ("an invitation from alice with its server-chosen id, channel and content, user-stream seq 9",
                                 dict(invitation_id="srv-inv-000193", caller_id="alice", channel_id="call-7731",
                                      content='{"video":true}', seq="9")),
    "RemoteInvitationCanceled": ("the caller canceled, with the invitation content, user-stream seq 10",
                                 dict(invitation_id="srv-inv-000193", content='{"video":true}', seq="10")),
    "RemoteInvitationAccepted": ("the caller acknowledged the acceptance, user-stream seq 11",
                                 dict(invitation_id="srv-inv-000193", seq="11")),
    "RemoteInvitationRefused": ("the refusal reached the caller, user-stream seq 12", dict(invitation_id="srv-inv-000193", seq="12")),
    "RemoteInvitationFailure": ("the caller did not acknowledge the acceptance (ACCEPT_FAILURE), user-stream seq 13",
                                dict(invitation_id="srv-inv-000193", error="REMOTE_INVITATION_ERROR_ACCEPT_FAILURE", seq="13")),
    "SendChannelMessageExternalRequest": ("a legacy RAW message (bytes with a text description) to a channel the sender "
                                          "has not joined",
                                          dict(channel_id="support",
                                               message=dict(type="MESSAGE_TYPE_RAW", text="caller-id record", raw=b"\x01\x00+4930123456"),
                                               idempotency_key="cmx-gw-0001")),
    "SendChannelMessageExternalResponse": ("TOO_OFTEN with a message id and receive time",
                                           dict(result="CHANNEL_MESSAGE_RESULT_TOO_OFTEN", message_id="4611686018427387906",
                                                server_received_ms=T0 + 3_000)),
    "SendDtmfRequest": ("DTMF digits to a telephony gateway account about a call",
                        dict(callee_id="pstn-gw-01", channel_id="call-7731", digits="4711#", extra='{"leg":"a"}',
                             idempotency_key="dtmf-0001")),
    "SendDtmfResponse": ("INVALID_ARGUMENT", dict(result="INVITATION_API_CALL_RESULT_INVALID_ARGUMENT")),
    "QueryChannelUsersRequest": ("ask whether one user is a member of a channel without joining it",
                                 dict(channel_id="support", user_id="carol")),
    "QueryChannelUsersResponse": ("TIMEOUT with the channel id, count, member list and membership flag",
                                  dict(result="GET_MEMBERS_RESULT_TIMEOUT", channel_id="support", member_count=2,
                                       user_ids=["carol", "erin"], is_member=True)),
    "InvitationMessage": ("DTMF digits delivered to the gateway account, user-stream seq 14",
                          dict(channel_id="call-7731", from_user_id="alice", type="INVITATION_MESSAGE_TYPE_DTMF",
                               data="4711#", extra='{"leg":"a"}', seq="14")),
}

# Successful responses (result OK = 0, absent on the wire) for every response that carries more than its result.
SUCCESS = {
    "Welcome": None,  # Welcome has no result field; its populated vector is already the success shape.
    "LoginResponse": ("OK with a new session id, resume handle, server time and token expiry",
                      dict(session_id="sess-5c1e0a9b", resume_handle="rh-2b7c91d4e5f60718", server_time_ms=T0 + 250,
                           token_expires_ms=T0 + 3_600_000)),
    "RenewTokenResponse": ("OK echoing the new token and its expiry", dict(token=TOKEN_ALICE_RENEWED, token_expires_ms=T0 + 7_200_000)),
    "SendPeerMessageResponse": ("OK (delivered) with the message id and receive time",
                                dict(message_id="9007199254740994", server_received_ms=T0 + 1_500)),
    "QueryPeersOnlineStatusResponse": ("OK with the states of three users in request order",
                                       dict(statuses=[dict(peer_id="bob", state="PEER_ONLINE_STATE_ONLINE"),
                                                      dict(peer_id="carol", state="PEER_ONLINE_STATE_OFFLINE"),
                                                      dict(peer_id="dave", state="PEER_ONLINE_STATE_OFFLINE")])),
    "QueryPeersBySubscriptionOptionResponse": ("OK with the subscribed ids in subscription order", dict(peer_ids=["bob", "carol"])),
    "GetUserAttributesResponse": ("OK with bob's two attributes",
                                  dict(user_id="bob", attributes=[dict(key="nickname", value="Bobby"), dict(key="status", value="away")])),
    "GetUserAttributesByKeysResponse": ("OK with the two requested attributes",
                                        dict(user_id="bob", attributes=[dict(key="nickname", value="Bobby"), dict(key="status", value="away")])),
    "JoinChannelResponse": ("OK for the channel", dict(channel_id="lobby-42")),
    "LeaveChannelResponse": ("OK for the channel", dict(channel_id="lobby-42")),
    "GetMembersResponse": ("OK with three members", dict(channel_id="lobby-42", user_ids=["alice", "bob", "carol"])),
    "GetChannelMemberCountResponse": ("OK with three counts in request order",
                                      dict(counts=[dict(channel_id="lobby-42", member_count=3),
                                                   dict(channel_id="support", member_count=12),
                                                   dict(channel_id="empty-room", member_count=0)])),
    "SendChannelMessageResponse": ("OK with the message id and receive time",
                                   dict(message_id="4611686018427387905", server_received_ms=T0 + 2_000)),
    "GetChannelAttributesResponse": ("OK with two attributes", dict(channel_id="lobby-42", attributes=CHANNEL_ATTRIBUTES)),
    "GetChannelAttributesByKeysResponse": ("OK with two attributes", dict(channel_id="lobby-42", attributes=CHANNEL_ATTRIBUTES)),
    "SendInvitationResponse": ("OK (SENT_TO_REMOTE) for the invitation", dict(invitation_id="inv-alice-0001")),
    "CancelInvitationResponse": ("OK for the invitation", dict(invitation_id="inv-alice-0001")),
    "AcceptInvitationResponse": ("OK (ACCEPT_SENT_TO_LOCAL) for the invitation", dict(invitation_id="srv-inv-000193")),
    "RefuseInvitationResponse": ("OK for the invitation", dict(invitation_id="srv-inv-000193")),
    "SendChannelMessageExternalResponse": ("OK with the message id and receive time",
                                           dict(message_id="4611686018427387906", server_received_ms=T0 + 3_000)),
    "QueryChannelUsersResponse": ("OK with the member count and list (user_id was empty in the request)",
                                  dict(channel_id="support", member_count=2, user_ids=["carol", "erin"])),
}

# Events that carry ACK_REQUIRED and a server-chosen delivery id (Spec/04, 06, 12).
ACK_EVENTS = {"PeerMessage": 0x80000001, "RemoteInvitationReceived": 0x80000002, "LocalInvitationAccepted": 0x80000003}


def build(schema: Schema, message_name: str, fields: dict):
    """Builds a message from a field table, converting 64-bit integer strings to ints by field type."""
    cls = schema.messages[message_name]
    return cls(**convert(cls.DESCRIPTOR, fields))


def convert(descriptor, fields: dict) -> dict:
    from google.protobuf.descriptor import FieldDescriptor as F

    int64_types = {F.TYPE_INT64, F.TYPE_UINT64, F.TYPE_SINT64, F.TYPE_FIXED64, F.TYPE_SFIXED64}
    out = {}
    for name, value in fields.items():
        field = descriptor.fields_by_name[name]
        if field.type == F.TYPE_MESSAGE:
            if isinstance(value, list):
                value = [convert(field.message_type, v) for v in value]
            else:
                value = convert(field.message_type, value)
        elif field.type in int64_types:
            value = [int(v) for v in value] if isinstance(value, list) else int(value)
        out[name] = value
    return out


def check_populated(message, path="") -> list[str]:
    """Returns the field paths that are at their default (or repeated with fewer than 2 entries). An enum field whose
    enum has a single value cannot be non-default and is exempt. In repeated messages a field counts as populated if
    it is non-default in at least one entry."""
    from google.protobuf.descriptor import FieldDescriptor as F

    problems = []
    for field in message.DESCRIPTOR.fields:
        value = getattr(message, field.name)
        where = f"{path}{field.name}"
        if field.type == F.TYPE_ENUM and len(field.enum_type.values) == 1:
            continue
        if field.label == F.LABEL_REPEATED:
            if len(value) < 2:
                problems.append(f"{where} has {len(value)} entries")
            if field.type == F.TYPE_MESSAGE:
                per_entry = [set(check_populated(v, "")) for v in value]
                if per_entry:
                    for missing in sorted(set.intersection(*per_entry)):
                        problems.append(f"{where}[*].{missing}")
        elif field.type == F.TYPE_MESSAGE:
            if not message.HasField(field.name):
                problems.append(f"{where} is unset")
            else:
                problems += check_populated(value, where + ".")
        elif value == field.default_value:
            problems.append(f"{where} is the default")
    return problems


# --------------------------------------------------------------------------------------------------------------------
# Frames


def header(opcode: int, request_id: int, length: int, flags: int = 0, version: int = VERSION, magic: bytes = MAGIC) -> bytes:
    return struct.pack(">2sBBHII", magic, version, flags, opcode, request_id, length)


class Frame:
    def __init__(self, schema: Schema, message, opcode: int | None = None, request_id: int = 0, flags: int = 0,
                 payload: bytes | None = None):
        self.schema = schema
        self.message = message
        self.opcode = opcode if opcode is not None else schema.opcode(message.DESCRIPTOR.name)
        self.request_id = request_id
        self.flags = flags
        self.payload = payload if payload is not None else message.SerializeToString(deterministic=True)

    @property
    def bytes(self) -> bytes:
        return header(self.opcode, self.request_id, len(self.payload), self.flags) + self.payload

    def reencoded(self, keep_unknown: bool) -> bytes:
        """Header and canonical payload of the decoded message (FRM-18), with or without its unknown fields."""
        message = type(self.message)()
        message.CopyFrom(self.message)
        if not keep_unknown:
            message.DiscardUnknownFields()
        payload = message.SerializeToString(deterministic=True)
        return header(self.opcode, self.request_id, len(payload), self.flags) + payload

    def to_json(self) -> dict:
        value, enum_name, kind = self.schema.by_message[self.message.DESCRIPTOR.name]
        return {
            "version": VERSION,
            "flags": self.flags,
            "opcode": self.opcode,
            "opcodeName": enum_name,
            "type": self.message.DESCRIPTOR.full_name,
            "requestId": self.request_id,
            "payloadLength": len(self.payload),
            "payloadHex": self.payload.hex(),
            "payload": self.schema.json_format.MessageToDict(self.message),
        }


def vector(vid: str, description: str, requirements: list[str], labels: list[str], data: bytes, result: str,
           frames: list[Frame], error: str | None = None, max_payload_length: int | None = None,
           transport: str | None = None) -> dict:
    requirements = sorted(set(requirements), key=lambda r: (r.split("-")[0], int(r.split("-")[1])))
    test = {"id": vid, "description": description, "requirements": requirements, "labels": labels}
    if max_payload_length is not None and max_payload_length != DEFAULT_MAX:
        test["maxPayloadLength"] = max_payload_length
    if transport is not None and transport != "stream":
        test["transport"] = transport
    test["hex"] = data.hex()
    if result == "valid":
        # What re-encoding the decoded frames gives: keeping unknown fields, and dropping them (Vectors/README.md).
        canonical = b"".join(f.reencoded(keep_unknown=True) for f in frames)
        known = b"".join(f.reencoded(keep_unknown=False) for f in frames)
        if canonical != data:
            assert "NonCanonical" in labels, f"{vid}: non-canonical input needs the NonCanonical label"
            test["canonicalHex"] = canonical.hex()
        else:
            assert "NonCanonical" not in labels, f"{vid}: canonical input labelled NonCanonical"
        if known != canonical:
            assert "UnknownFields" in labels, f"{vid}: dropping unknown fields changes it, label UnknownFields"
            test["knownFieldsHex"] = known.hex()
    test["result"] = result
    if error is not None:
        test["error"] = error
    test["frames"] = [f.to_json() for f in frames]
    return test


# --------------------------------------------------------------------------------------------------------------------
# valid.json


def request_ids(schema: Schema) -> dict[str, int]:
    """Client-chosen request ids: requests are numbered 1, 2, 3 … in opcode order; a response reuses its request's id;
    the DeliveryAck names the PeerMessage delivery; ACK_REQUIRED events use server-chosen ids; other events use 0."""
    ids = {}
    next_id = 1
    for value, _, name, kind in schema.opcodes:
        if kind == "request":
            ids[name] = next_id
            next_id += 1
    for value, _, name, kind in schema.opcodes:
        if kind == "response":
            request = next(n for v, _, n, _ in schema.opcodes if v == value - 1)
            ids[name] = ids[request]
        elif kind == "event":
            ids[name] = ACK_EVENTS.get(name, 0)
        elif kind == "notice":
            ids[name] = ACK_EVENTS["PeerMessage"]
    return ids


def valid_vectors(schema: Schema) -> list[dict]:
    tests = []
    ids = request_ids(schema)
    assert set(POPULATED) == {name for _, _, name, _ in schema.opcodes}, "POPULATED must cover every opcode"

    def frame_for(name: str, fields: dict, request_id: int | None = None, flags: int | None = None) -> Frame:
        message = build(schema, name, fields)
        rid = ids[name] if request_id is None else request_id
        fl = (ACK_REQUIRED if name in ACK_EVENTS else 0) if flags is None else flags
        return Frame(schema, message, request_id=rid, flags=fl)

    def kind_text(name: str, frame: Frame) -> str:
        _, _, kind = schema.by_message[name]
        if kind == "event" and frame.flags & ACK_REQUIRED:
            return f"event sent with ACK_REQUIRED (flags 0x01) and server-chosen delivery id {frame.request_id}"
        if kind == "event":
            return "event (flags 0, request id 0)"
        if kind == "notice":
            return f"notice whose request id {frame.request_id} names the acknowledged delivery"
        return f"{kind}, request id {frame.request_id}"

    for value, enum_name, name, kind in schema.opcodes:
        scenario, fields = POPULATED[name]
        frame = frame_for(name, fields)
        problems = check_populated(frame.message)
        if problems:
            raise SystemExit(f"{name}: populated payload leaves fields at their default: {problems}")
        labels = ["Populated"]
        if frame.flags & ACK_REQUIRED:
            labels.append("AckRequired")
        if not frame.payload:
            labels.append("EmptyPayload")
        tests.append(vector(
            f"frame.valid.{kebab(name)}.populated",
            f"{name} (opcode 0x{value:04X}, {kind_text(name, frame)}): {scenario}. Every field is set, so every field's "
            f"encoding is checked.",
            ["FRM-1", "FRM-11", "FRM-18"], labels, frame.bytes, "valid", [frame]))
        if name in SUCCESS and SUCCESS[name] is not None:
            scenario, fields = SUCCESS[name]
            frame = frame_for(name, fields)
            tests.append(vector(
                f"frame.valid.{kebab(name)}.ok",
                f"{name} (opcode 0x{value:04X}, {kind_text(name, frame)}): {scenario}. The result OK is 0, the proto3 "
                f"default, so it is absent from the payload.",
                ["FRM-1", "FRM-11", "FRM-18"], ["SuccessShape"], frame.bytes, "valid", [frame]))

    # Empty payloads: the all-default message.
    for name, why in [
        ("DeliveryAck", "the most common acknowledgement: result ACCEPTED is 0, so the payload is empty"),
        ("LogoutRequest", "a logout without an idempotency key"),
        ("LogoutResponse", "a successful logout (result OK is 0)"),
        ("SetChannelAttributesResponse", "a successful channel attribute write (result OK is 0)"),
        ("Ping", "a heartbeat that does not carry the client's clock"),
    ]:
        frame = frame_for(name, {})
        assert frame.payload == b""
        value = schema.opcode(name)
        tests.append(vector(
            f"frame.valid.{kebab(name)}.empty-payload",
            f"{name} (opcode 0x{value:04X}, {kind_text(name, frame)}) with length 0: {why}. A zero-length payload is the "
            f"message with every field at its default.",
            ["FRM-1", "FRM-13"], ["EmptyPayload"], frame.bytes, "valid", [frame]))

    # Three frames back to back: a login answer, the state event, and an offline peer message that needs an ack.
    login_ok = frame_for("LoginResponse", SUCCESS["LoginResponse"][1])
    state = frame_for("ConnectionStateChanged", dict(state="CONNECTION_STATE_CONNECTED",
                                                     reason="CONNECTION_CHANGE_REASON_LOGIN_SUCCESS"))
    offline = frame_for("PeerMessage", dict(from_user_id="bob", message=TEXT_BODY, message_id="9007199254740995",
                                            server_received_ms=str(T0 - 60_000), is_offline=True, seq="1"),
                        request_id=0x80000010)
    frames = [login_ok, state, offline]
    tests.append(vector(
        "frame.valid.stream.three-frames",
        "Three frames back to back in one stream, as a server sends them after a successful login: LoginResponse OK "
        f"(request id {login_ok.request_id}), ConnectionStateChanged CONNECTED/LOGIN_SUCCESS (event, request id 0) and an offline-cached "
        "PeerMessage (ACK_REQUIRED, delivery id 0x80000010). All three frames are delivered, in order, whatever the read "
        "boundaries.",
        ["FRM-1", "FRM-11", "FRM-17"], ["MultiFrame", "AckRequired", "SuccessShape"],
        b"".join(f.bytes for f in frames), "valid", frames))

    tests.append(vector(
        "frame.valid.stream.empty",
        "An empty stream: no bytes, no frames, no error. End of stream with nothing left over is not truncated-header.",
        ["FRM-14"], ["EndOfStream"], b"", "valid", []))

    # Non-ASCII UTF-8 in several string fields.
    frame = frame_for("SendPeerMessageRequest", dict(
        peer_id="bob", message=dict(type="MESSAGE_TYPE_TEXT", text="你好，世界！Grüße 👋🎉 — naïve café"),
        enable_offline_messaging=True, idempotency_key="pm-alice-0043"))
    tests.append(vector(
        "frame.valid.send-peer-message-request.utf8-text",
        f"SendPeerMessageRequest (request id {frame.request_id}) whose TEXT body mixes Chinese (3-byte UTF-8), emoji (4-byte UTF-8, "
        "outside the BMP), Latin-1 letters and an em dash. The string must survive decode and re-encode byte for byte.",
        ["FRM-1", "FRM-11", "FRM-18"], ["Utf8"], frame.bytes, "valid", [frame]))
    frame = frame_for("SetLocalUserAttributesRequest", dict(
        attributes=[dict(key="昵称", value="小明 🐉"), dict(key="city", value="Zürich")], idempotency_key="uattr-set-😀"))
    tests.append(vector(
        "frame.valid.set-local-user-attributes-request.utf8-keys-and-values",
        "SetLocalUserAttributesRequest with non-ASCII UTF-8 in attribute keys, values and the idempotency key "
        "(Chinese, emoji, umlaut), inside repeated nested messages.",
        ["FRM-1", "FRM-11", "FRM-18"], ["Utf8"], frame.bytes, "valid", [frame]))

    # RAW bytes with every byte value.
    frame = frame_for("SendPeerMessageRequest", dict(
        peer_id="bob", message=dict(type="MESSAGE_TYPE_RAW", text="all 256 byte values", raw=bytes(range(256))),
        idempotency_key="pm-alice-0044"))
    tests.append(vector(
        "frame.valid.send-peer-message-request.raw-all-byte-values",
        f"SendPeerMessageRequest (request id {frame.request_id}) with a RAW body holding the 256 byte values 0x00..0xFF in order "
        "(including 0x00, 0x80-0xFF which are not valid UTF-8 on their own) and a text description. Bytes fields are "
        "opaque: no UTF-8 check applies.",
        ["FRM-1", "FRM-11", "FRM-18"], ["Binary"], frame.bytes, "valid", [frame]))

    # Exactly the default maximum, and a raised maximum.
    def padded_peer_message(total: int, request_id: int, tag: str) -> Frame:
        pattern = bytes(range(256))
        for raw_len in range(total, 0, -1):
            raw = (pattern * (raw_len // 256 + 1))[:raw_len]
            f = frame_for("SendPeerMessageRequest", dict(peer_id="bob", message=dict(type="MESSAGE_TYPE_RAW", raw=raw),
                                                          idempotency_key=tag), request_id=request_id)
            if len(f.payload) == total:
                return f
            if len(f.payload) < total:
                break
        raise SystemExit(f"cannot pad a peer message to exactly {total} bytes")

    frame = padded_peer_message(DEFAULT_MAX, ids["SendPeerMessageRequest"], "pm-alice-max")
    tests.append(vector(
        "frame.valid.send-peer-message-request.payload-65536",
        "SendPeerMessageRequest whose payload is exactly 65536 bytes (length 0x00010000), the default maximum: a RAW body "
        "of the repeating byte pattern 0x00..0xFF padded to hit the limit. Every receiver must accept it. (The session "
        "layer would answer INVALID_MESSAGE because the body exceeds max_message_bytes; framing does not look at that.)",
        ["FRM-1", "FRM-9", "FRM-11", "FRM-20"], ["Boundary", "Binary"], frame.bytes, "valid", [frame]))
    frame = padded_peer_message(131072, ids["SendPeerMessageRequest"], "pm-alice-big")
    tests.append(vector(
        "frame.valid.send-peer-message-request.payload-131072-raised-limit",
        "With the receiver's maximum payload length raised to 131072 (as a server may advertise in "
        "Welcome.limits.max_payload_length), a SendPeerMessageRequest whose payload is exactly 131072 bytes is accepted. "
        "(Session-level limits are not a framing matter.)",
        ["FRM-1", "FRM-9", "FRM-11"], ["Boundary", "RaisedLimit", "Binary"], frame.bytes, "valid", [frame],
        max_payload_length=131072))

    # Unknown fields after the known ones (canonical: unknown fields are re-emitted after known fields).
    login = build(schema, "LoginRequest", dict(app_id=APP_ID, user_id="alice", token=TOKEN_ALICE))
    unknown = bytes([0xC0, 0x3E, 0x2A]) + bytes([0xCA, 0x3E, 0x0B]) + b"future-data"  # field 1000 varint 42, field 1001 LEN
    payload = login.SerializeToString(deterministic=True) + unknown
    reparsed = schema.messages["LoginRequest"].FromString(payload)
    assert reparsed.SerializeToString(deterministic=True) == payload, "unknown fields must round-trip"
    frame = Frame(schema, reparsed, request_id=ids["LoginRequest"], payload=payload)
    tests.append(vector(
        "frame.valid.login-request.unknown-fields",
        f"LoginRequest (request id {frame.request_id}) followed by two fields the v1 schema does not define: field 1000 as a varint (42, "
        "bytes c0 3e 2a) and field 1001 length-delimited (\"future-data\", bytes ca 3e 0b …). The frame is valid; the "
        "JSON payload shows only the known fields; re-encoding keeps the unknown fields after the known ones, so the bytes "
        "are identical.",
        ["FRM-1", "FRM-11", "FRM-12", "FRM-18"], ["UnknownFields"], frame.bytes, "valid", [frame]))

    # A well-formed unknown group (wire types 3 and 4) after the known fields, holding a varint, a string and a nested
    # group. proto3 never defines groups, but FRM-12 makes every well-formed unknown field acceptable.
    group = (bytes([0xA3, 0x06]) + bytes([0x08, 0x2A]) + bytes([0x12, 0x03]) + b"abc"
             + bytes([0xAB, 0x06, 0x08, 0x01, 0xAC, 0x06]) + bytes([0xA4, 0x06]))
    payload = login.SerializeToString(deterministic=True) + group
    reparsed = schema.messages["LoginRequest"].FromString(payload)
    assert reparsed.SerializeToString(deterministic=True) == payload, "unknown groups must round-trip"
    frame = Frame(schema, reparsed, request_id=ids["LoginRequest"], payload=payload)
    tests.append(vector(
        "frame.valid.login-request.unknown-group",
        f"LoginRequest (request id {frame.request_id}) followed by an unknown group: start-group tag of field 100 "
        "(a3 06), then inside it field 1 = 42 (08 2a), field 2 = \"abc\" (12 03 …) and a nested group of field 101 "
        "(ab 06 08 01 ac 06), then the end-group tag of field 100 (a4 06). The group is well-formed, so the frame is "
        "valid (FRM-12). A decoder that keeps unknown fields re-encodes the same bytes; one that drops them re-encodes "
        "knownFieldsHex.",
        ["FRM-1", "FRM-11", "FRM-12", "FRM-18"], ["UnknownFields", "Groups"], frame.bytes, "valid", [frame]))

    # The same inside a known sub-message: MessageBody (field 2 of SendPeerMessageRequest) ends with an unknown group.
    body_type = type(build(schema, "SendPeerMessageRequest", {}).message)
    body = body_type.FromString(build(schema, "SendPeerMessageRequest", dict(message=TEXT_BODY)).message
                                .SerializeToString(deterministic=True) + bytes([0xA3, 0x06, 0x08, 0x07, 0xA4, 0x06]))
    request = build(schema, "SendPeerMessageRequest", dict(peer_id="bob", idempotency_key="pm-alice-group"))
    request.message.CopyFrom(body)
    payload = request.SerializeToString(deterministic=True)
    assert bytes([0xA3, 0x06, 0x08, 0x07, 0xA4, 0x06]) in payload
    reparsed = schema.messages["SendPeerMessageRequest"].FromString(payload)
    assert reparsed.SerializeToString(deterministic=True) == payload, "nested unknown groups must round-trip"
    frame = Frame(schema, reparsed, request_id=ids["SendPeerMessageRequest"], payload=payload)
    tests.append(vector(
        "frame.valid.send-peer-message-request.unknown-group-in-body",
        f"SendPeerMessageRequest (request id {frame.request_id}) whose MessageBody (field 2, a known sub-message) ends "
        "with an unknown group of field 100 holding field 1 = 7 (a3 06 08 07 a4 06). Unknown fields are accepted at "
        "any depth. A decoder that drops unknown fields re-encodes a MessageBody 6 bytes shorter, so both the body's "
        "length prefix and the frame's length change (knownFieldsHex).",
        ["FRM-1", "FRM-11", "FRM-12", "FRM-18"], ["UnknownFields", "Groups"], frame.bytes, "valid", [frame]))

    # The nesting boundary of FRM-29: the top-level message is level 0, so 100 nested groups (levels 1 … 100) are
    # accepted, and 99 groups inside a known sub-message (level 1) also reach level 100.
    nested = bytes([0xA3, 0x06]) * 100 + bytes([0xA4, 0x06]) * 100
    payload = login.SerializeToString(deterministic=True) + nested
    reparsed = schema.messages["LoginRequest"].FromString(payload)
    assert reparsed.SerializeToString(deterministic=True) == payload, "100 nested unknown groups must round-trip"
    frame = Frame(schema, reparsed, request_id=ids["LoginRequest"], payload=payload)
    tests.append(vector(
        "frame.valid.login-request.nested-groups-100",
        f"LoginRequest (request id {frame.request_id}) followed by 100 nested start-group tags of unknown field 100 "
        "(a3 06) and 100 matching end-group tags: the innermost group is at nesting level 100, the deepest FRM-29 "
        "accepts (the top-level message is level 0). A decoder that counts the top-level message as a level refuses "
        "it. One that drops unknown fields re-encodes knownFieldsHex.",
        ["FRM-1", "FRM-11", "FRM-12", "FRM-18", "FRM-29"], ["Nesting", "Groups", "UnknownFields", "Boundary"],
        frame.bytes, "valid", [frame]))
    nested = bytes([0xA3, 0x06]) * 99 + bytes([0xA4, 0x06]) * 99
    body = body_type.FromString(build(schema, "SendPeerMessageRequest", dict(message=TEXT_BODY)).message
                                .SerializeToString(deterministic=True) + nested)
    request = build(schema, "SendPeerMessageRequest", dict(peer_id="bob", idempotency_key="pm-alice-depth"))
    request.message.CopyFrom(body)
    payload = request.SerializeToString(deterministic=True)
    reparsed = schema.messages["SendPeerMessageRequest"].FromString(payload)
    assert reparsed.SerializeToString(deterministic=True) == payload, "99 groups in a body must round-trip"
    frame = Frame(schema, reparsed, request_id=ids["SendPeerMessageRequest"], payload=payload)
    tests.append(vector(
        "frame.valid.send-peer-message-request.nested-groups-in-body-99",
        f"SendPeerMessageRequest (request id {frame.request_id}) whose MessageBody (field 2, nesting level 1) ends with "
        "99 nested unknown groups of field 100: the innermost group is at level 100, the deepest FRM-29 accepts. Known "
        "sub-messages and unknown groups count alike. A decoder that drops unknown fields re-encodes knownFieldsHex.",
        ["FRM-1", "FRM-11", "FRM-12", "FRM-18", "FRM-29"], ["Nesting", "Groups", "UnknownFields", "Boundary"],
        frame.bytes, "valid", [frame]))

    # Non-canonical but valid varints (FRM-24), and the 64-bit boundary of the tenth byte (FRM-27).
    def ping_with(raw_payload: bytes, request_id: int) -> Frame:
        message = schema.messages["Ping"].FromString(raw_payload)
        return Frame(schema, message, request_id=request_id, payload=raw_payload)

    frame = ping_with(bytes([0x08, 0x87] + [0x80] * 8 + [0x00]), ids["Ping"])
    tests.append(vector(
        "frame.valid.ping.padded-varint-value",
        f"Ping (request id {frame.request_id}) whose client_time_ms is 7 written as a 10-byte varint (87, eight 80 "
        "bytes, 00) instead of the single byte 07. A varint may be longer than its shortest form (FRM-24), and a tenth "
        "byte of 00 is within 64 bits (FRM-27). Re-encoding gives the canonical 08 07 (canonicalHex).",
        ["FRM-1", "FRM-11", "FRM-24", "FRM-27"], ["NonCanonical", "VarintOverflow", "Boundary"], frame.bytes, "valid",
        [frame]))
    app = APP_ID.encode()
    raw = bytes([0x0A, 0x80 | len(app), 0x80, 0x00]) + app + bytes([0x12, 0x05]) + b"alice"
    message = schema.messages["LoginRequest"].FromString(raw)
    frame = Frame(schema, message, request_id=ids["LoginRequest"], payload=raw)
    tests.append(vector(
        "frame.valid.login-request.padded-length-prefix",
        f"LoginRequest (request id {frame.request_id}) whose app_id length prefix ({len(app)}) is a 3-byte varint "
        f"({0x80 | len(app):02x} 80 00) instead of one byte, followed by a canonical user_id. Valid (FRM-24); "
        "re-encoding shortens the prefix (canonicalHex).",
        ["FRM-1", "FRM-11", "FRM-24"], ["NonCanonical"], frame.bytes, "valid", [frame]))
    raw = bytes([0x8A, 0x80, 0x80, 0x80, 0x00, len(app)]) + app + bytes([0x12, 0x05]) + b"alice"
    message = schema.messages["LoginRequest"].FromString(raw)
    frame = Frame(schema, message, request_id=ids["LoginRequest"], payload=raw)
    tests.append(vector(
        "frame.valid.login-request.padded-tag-five-bytes",
        f"LoginRequest (request id {frame.request_id}) whose first tag (field 1, wire type 2, canonically 0a) is "
        "written as the 5-byte varint 8a 80 80 80 00, the longest a tag may be (FRM-28). Valid (FRM-24); re-encoding "
        "writes the tag as 0a (canonicalHex).",
        ["FRM-1", "FRM-11", "FRM-24", "FRM-28"], ["NonCanonical", "Boundary"], frame.bytes, "valid", [frame]))
    raw = bytes([0x0A, 0x80 | len(app), 0x80, 0x80, 0x80, 0x00]) + app
    message = schema.messages["LoginRequest"].FromString(raw)
    frame = Frame(schema, message, request_id=ids["LoginRequest"], payload=raw)
    tests.append(vector(
        "frame.valid.login-request.length-prefix-five-bytes",
        f"LoginRequest (request id {frame.request_id}) whose app_id length prefix ({len(app)}) is the 5-byte varint "
        f"{0x80 | len(app):02x} 80 80 80 00, the longest a length prefix may be (FRM-28). Valid (FRM-24); re-encoding "
        "shortens the prefix to one byte (canonicalHex).",
        ["FRM-1", "FRM-11", "FRM-24", "FRM-28"], ["NonCanonical", "Boundary"], frame.bytes, "valid", [frame]))
    for vid, value, what in (
        ("minus-one", -1, "-1, whose canonical encoding is nine ff bytes and a tenth byte 01"),
        ("int64-min", -(2**63), "-9223372036854775808 (only bit 63 set): nine 80 bytes and a tenth byte 01"),
    ):
        message = schema.messages["Ping"](client_time_ms=value)
        frame = Frame(schema, message, request_id=ids["Ping"])
        assert len(frame.payload) == 11 and frame.payload[-1] == 0x01
        tests.append(vector(
            f"frame.valid.ping.ten-byte-varint-{vid}",
            f"Ping (request id {frame.request_id}) whose client_time_ms is {what}. A tenth byte of 01 carries bit 63 "
            "and is valid (FRM-27); it is the canonical form, so the bytes re-encode unchanged.",
            ["FRM-1", "FRM-11", "FRM-27"], ["VarintOverflow", "Boundary"], frame.bytes, "valid", [frame]))

    # An enum number the schema does not name: proto3 enums are open.
    payload = bytes([0x08, 0x63]) + build(schema, "JoinChannelResponse", dict(channel_id="lobby-42")).SerializeToString(
        deterministic=True)
    reparsed = schema.messages["JoinChannelResponse"].FromString(payload)
    assert reparsed.SerializeToString(deterministic=True) == payload
    frame = Frame(schema, reparsed, request_id=ids["JoinChannelResponse"], payload=payload)
    tests.append(vector(
        "frame.valid.join-channel-response.unknown-enum-value",
        "JoinChannelResponse whose result is 99, a number JoinChannelResult does not name. proto3 enums are open: the "
        "payload parses, the value is kept as the number 99 (JSON mapping: 99) and re-encodes to the same bytes.",
        ["FRM-1", "FRM-11", "FRM-12"], ["OpenEnum"], frame.bytes, "valid", [frame]))

    # ACK_REQUIRED on an event that does not normally carry it: allowed by framing (FRM-6/FRM-7 only look at the kind).
    frame = frame_for("MemberJoined", dict(channel_id="lobby-42", user_id="dave", seq="4"), request_id=7, flags=ACK_REQUIRED)
    tests.append(vector(
        "frame.valid.member-joined.ack-required",
        "MemberJoined (an event) with ACK_REQUIRED (flags 0x01) and request id 7. The framing rules allow ACK_REQUIRED "
        "on any event opcode, with a non-zero request id; which events a server acknowledges is decided by other "
        "chapters, not by the codec.",
        ["FRM-1", "FRM-6", "FRM-7"], ["AckRequired"], frame.bytes, "valid", [frame]))

    # Largest request id.
    frame = frame_for("PeerMessage", POPULATED["PeerMessage"][1], request_id=0xFFFFFFFF)
    tests.append(vector(
        "frame.valid.peer-message.request-id-max",
        "PeerMessage with ACK_REQUIRED and the largest request id, 0xFFFFFFFF (an unsigned 32-bit field).",
        ["FRM-1", "FRM-7"], ["AckRequired", "Boundary"], frame.bytes, "valid", [frame]))
    frame = frame_for("LoginRequest", POPULATED["LoginRequest"][1], request_id=0xFFFFFFFF)
    tests.append(vector(
        "frame.valid.login-request.request-id-max",
        "LoginRequest with the largest request id, 0xFFFFFFFF (an unsigned 32-bit field; decoders must not read it as "
        "signed).",
        ["FRM-1", "FRM-7"], ["Boundary"], frame.bytes, "valid", [frame]))

    # One WebSocket message.
    frame = frame_for("LoginRequest", POPULATED["LoginRequest"][1])
    tests.append(vector(
        "frame.valid.message-transport.login-request",
        f"One WebSocket binary message holding exactly one frame (LoginRequest, request id {frame.request_id}): the same bytes as on a "
        "stream, nothing before or after.",
        ["FRM-1", "FRM-21"], ["WebSocket"], frame.bytes, "valid", [frame], transport="message"))
    frame = frame_for("DeliveryAck", {})
    tests.append(vector(
        "frame.valid.message-transport.empty-payload",
        "One WebSocket binary message holding exactly one 14-byte frame with an empty payload (DeliveryAck ACCEPTED, "
        "request id 0x80000001).",
        ["FRM-1", "FRM-13", "FRM-21"], ["WebSocket", "EmptyPayload"], frame.bytes, "valid", [frame], transport="message"))
    return tests


# --------------------------------------------------------------------------------------------------------------------
# invalid.json


def invalid_vectors(schema: Schema) -> list[dict]:
    tests = []
    ids = request_ids(schema)
    op = schema.opcode

    def inv(vid, description, requirements, labels, data, error, frames=(), max_payload_length=None, transport=None):
        tests.append(vector(vid, description, requirements, labels, data, "invalid", list(frames), error=error,
                            max_payload_length=max_payload_length, transport=transport))

    def frame_for(name, fields, request_id=None, flags=None):
        message = build(schema, name, fields)
        rid = ids[name] if request_id is None else request_id
        fl = (ACK_REQUIRED if name in ACK_EVENTS else 0) if flags is None else flags
        return Frame(schema, message, request_id=rid, flags=fl)

    login = frame_for("LoginRequest", POPULATED["LoginRequest"][1])
    ping = frame_for("Ping", POPULATED["Ping"][1])
    ping_hdr = header(op("Ping"), ids["Ping"], 0)  # a valid request header with an empty payload
    H = login.bytes[:14]
    RP, RL, RS = ids["Ping"], ids["LoginRequest"], ids["SendPeerMessageRequest"]

    # ---- truncated-header (end of stream) -------------------------------------------------------------------------
    for n in (1, 2, 6, 10, 13):
        inv(f"frame.invalid.truncated-header.{n}-byte{'s' if n > 1 else ''}",
            f"The stream ends after {n} of the 14 header bytes of a LoginRequest frame ({H[:n].hex()}). The header is "
            f"never complete, so no header check runs; at end of stream the leftover bytes are truncated-header.",
            ["FRM-14"], ["EndOfStream"], H[:n], "truncated-header")
    inv("frame.invalid.truncated-header.bad-magic-not-checked-early",
        "The stream is 5 bytes, \"XYZ\\x01\\x00\": the magic is wrong, but header checks only run once all 14 header bytes "
        "are present (FRM-10). At end of stream the result is truncated-header, not bad-magic.",
        ["FRM-10", "FRM-14"], ["EndOfStream", "CheckOrder"], b"XYZ\x01\x00", "truncated-header")
    inv("frame.invalid.truncated-header.after-valid-frame",
        f"A complete valid Ping frame (request id {RP}) followed by 7 bytes, the start of a second header (48 52 01 00 01 01 "
        "00). The Ping frame is delivered; the 7 leftover bytes at end of stream are truncated-header.",
        ["FRM-14", "FRM-16"], ["EndOfStream", "MultiFrame"], ping.bytes + H[:7], "truncated-header", [ping])

    # ---- truncated-payload (end of stream) ------------------------------------------------------------------------
    inv("frame.invalid.truncated-payload.header-only",
        f"A complete, valid LoginRequest header announcing {len(login.payload)} payload bytes, then the stream ends "
        f"with no payload byte.",
        ["FRM-15"], ["EndOfStream"], H, "truncated-payload")
    inv("frame.invalid.truncated-payload.one-byte-short",
        f"A LoginRequest frame whose header announces {len(login.payload)} payload bytes; the stream ends after "
        f"{len(login.payload) - 1} of them (the last byte is missing).",
        ["FRM-15"], ["EndOfStream"], login.bytes[:-1], "truncated-payload")
    inv("frame.invalid.truncated-payload.half",
        f"A LoginRequest frame whose header announces {len(login.payload)} payload bytes; the stream ends after "
        f"{len(login.payload) // 2} of them. The partial payload must not be parsed (it happens to be a valid prefix).",
        ["FRM-15"], ["EndOfStream"], login.bytes[:14 + len(login.payload) // 2], "truncated-payload")
    inv("frame.invalid.truncated-payload.max-absolute-length",
        "With maxPayloadLength 16777215 (the absolute cap 0x00FFFFFF), a SendPeerMessageRequest header announcing exactly "
        "0x00FFFFFF payload bytes passes every header check (the cap is inclusive); the stream then ends with 3 payload "
        "bytes, so the result is truncated-payload.",
        ["FRM-8", "FRM-9", "FRM-15"], ["EndOfStream", "Boundary", "RaisedLimit"],
        header(op("SendPeerMessageRequest"), RS, ABSOLUTE_MAX) + bytes([0x0A, 0x03, 0x62]), "truncated-payload",
        max_payload_length=ABSOLUTE_MAX)
    inv("frame.invalid.truncated-payload.after-valid-frame",
        f"A complete valid Ping frame (request id {RP}) followed by a complete LoginRequest header and 10 of its "
        f"{len(login.payload)} payload bytes. The Ping frame is delivered; the incomplete second frame is truncated-payload.",
        ["FRM-15", "FRM-16"], ["EndOfStream", "MultiFrame"], ping.bytes + login.bytes[:24], "truncated-payload", [ping])

    # ---- bad-magic ------------------------------------------------------------------------------------------------
    for vid, magic, what in [
        ("first-byte", b"XR", "the first magic byte is 0x58 ('X') instead of 0x48 ('H')"),
        ("second-byte", b"HX", "the second magic byte is 0x58 ('X') instead of 0x52 ('R')"),
        ("swapped", b"RH", "the magic bytes are swapped: 0x52 0x48 (\"RH\")"),
        ("lowercase", b"hr", "the magic is lower-case \"hr\" (0x68 0x72)"),
        ("zero", b"\x00\x00", "the magic is 0x00 0x00"),
    ]:
        data = header(op("Ping"), ids["Ping"], 0, magic=magic)
        inv(f"frame.invalid.bad-magic.{vid}",
            f"An otherwise valid Ping header (request id {RP}, length 0) where {what}.",
            ["FRM-2"], [], data, "bad-magic")

    # ---- unsupported-version --------------------------------------------------------------------------------------
    for version in (0, 2, 255):
        data = header(op("Ping"), ids["Ping"], 0, version=version)
        inv(f"frame.invalid.unsupported-version.{version}",
            f"An otherwise valid Ping header (request id {RP}, length 0) with version {version} (0x{version:02x}); only "
            f"version 1 exists.",
            ["FRM-3"], [], data, "unsupported-version")

    # ---- reserved-flags -------------------------------------------------------------------------------------------
    for bit in (0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80):
        data = header(op("MemberJoined"), 0, 0, flags=bit)
        inv(f"frame.invalid.reserved-flags.0x{bit:02x}",
            f"A MemberJoined event header (request id 0, length 0) with the reserved flag bit 0x{bit:02x} set.",
            ["FRM-4"], [], data, "reserved-flags")
    data = header(op("PeerMessage"), 0x80000001, 0, flags=0x03)
    inv("frame.invalid.reserved-flags.ack-plus-0x02",
        "A PeerMessage event header with flags 0x03: ACK_REQUIRED (allowed on an event, with request id 0x80000001) plus "
        "the reserved bit 0x02.",
        ["FRM-4"], [], data, "reserved-flags")
    data = header(op("MemberJoined"), 0, 0, flags=0xFE)
    inv("frame.invalid.reserved-flags.all-reserved",
        "A MemberJoined event header with flags 0xFE: every reserved bit set, ACK_REQUIRED clear.",
        ["FRM-4"], [], data, "reserved-flags")
    data = header(op("PeerMessage"), 0x80000001, 0, flags=0xFF)
    inv("frame.invalid.reserved-flags.all-bits",
        "A PeerMessage event header with flags 0xFF: ACK_REQUIRED plus every reserved bit.",
        ["FRM-4"], [], data, "reserved-flags")

    # ---- unknown-opcode -------------------------------------------------------------------------------------------
    for vid, opcode, what in [
        ("unspecified", 0x0000, "opcode 0x0000 (OPCODE_UNSPECIFIED, never a frame type)"),
        ("gap-0x0005", 0x0005, "opcode 0x0005, an unused request slot in group 0x00"),
        ("gap-0x0009", 0x0009, "opcode 0x0009, an unused request slot in group 0x00"),
        ("gap-0x0012", 0x0012, "opcode 0x0012, an unused event slot after ProtocolError"),
        ("gap-0x0081", 0x0081, "opcode 0x0081, an unused notice slot after DeliveryAck"),
        ("gap-0x0107", 0x0107, "opcode 0x0107, the request slot after RenewTokenRequest/Response in group 0x01"),
        ("undefined-group-0x0a01", 0x0A01, "opcode 0x0A01: group 0x0A is not defined in v1"),
        ("undefined-group-0x7f01", 0x7F01, "opcode 0x7F01: group 0x7F is not defined in v1"),
        ("extension-0xf000", 0xF000, "opcode 0xF000, the first of the range reserved for extensions (not in the v1 table)"),
        ("extension-0xffff", 0xFFFF, "opcode 0xFFFF, the last of the range reserved for extensions (not in the v1 table)"),
    ]:
        data = header(opcode, 9, 0)
        inv(f"frame.invalid.unknown-opcode.{vid}",
            f"A header with {what}; flags 0, request id 9, length 0.",
            ["FRM-5"], [], data, "unknown-opcode")
    data = header(0x0A01, 9, 4) + bytes([0x08, 0x01, 0x10, 0x02])
    inv("frame.invalid.unknown-opcode.with-payload",
        "A header with the undefined opcode 0x0A01, request id 9 and a 4-byte payload that is well-formed protobuf "
        "(08 01 10 02). The opcode check fails on the header; the payload is never looked at.",
        ["FRM-5"], [], data, "unknown-opcode")

    # ---- invalid-flags --------------------------------------------------------------------------------------------
    for name, kind in (("LoginRequest", "request"), ("LoginResponse", "response"), ("DeliveryAck", "notice"),
                       ("Welcome", "response")):
        data = header(op(name), ids[name], 0, flags=ACK_REQUIRED)
        inv(f"frame.invalid.invalid-flags.ack-on-{kind}" + ("-welcome" if name == "Welcome" else ""),
            f"A {name} header ({kind}, request id {ids[name]}, length 0) with ACK_REQUIRED (flags 0x01): the flag is only "
            f"allowed on events.",
            ["FRM-6"], [], data, "invalid-flags")

    # ---- invalid-request-id ---------------------------------------------------------------------------------------
    for name, kind in (("LoginRequest", "request"), ("LoginResponse", "response"), ("DeliveryAck", "notice"),
                       ("Hello", "request")):
        data = header(op(name), 0, 0)
        inv(f"frame.invalid.invalid-request-id.zero-on-{kind}" + ("-hello" if name == "Hello" else ""),
            f"A {name} header ({kind}, flags 0, length 0) with request id 0; requests, responses and notices need a "
            f"non-zero request id.",
            ["FRM-7"], [], data, "invalid-request-id")
    data = header(op("MemberJoined"), 5, 0)
    inv("frame.invalid.invalid-request-id.nonzero-on-event",
        "A MemberJoined event header without ACK_REQUIRED (flags 0) but with request id 5; such events need request id 0.",
        ["FRM-7"], [], data, "invalid-request-id")
    data = header(op("PeerMessage"), 0x80000001, 0)
    inv("frame.invalid.invalid-request-id.nonzero-on-event-without-ack",
        "A PeerMessage event header with request id 0x80000001 but flags 0 (ACK_REQUIRED missing); without the flag an "
        "event must carry request id 0.",
        ["FRM-7"], [], data, "invalid-request-id")
    data = header(op("PeerMessage"), 0, 0, flags=ACK_REQUIRED)
    inv("frame.invalid.invalid-request-id.zero-with-ack",
        "A PeerMessage event header with ACK_REQUIRED (flags 0x01) but request id 0; an acknowledged delivery needs a "
        "non-zero request id.",
        ["FRM-7"], [], data, "invalid-request-id")

    # ---- length-out-of-range --------------------------------------------------------------------------------------
    for vid, length in (("0x01000000", 0x01000000), ("0x80000000", 0x80000000), ("0xffffffff", 0xFFFFFFFF)):
        data = header(op("SendPeerMessageRequest"), RS, length)
        inv(f"frame.invalid.length-out-of-range.{vid}",
            f"A SendPeerMessageRequest header (request id {RS}) announcing length {vid} (top byte set, above the absolute "
            f"cap 0x00FFFFFF); the stream holds only the header. The error comes from the header alone.",
            ["FRM-8"], ["Oversize", "HeaderOnly"], data, "length-out-of-range")
    data = header(op("SendPeerMessageRequest"), RS, 0x01000000)
    inv("frame.invalid.length-out-of-range.with-max-absolute-limit",
        "With maxPayloadLength 16777215, a header announcing 0x01000000 bytes (one more than the absolute cap): the "
        "absolute cap is checked before the negotiated maximum, so the error is length-out-of-range.",
        ["FRM-8", "FRM-10"], ["Oversize", "HeaderOnly", "Boundary", "RaisedLimit"], data, "length-out-of-range",
        max_payload_length=ABSOLUTE_MAX)

    # ---- frame-too-large ------------------------------------------------------------------------------------------
    data = header(op("SendPeerMessageRequest"), RS, DEFAULT_MAX + 1)
    inv("frame.invalid.frame-too-large.65537-header-only",
        "A SendPeerMessageRequest header announcing 65537 bytes, one more than the default maximum 65536; the stream "
        "holds only the header. The error is detected from the header alone, before any payload byte: frame-too-large, "
        "not truncated-payload.",
        ["FRM-9"], ["Oversize", "HeaderOnly", "Boundary"], data, "frame-too-large")
    data = header(op("SendPeerMessageRequest"), RS, DEFAULT_MAX + 1) + bytes([0x0A, 0x03, 0x62, 0x6F, 0x62]) + bytes(251)
    inv("frame.invalid.frame-too-large.65537-partial-payload",
        "A SendPeerMessageRequest header announcing 65537 bytes (default maximum 65536) followed by the first 256 "
        "payload bytes. The error is frame-too-large from the header; the payload is never buffered.",
        ["FRM-9"], ["Oversize", "Boundary"], data, "frame-too-large")
    data = header(op("SendPeerMessageRequest"), RS, ABSOLUTE_MAX)
    inv("frame.invalid.frame-too-large.max-absolute-with-default-limit",
        "A header announcing 0x00FFFFFF bytes: within the absolute cap, so not length-out-of-range, but above the "
        "default maximum 65536: frame-too-large.",
        ["FRM-8", "FRM-9"], ["Oversize", "HeaderOnly"], data, "frame-too-large")
    data = header(op("SendPeerMessageRequest"), RS, 131073)
    inv("frame.invalid.frame-too-large.raised-limit-plus-one",
        "With maxPayloadLength 131072, a header announcing 131073 bytes (one more than the raised maximum).",
        ["FRM-9"], ["Oversize", "HeaderOnly", "Boundary", "RaisedLimit"], data, "frame-too-large",
        max_payload_length=131072)

    # ---- check order ----------------------------------------------------------------------------------------------
    order = [
        ("magic-before-version", header(op("Ping"), RP, 0, version=2, magic=b"XR"), "bad-magic",
         "bad magic (\"XR\") and version 2 on a Ping header: magic is checked first."),
        ("magic-before-everything", header(0xFFFF, 0, 0xFFFFFFFF, flags=0xFF, version=0, magic=b"\x00\x00"), "bad-magic",
         "every header field wrong at once (magic 00 00, version 0, flags 0xFF, opcode 0xFFFF, request id 0, length "
         "0xFFFFFFFF): magic is checked first."),
        ("version-before-flags", header(op("MemberJoined"), 0, 0, flags=0x80, version=2), "unsupported-version",
         "version 2 and reserved flag 0x80 on a MemberJoined header: version is checked before flags."),
        ("flags-before-opcode", header(0x0A01, 9, 0, flags=0x04), "reserved-flags",
         "reserved flag 0x04 and the undefined opcode 0x0A01: flags are checked before the opcode."),
        ("reserved-flags-before-invalid-flags", header(op("LoginRequest"), RL, 0, flags=0x03), "reserved-flags",
         "flags 0x03 on a LoginRequest (request): the reserved bit 0x02 is reported before ACK_REQUIRED on a non-event."),
        ("opcode-before-request-id", header(0x0A01, 0, 0), "unknown-opcode",
         "the undefined opcode 0x0A01 with request id 0: the opcode is checked before the request id rule (which needs "
         "the opcode's kind)."),
        ("opcode-before-flags-kind", header(0xF000, 0, 0, flags=ACK_REQUIRED), "unknown-opcode",
         "ACK_REQUIRED on the undefined opcode 0xF000 with request id 0: the opcode is checked before the ACK_REQUIRED "
         "rule."),
        ("opcode-before-length", header(0x0009, 9, 0xFFFFFFFF), "unknown-opcode",
         "the undefined opcode 0x0009 with length 0xFFFFFFFF: the opcode is checked before the length."),
        ("invalid-flags-before-request-id", header(op("LoginRequest"), 0, 0, flags=ACK_REQUIRED), "invalid-flags",
         "ACK_REQUIRED and request id 0 on a LoginRequest (request): the flag rule is checked before the request id rule."),
        ("invalid-flags-before-length", header(op("SendPeerMessageRequest"), RS, 0x01000000, flags=ACK_REQUIRED),
         "invalid-flags",
         "ACK_REQUIRED on a SendPeerMessageRequest (request) with length 0x01000000: the flag rule is checked before the "
         "length."),
        ("request-id-before-length", header(op("PeerMessage"), 0, 0xFFFFFFFF, flags=ACK_REQUIRED), "invalid-request-id",
         "a PeerMessage with ACK_REQUIRED but request id 0 and length 0xFFFFFFFF: the request id rule is checked before "
         "the length."),
        ("request-id-before-frame-too-large", header(op("SendPeerMessageRequest"), 0, DEFAULT_MAX + 1),
         "invalid-request-id",
         "a SendPeerMessageRequest with request id 0 and length 65537 (default maximum 65536): the request id rule is "
         "checked before the negotiated maximum."),
        ("header-before-payload", header(op("LoginRequest"), RL, 2, version=3) + bytes([0x0A, 0x80]), "unsupported-version",
         "a LoginRequest with version 3 and a malformed 2-byte payload (0a 80, a truncated length): header errors are "
         "reported before the payload is looked at."),
    ]
    for vid, data, error, what in order:
        inv(f"frame.invalid.check-order.{vid}", f"Several faults at once: {what} Expected: {error}.",
            ["FRM-10"] + {"bad-magic": ["FRM-2"], "unsupported-version": ["FRM-3"], "reserved-flags": ["FRM-4"],
                          "unknown-opcode": ["FRM-5"], "invalid-flags": ["FRM-6"], "invalid-request-id": ["FRM-7"]}[error],
            ["CheckOrder"] + (["HeaderOnly"] if len(data) == 14 and struct.unpack(">I", data[10:14])[0] > 0 else []),
            data, error)

    # ---- malformed-payload ----------------------------------------------------------------------------------------
    def mal(vid, name, payload, what, labels=(), request_id=None, flags=None, requirements=("FRM-11",)):
        rid = ids[name] if request_id is None else request_id
        fl = (ACK_REQUIRED if name in ACK_EVENTS else 0) if flags is None else flags
        data = header(op(name), rid, len(payload), flags=fl) + payload
        inv(f"frame.invalid.malformed-payload.{vid}",
            f"A valid {name} header (opcode 0x{op(name):04X}, request id {rid}, length {len(payload)}) whose payload "
            f"({payload.hex() if len(payload) <= 24 else payload[:12].hex() + '…'}) {what}",
            list(requirements), list(labels), data, "malformed-payload")

    mal("truncated-varint", "LoginResponse", bytes([0x08, 0x80]),
        "ends inside a varint: field 1 (result) tag 08, then 0x80, a continuation byte with nothing after it.")
    mal("truncated-tag", "LoginResponse", bytes([0x08, 0x02, 0x90]),
        "ends inside a tag: after field 1 = 2, the byte 0x90 starts a multi-byte tag that never ends.")
    mal("varint-too-long", "LoginResponse", bytes([0x08] + [0xFF] * 10 + [0x01]),
        "has an 11-byte varint for field 1 (ten 0xff bytes then 0x01); a varint is at most 10 bytes.")
    def overflow(vid, name, payload, what):
        mal(vid, name, payload, what + " A varint whose tenth byte is above 01 does not fit in 64 bits (FRM-27).",
            labels=["VarintOverflow"])
        tests[-1]["requirements"] = ["FRM-11", "FRM-27"]

    overflow("varint-overflow-tenth-byte-7f", "Ping", bytes([0x08] + [0xFF] * 9 + [0x7F]),
             "sets field 1 (client_time_ms) to a 10-byte varint of nine ff bytes and a tenth byte 7f. Runtimes that "
             "drop the extra bits read -1.")
    overflow("varint-overflow-tenth-byte-02", "Ping", bytes([0x08] + [0x80] * 9 + [0x02]),
             "sets field 1 (client_time_ms) to nine 80 bytes and a tenth byte 02, the value 2^64, the smallest that "
             "does not fit. Runtimes that drop the extra bits read 0.")
    overflow("varint-overflow-nested", "SendPeerMessageRequest",
             bytes([0x0A, 0x03]) + b"bob" + bytes([0x12, 0x0B, 0x08] + [0x81] + [0x80] * 8 + [0x02]),
             "has a MessageBody (field 2) whose type (inner field 1, an enum) is the 10-byte varint 81, eight 80 bytes, "
             "02, which overflows inside the nested message.")
    overflow("varint-overflow-packed", "Hello", bytes([0x0A, 0x0B, 0x01] + [0xFF] * 9 + [0x03]),
             "has field 1 (versions, packed repeated uint32) holding the element 1 and then the 10-byte varint of "
             "nine ff bytes and 03.")
    overflow("varint-overflow-unknown-field", "LoginRequest",
             bytes([0x0A, 0x01, 0x61, 0xC0, 0x3E] + [0xFF] * 9 + [0x7F]),
             "has a valid field 1, then unknown field 1000 (c0 3e) as a varint of nine ff bytes and 7f. The rule "
             "applies to unknown fields too.")
    overflow("varint-overflow-length-prefix", "LoginRequest",
             bytes([0x0A, 0x83] + [0x80] * 8 + [0x02]) + b"abc",
             "has field 1 (app_id) with the 10-byte length prefix 83, eight 80 bytes, 02, followed by 3 bytes. "
             "Runtimes that drop the extra bits read the length as 3 and the app_id as \"abc\". (A length prefix "
             "longer than 5 bytes is malformed anyway, FRM-28.)")
    tests[-1]["requirements"] = ["FRM-11", "FRM-27", "FRM-28"]

    def too_long(vid, payload, what):
        mal(vid, "LoginRequest", payload, what + " Tags and length prefixes are at most 5 bytes long (FRM-28).",
            labels=["LongVarint"])
        tests[-1]["requirements"] = ["FRM-11", "FRM-28"]

    too_long("tag-six-bytes", bytes([0x8A, 0x80, 0x80, 0x80, 0x80, 0x00, 0x03]) + b"abc",
             "starts with the tag of field 1 (wire type 2, canonically 0a) padded to the 6-byte varint 8a 80 80 80 80 "
             "00, then a length 3 and \"abc\".")
    too_long("length-prefix-six-bytes", bytes([0x0A, 0x83, 0x80, 0x80, 0x80, 0x80, 0x00]) + b"abc",
             "has field 1 (app_id) whose length prefix 3 is padded to the 6-byte varint 83 80 80 80 80 00, followed by "
             "\"abc\". upb and SwiftProtobuf accept it; protobuf-c rejects it.")
    too_long("length-prefix-ten-bytes", bytes([0x0A, 0x83] + [0x80] * 8 + [0x00]) + b"abc",
             "has field 1 (app_id) whose length prefix 3 is padded to the 10-byte varint 83, eight 80 bytes, 00 (within "
             "64 bits, so only the 5-byte bound applies), followed by \"abc\".")
    too_long("length-prefix-six-bytes-in-unknown-group", bytes([0x0A, 0x01, 0x61, 0xA3, 0x06, 0x12, 0x83, 0x80, 0x80,
                                                                0x80, 0x80, 0x00]) + b"abc" + bytes([0xA4, 0x06]),
             "has a valid field 1, then an unknown group of field 100 holding field 2 with the 6-byte length prefix "
             "83 80 80 80 80 00 and \"abc\". The bound applies inside unknown fields too.")
    mal("length-past-end", "LoginRequest", bytes([0x0A, 0x10]) + b"ab",
        "declares field 1 (app_id) as 16 bytes long (0a 10) but only 2 bytes follow.")
    mal("nested-length-past-end", "SendPeerMessageRequest", bytes([0x0A, 0x03]) + b"bob" + bytes([0x12, 0x04, 0x12, 0x08]) + b"hi",
        "has a well-formed MessageBody (field 2, 4 bytes) whose inner field 2 (text) declares 8 bytes but only 2 remain "
        "inside the nested message.")
    mal("unknown-field-length-past-end", "LoginRequest", bytes([0x0A, 0x01, 0x61, 0xCA, 0x3E, 0x20]) + b"xyz",
        "has a valid field 1 then an unknown field 1001 (ca 3e) declaring 32 bytes of which only 3 are present; "
        "unknown fields must be well-formed too.", labels=["UnknownFields"])
    mal("string-as-varint", "LoginRequest", bytes([0x08, 0x01]) + bytes([0x12, 0x05]) + b"alice",
        "sends field 1 (app_id, a string, wire type 2) as a varint (tag 08, value 1), then a correct field 2. A known "
        "field with the wrong wire type is malformed.", labels=["WireTypeMismatch"])
    mal("enum-as-length-delimited", "LoginResponse", bytes([0x0A, 0x02, 0x08, 0x01]),
        "sends field 1 (result, an enum, wire type 0) as length-delimited (tag 0a, 2 bytes).", labels=["WireTypeMismatch"])
    mal("int64-as-fixed64", "Ping", bytes([0x09]) + struct.pack("<q", T0),
        "sends field 1 (client_time_ms, an int64, wire type 0) as fixed64 (tag 09, 8 bytes).", labels=["WireTypeMismatch"])
    mal("message-as-varint", "SendPeerMessageRequest", bytes([0x0A, 0x03]) + b"bob" + bytes([0x10, 0x01]),
        "sends field 2 (message, a MessageBody, wire type 2) as a varint (tag 10, value 1).", labels=["WireTypeMismatch"])
    other = build(schema, "LoginRequest", dict(app_id=APP_ID, user_id="alice")).SerializeToString(deterministic=True)
    mal("other-message-type", "LoginResponse", other,
        "is a LoginRequest (field 1 app_id and field 2 user_id, both strings, wire type 2) sent under the LoginResponse "
        "opcode, whose field 1 (result) is an enum (wire type 0): the wire types clash.", labels=["WireTypeMismatch"])
    mal("invalid-utf8-c3-28", "LoginRequest", bytes([0x0A, 0x02, 0xC3, 0x28]),
        "sets field 1 (app_id, a string) to the bytes c3 28: 0xC3 starts a 2-byte sequence but 0x28 is not a "
        "continuation byte.", labels=["Utf8"])
    mal("invalid-utf8-lone-ff", "LoginRequest", bytes([0x0A, 0x03, 0x61, 0xFF, 0x62]),
        "sets field 1 (app_id, a string) to 61 ff 62: 0xFF never occurs in UTF-8.", labels=["Utf8"])
    mal("invalid-utf8-overlong", "LoginRequest", bytes([0x12, 0x02, 0xC0, 0xAF]),
        "sets field 2 (user_id, a string) to c0 af, an overlong encoding of '/'.", labels=["Utf8"])
    mal("invalid-utf8-surrogate", "LoginRequest", bytes([0x12, 0x03, 0xED, 0xA0, 0x80]),
        "sets field 2 (user_id, a string) to ed a0 80, the UTF-8 form of the surrogate U+D800, which UTF-8 excludes.",
        labels=["Utf8"])
    mal("invalid-utf8-truncated-sequence", "LoginRequest", bytes([0x12, 0x02, 0xE4, 0xBD]),
        "sets field 2 (user_id, a string) to e4 bd, the first two bytes of the 3-byte sequence for '你' with the last "
        "byte missing.", labels=["Utf8"])
    mal("invalid-utf8-nested", "SendPeerMessageRequest",
        bytes([0x0A, 0x03]) + b"bob" + bytes([0x12, 0x06, 0x08, 0x01, 0x12, 0x02, 0xC3, 0x28]),
        "has a MessageBody (field 2) whose text (inner field 2) is c3 28, invalid UTF-8 inside a nested message.",
        labels=["Utf8"])
    mal("invalid-utf8-repeated", "QueryPeersOnlineStatusRequest", bytes([0x0A, 0x03]) + b"bob" + bytes([0x0A, 0x01, 0xFF]),
        "has a repeated string field 1 (peer_ids) whose second entry is the single byte ff.", labels=["Utf8"])
    mal("end-group-without-start", "LoginRequest", bytes([0x0A, 0x01, 0x61, 0xA4, 0x06]),
        "has a valid field 1, then an end-group tag for field 100 (a4 06) with no matching start-group.", labels=["Groups"])
    mal("unterminated-group", "LoginRequest", bytes([0x0A, 0x01, 0x61, 0xA3, 0x06, 0x08, 0x01]),
        "has a valid field 1, then a start-group tag for unknown field 100 (a3 06) and a varint inside it, but no "
        "end-group tag before the payload ends.", labels=["Groups", "UnknownFields"])
    mal("mismatched-end-group", "LoginRequest", bytes([0xA3, 0x06, 0xAC, 0x06]),
        "opens a group for field 100 (a3 06) and closes it with the end-group tag of field 101 (ac 06).", labels=["Groups"])
    mal("invalid-wire-type-6", "LoginRequest", bytes([0x0A, 0x01, 0x61, 0x16, 0x00]),
        "has a valid field 1, then a tag with wire type 6 (16 = field 2, wire type 6), which does not exist.")
    mal("invalid-wire-type-7", "LoginRequest", bytes([0x0F, 0x00]),
        "starts with a tag with wire type 7 (0f = field 1, wire type 7), which does not exist.")
    mal("field-number-zero", "LoginRequest", bytes([0x02, 0x01, 0x61]),
        "starts with tag 02: field number 0 (reserved, never valid) with wire type 2.")
    mal("field-number-too-large", "LoginRequest", bytes([0x80, 0x80, 0x80, 0x80, 0x10, 0x01]),
        "starts with a tag whose field number is 2^29 (tag varint 80 80 80 80 10, tag value 2^32), above the maximum "
        "field number 2^29-1.")
    mal("field-number-above-32-bit-tag", "LoginRequest", bytes([0x8A, 0x80, 0x80, 0x80, 0x10, 0x03]) + b"abc",
        "starts with the 5-byte tag 8a 80 80 80 10, whose value 2^32 + 10 does not fit in 32 bits: its field number "
        "2^29 + 1 is above 2^29-1. A decoder that reads tags as 32-bit values sees field 1 (wire type 2) and app_id "
        "\"abc\" (protobuf-c does).")
    mal("packed-truncated-element", "Hello", bytes([0x0A, 0x02, 0x01, 0x80]),
        "has field 1 (versions, packed repeated uint32) of 2 bytes whose second element 0x80 is an unfinished varint.")
    depth = 200
    mal(f"nested-groups-{depth}", "LoginRequest", bytes([0xA3, 0x06]) * depth + bytes([0xA4, 0x06]) * depth,
        f"is {depth} nested start-group tags of unknown field 100 (a3 06) followed by {depth} matching end-group tags: "
        f"well-formed but nested deeper than 100 levels.", labels=["Nesting", "Groups", "UnknownFields"])
    # FRM-29's boundary from the other side: one level more than the valid nested-groups vectors.
    mal("nested-groups-101", "LoginRequest", bytes([0xA3, 0x06]) * 101 + bytes([0xA4, 0x06]) * 101,
        "is 101 nested start-group tags of unknown field 100 (a3 06) followed by 101 matching end-group tags: the "
        "innermost group is at nesting level 101, one more than FRM-29 accepts (the top-level message is level 0).",
        labels=["Nesting", "Groups", "UnknownFields", "Boundary"], requirements=["FRM-11", "FRM-29"])
    inner = bytes([0x08, 0x01, 0x12, 0x02]) + b"hi" + bytes([0xA3, 0x06]) * 100 + bytes([0xA4, 0x06]) * 100
    mal("nested-groups-in-body-100", "SendPeerMessageRequest",
        bytes([0x0A, 0x03]) + b"bob" + bytes([0x12, 0x80 | (len(inner) & 0x7F), len(inner) >> 7]) + inner,
        "has a MessageBody (field 2, nesting level 1) holding a text body and then 100 nested unknown groups of field "
        "100: the innermost group is at level 101, one more than FRM-29 accepts. Known sub-messages and unknown groups "
        "count alike.", labels=["Nesting", "Groups", "UnknownFields", "Boundary"], requirements=["FRM-11", "FRM-29"])

    # ---- several frames, invalid one after valid ones -------------------------------------------------------------
    bad = header(op("Ping"), 4, 0, version=2)
    inv("frame.invalid.unsupported-version.after-valid-frame",
        f"A valid LoginRequest frame (request id {RL}) followed by a Ping header with version 2. The LoginRequest is "
        "delivered; the second header fails with unsupported-version.",
        ["FRM-3", "FRM-16"], ["MultiFrame"], login.bytes + bad, "unsupported-version", [login])
    state = frame_for("ConnectionStateChanged", dict(state="CONNECTION_STATE_CONNECTED",
                                                     reason="CONNECTION_CHANGE_REASON_LOGIN_SUCCESS"))
    bad = header(op("MemberJoined"), 0, 4) + bytes([0x0A, 0x02, 0xC3, 0x28])
    inv("frame.invalid.malformed-payload.after-valid-frames",
        f"Two valid frames (a Ping, request id {RP}, and a ConnectionStateChanged event) followed by a MemberJoined event "
        "frame whose payload sets channel_id to the invalid UTF-8 bytes c3 28. Both valid frames are delivered; the "
        "third fails with malformed-payload.",
        ["FRM-11", "FRM-16"], ["MultiFrame", "Utf8"], ping.bytes + state.bytes + bad, "malformed-payload", [ping, state])
    bad = header(0xF000, 5, 0)
    inv("frame.invalid.unknown-opcode.after-valid-frame",
        f"A valid Ping frame (request id {RP}) followed by a header with the extension opcode 0xF000. The Ping is delivered.",
        ["FRM-5", "FRM-16"], ["MultiFrame"], ping.bytes + bad, "unknown-opcode", [ping])

    # ---- one WebSocket message ------------------------------------------------------------------------------------
    inv("frame.invalid.trailing-bytes.one-extra-byte",
        "One WebSocket binary message holding a complete LoginRequest frame followed by one extra byte 0x00. A message "
        "must hold exactly one frame.",
        ["FRM-21"], ["WebSocket"], login.bytes + b"\x00", "trailing-bytes", transport="message")
    inv("frame.invalid.trailing-bytes.two-frames",
        "One WebSocket binary message holding two complete valid frames (Ping, then LoginRequest). A message must hold "
        "exactly one frame; the message is rejected whole, so no frame is delivered.",
        ["FRM-21"], ["WebSocket", "MultiFrame"], ping.bytes + login.bytes, "trailing-bytes", transport="message")
    inv("frame.invalid.trailing-bytes.after-empty-payload",
        "One WebSocket binary message holding a Ping header with length 0 followed by 2 bytes (08 01) that look like a "
        "payload the header did not announce.",
        ["FRM-21"], ["WebSocket"], ping_hdr + bytes([0x08, 0x01]), "trailing-bytes", transport="message")
    inv("frame.invalid.truncated-payload.short-message",
        f"One WebSocket binary message holding a LoginRequest header announcing {len(login.payload)} payload bytes but "
        f"only {len(login.payload) - 5} of them.",
        ["FRM-15", "FRM-21"], ["WebSocket"], login.bytes[:-5], "truncated-payload", transport="message")
    inv("frame.invalid.truncated-header.short-message",
        "One WebSocket binary message of 9 bytes: the start of a LoginRequest header.",
        ["FRM-14", "FRM-21"], ["WebSocket"], H[:9], "truncated-header", transport="message")
    inv("frame.invalid.truncated-header.empty-message",
        "One empty WebSocket binary message (0 bytes): a message must hold exactly one frame, and 0 bytes is less than a "
        "header.",
        ["FRM-14", "FRM-21"], ["WebSocket"], b"", "truncated-header", transport="message")
    inv("frame.invalid.bad-magic.message",
        "One WebSocket binary message of 14 bytes whose header has the magic \"RH\"; header checks apply to messages too.",
        ["FRM-2", "FRM-21"], ["WebSocket"], header(op("Ping"), RP, 0, magic=b"RH"), "bad-magic", transport="message")
    inv("frame.invalid.frame-too-large.message",
        "One WebSocket binary message holding a SendPeerMessageRequest header announcing 65537 bytes (default maximum "
        "65536) and nothing else: the header check reports frame-too-large before the message length is compared.",
        ["FRM-9", "FRM-21"], ["WebSocket", "Oversize", "HeaderOnly"], header(op("SendPeerMessageRequest"), RS, DEFAULT_MAX + 1),
        "frame-too-large", transport="message")
    return tests


# --------------------------------------------------------------------------------------------------------------------
# Files


def document(kind: str, tests: list[dict]) -> dict:
    used = sorted({label for t in tests for label in t["labels"]})
    descriptions = {
        "valid": "Valid Herald v1 frames: at least one fully populated frame for every opcode of the v1 table, plus "
                 "success shapes, empty payloads, several frames in one stream, UTF-8 and binary payloads, payloads at "
                 "the length limits, unknown fields and one-frame WebSocket messages. Each vector must decode to exactly "
                 "its frames and re-encode to exactly its bytes.",
        "invalid": "Invalid Herald v1 inputs: each must fail with the stated error identifier after delivering exactly "
                   "the listed frames. Covers every header check and its order, end-of-stream truncation, malformed "
                   "payloads and the one-frame-per-WebSocket-message rule.",
    }
    return {
        "suite": "herald-frames",
        "schemaVersion": 2,
        "protocolVersion": 1,
        "description": descriptions[kind] + " Generated by Scripts/generate-vectors.sh (Python protobuf, independent of "
        "the Swift implementation); do not edit by hand.",
        "numberOfTests": len(tests),
        "labels": {name: LABELS[name] for name in LABELS if name in used},
        "tests": tests,
    }


def write_json(path: Path, doc: dict) -> None:
    text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--proto-python", required=True, type=Path)
    parser.add_argument("--out", type=Path, default=ROOT / "Vectors" / "frames")
    parser.add_argument("--schema", type=Path, default=ROOT / "Vectors" / "schema" / "frame-vectors.schema.json")
    args = parser.parse_args()

    schema = Schema(args.proto_python)
    valid = document("valid", valid_vectors(schema))
    invalid = document("invalid", invalid_vectors(schema))

    for doc in (valid, invalid):
        seen = set()
        for test in doc["tests"]:
            if test["id"] in seen:
                raise SystemExit(f"duplicate vector id {test['id']}")
            seen.add(test["id"])
            for req in test["requirements"]:
                if req not in ALL_REQUIREMENTS:
                    raise SystemExit(f"{test['id']}: unknown requirement {req}")
    unused = set(LABELS) - {label for doc in (valid, invalid) for t in doc["tests"] for label in t["labels"]}
    if unused:
        raise SystemExit(f"labels declared but never used: {sorted(unused)}")

    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "valid.json", valid)
    write_json(args.out / "invalid.json", invalid)

    import jsonschema

    with open(args.schema, encoding="utf-8") as f:
        json_schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(json_schema)
    validator = jsonschema.Draft202012Validator(json_schema)
    failed = False
    for name in ("valid.json", "invalid.json"):
        with open(args.out / name, encoding="utf-8") as f:
            doc = json.load(f)
        for error in sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path)):
            failed = True
            print(f"{name}: schema: {'/'.join(map(str, error.absolute_path))}: {error.message[:300]}", file=sys.stderr)
    if failed:
        return 1

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import verify_frame_vectors

    problems = verify_frame_vectors.verify_paths([args.out / "valid.json", args.out / "invalid.json"], args.proto_python)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 1
    print(f"wrote {args.out}/valid.json ({valid['numberOfTests']} vectors) and invalid.json "
          f"({invalid['numberOfTests']} vectors); schema and independent decoder agree", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Checks Herald frame vectors with a small decoder written from the framing rules alone (Spec/03-framing.md).

It shares no code with generate_frame_vectors.py: it parses headers itself, applies the header checks in the order
of FRM-10, validates payloads with its own strict protobuf wire-format walker (wire types of known fields, UTF-8 in
string fields, group matching, nesting limit 100), and only then asks the Python protobuf runtime to parse the payload
for the JSON comparison. Every vector is decoded three ways for FRM-17: the whole input at once, one byte at a
time, and (for inputs up to 512 bytes) split in two at every position.

Usage: verify_frame_vectors.py --proto-python DIR [--notes] FILE...
Exit status 0 when every vector's stated result is reproduced, 1 otherwise. --notes also lists the vectors where the
stock Python protobuf parser is more lenient than Herald's rules (it accepts a payload Herald calls malformed).
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import struct
import sys
from pathlib import Path

HEADER_SIZE = 14
ABSOLUTE_MAX = 0x00FFFFFF
DEFAULT_MAX = 65536
MAX_DEPTH = 100
ERRORS = {"truncated-header", "truncated-payload", "trailing-bytes", "bad-magic", "unsupported-version",
          "reserved-flags", "unknown-opcode", "invalid-flags", "invalid-request-id", "length-out-of-range",
          "frame-too-large", "malformed-payload"}
PROTO_MODULES = ["common", "handshake", "session", "peer", "presence", "attributes", "channels", "invitations", "legacy",
                 "opcode"]


class WireError(Exception):
    def __init__(self, code: str, detail: str):
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


class Protocol:
    """The v1 opcode table, read from the generated code of Spec/proto: the enum value name is OPCODE_ followed by the
    message name in UPPER_SNAKE_CASE, and the kind follows from the low byte."""

    def __init__(self, proto_python: Path):
        if str(proto_python) not in sys.path:
            sys.path.insert(0, str(proto_python))
        modules = [importlib.import_module(f"herald.v1.{m}_pb2") for m in PROTO_MODULES]
        from google.protobuf import json_format
        from google.protobuf.descriptor import FieldDescriptor

        self.json_format = json_format
        self.F = FieldDescriptor
        classes = {}
        for module in modules:
            for name in module.DESCRIPTOR.message_types_by_name:
                classes[name] = getattr(module, name)
        snake = {re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", n).upper(): n for n in classes}
        enum = modules[-1].DESCRIPTOR.enum_types_by_name["Opcode"]
        self.table = {}
        for value in enum.values:
            if value.number == 0:
                continue
            cls = classes[snake[value.name.removeprefix("OPCODE_")]]
            low = value.number & 0xFF
            if 0x01 <= low <= 0x0F:
                kind = "request" if low & 1 else "response"
            elif low <= 0x7F:
                kind = "event"
            else:
                kind = "notice"
            self.table[value.number] = (value.name, cls, kind)


# --------------------------------------------------------------------------------------------------------------------
# Strict wire-format walker


class Walker:
    def __init__(self, proto: Protocol):
        F = proto.F
        self.F = F
        self.wire = {}
        for t in (F.TYPE_DOUBLE, F.TYPE_FIXED64, F.TYPE_SFIXED64):
            self.wire[t] = 1
        for t in (F.TYPE_FLOAT, F.TYPE_FIXED32, F.TYPE_SFIXED32):
            self.wire[t] = 5
        for t in (F.TYPE_STRING, F.TYPE_BYTES, F.TYPE_MESSAGE):
            self.wire[t] = 2
        self.wire[F.TYPE_GROUP] = 3
        for t in (F.TYPE_INT32, F.TYPE_INT64, F.TYPE_UINT32, F.TYPE_UINT64, F.TYPE_SINT32, F.TYPE_SINT64, F.TYPE_BOOL,
                  F.TYPE_ENUM):
            self.wire[t] = 0

    @staticmethod
    def fail(detail: str):
        raise WireError("malformed-payload", detail)

    def varint(self, data: bytes, pos: int, end: int, limit: int = 10, what: str = "varint") -> tuple[int, int]:
        """Reads a varint of at most `limit` bytes: 10 for values, 5 for tags and length prefixes (FRM-28)."""
        value = 0
        for i in range(10):
            if pos >= end:
                self.fail(f"truncated {what}")
            if i == limit:
                self.fail(f"{what} longer than {limit} bytes (FRM-28)")
            byte = data[pos]
            pos += 1
            value |= (byte & 0x7F) << (7 * i)
            if i == 9 and byte > 0x01:
                self.fail("10-byte varint whose tenth byte is above 01 (more than 64 bits, FRM-27)")
            if not byte & 0x80:
                return value, pos
        self.fail("varint longer than 10 bytes")

    def tag(self, data: bytes, pos: int, end: int) -> tuple[int, int]:
        return self.varint(data, pos, end, limit=5, what="tag")

    def length(self, data: bytes, pos: int, end: int) -> tuple[int, int]:
        n, pos = self.varint(data, pos, end, limit=5, what="length prefix")
        if n > end - pos:
            self.fail(f"length-delimited field of {n} bytes with {end - pos} left")
        return pos + n, pos

    def message(self, data: bytes, pos: int, end: int, descriptor, depth: int, group: int | None = None) -> int:
        """Walks fields from pos to end; for a group, stops after the matching end-group tag. Returns the end."""
        while pos < end:
            tag, pos = self.tag(data, pos, end)
            if tag > 0xFFFFFFFF:
                self.fail("tag wider than 32 bits")
            number, wire = tag >> 3, tag & 7
            if number == 0 or number > (1 << 29) - 1:
                self.fail(f"field number {number} out of range")
            if wire == 4:
                if group == number:
                    return pos
                self.fail(f"end-group tag for field {number} without a matching start")
            if wire in (6, 7):
                self.fail(f"wire type {wire} does not exist")
            field = descriptor.fields_by_number.get(number) if descriptor is not None else None
            if field is None:
                pos = self.skip(data, pos, end, wire, number, depth)
            else:
                pos = self.known(data, pos, end, wire, field, depth)
        if group is not None:
            self.fail(f"group for field {group} not terminated")
        return pos

    def skip(self, data, pos, end, wire, number, depth) -> int:
        if wire == 0:
            return self.varint(data, pos, end)[1]
        if wire in (1, 5):
            size = 8 if wire == 1 else 4
            if end - pos < size:
                self.fail("truncated fixed-width field")
            return pos + size
        if wire == 2:
            return self.length(data, pos, end)[0]
        if wire == 3:
            if depth + 1 > MAX_DEPTH:
                self.fail("nesting deeper than 100")
            return self.message(data, pos, end, None, depth + 1, group=number)
        raise AssertionError(wire)

    def known(self, data, pos, end, wire, field, depth) -> int:
        F = self.F
        expected = self.wire[field.type]
        packable = field.label == F.LABEL_REPEATED and expected in (0, 1, 5)
        if packable and wire == 2:
            stop, pos = self.length(data, pos, end)
            while pos < stop:
                if expected == 0:
                    _, pos = self.varint(data, pos, stop)
                else:
                    size = 8 if expected == 1 else 4
                    if stop - pos < size:
                        self.fail("packed fixed-width elements do not fill the field")
                    pos += size
            return pos
        if wire != expected:
            self.fail(f"field {field.name} ({field.number}) has wire type {wire}, expected {expected}")
        if wire == 0:
            return self.varint(data, pos, end)[1]
        if wire in (1, 5):
            return self.skip(data, pos, end, wire, field.number, depth)
        stop, start = self.length(data, pos, end)
        if field.type == F.TYPE_STRING:
            try:
                data[start:stop].decode("utf-8", errors="strict")
            except UnicodeDecodeError:
                self.fail(f"field {field.name} ({field.number}) is not valid UTF-8")
        elif field.type == F.TYPE_MESSAGE:
            if depth + 1 > MAX_DEPTH:
                self.fail("nesting deeper than 100")
            self.message(data, start, stop, field.message_type, depth + 1)
        return stop


# --------------------------------------------------------------------------------------------------------------------
# Frame decoding


class Decoder:
    def __init__(self, proto: Protocol, maximum: int):
        self.proto = proto
        self.walker = Walker(proto)
        self.maximum = maximum
        self.lenient = []  # payloads the stock library accepts although Herald's rules reject them

    def header(self, h: bytes) -> dict:
        magic, version, flags, opcode, request_id, length = struct.unpack(">2sBBHII", h)
        if magic != b"HR":
            raise WireError("bad-magic", f"magic {magic.hex()}")
        if version != 1:
            raise WireError("unsupported-version", f"version {version}")
        if flags & 0xFE:
            raise WireError("reserved-flags", f"flags 0x{flags:02x}")
        if opcode not in self.proto.table:
            raise WireError("unknown-opcode", f"opcode 0x{opcode:04x}")
        _, _, kind = self.proto.table[opcode]
        ack = bool(flags & 0x01)
        if ack and kind != "event":
            raise WireError("invalid-flags", f"ACK_REQUIRED on a {kind}")
        if kind == "event":
            if (request_id != 0) != ack:
                raise WireError("invalid-request-id", f"event with ack={ack} and request id {request_id}")
        elif request_id == 0:
            raise WireError("invalid-request-id", f"{kind} with request id 0")
        if length > ABSOLUTE_MAX:
            raise WireError("length-out-of-range", f"length 0x{length:08x}")
        if length > self.maximum:
            raise WireError("frame-too-large", f"length {length} > {self.maximum}")
        return dict(flags=flags, opcode=opcode, requestId=request_id, payloadLength=length)

    def payload(self, head: dict, payload: bytes) -> dict:
        name, cls, _ = self.proto.table[head["opcode"]]
        from google.protobuf.message import DecodeError

        try:
            self.walker.message(payload, 0, len(payload), cls.DESCRIPTOR, 0)
        except WireError:
            try:
                cls.FromString(payload)
                self.lenient.append(f"{cls.DESCRIPTOR.full_name} payload {payload[:32].hex()}")
            except DecodeError:
                pass
            raise
        try:
            message = cls.FromString(payload)
        except DecodeError as error:
            raise AssertionError(f"strict walker accepted a payload the protobuf runtime rejects: {error}") from error
        return dict(head, version=1, opcodeName=name, type=cls.DESCRIPTOR.full_name, payload=payload, message=message)

    def stream(self, chunks) -> tuple[list, str | None]:
        frames, buffer, head = [], bytearray(), None
        try:
            for chunk in chunks:
                buffer += chunk
                while True:
                    if head is None:
                        if len(buffer) < HEADER_SIZE:
                            break
                        head = self.header(bytes(buffer[:HEADER_SIZE]))  # checked before any payload byte is needed
                    if len(buffer) < HEADER_SIZE + head["payloadLength"]:
                        break
                    end = HEADER_SIZE + head["payloadLength"]
                    frames.append(self.payload(head, bytes(buffer[HEADER_SIZE:end])))
                    del buffer[:end]
                    head = None
            if head is not None:
                raise WireError("truncated-payload", f"{len(buffer) - HEADER_SIZE} of {head['payloadLength']} bytes")
            if buffer:
                raise WireError("truncated-header", f"{len(buffer)} bytes left")
        except WireError as error:
            return frames, error.code
        return frames, None

    def message(self, data: bytes) -> tuple[list, str | None]:
        try:
            if len(data) < HEADER_SIZE:
                raise WireError("truncated-header", f"message of {len(data)} bytes")
            head = self.header(data[:HEADER_SIZE])
            end = HEADER_SIZE + head["payloadLength"]
            if len(data) < end:
                raise WireError("truncated-payload", f"message of {len(data)} bytes, frame of {end}")
            if len(data) > end:
                raise WireError("trailing-bytes", f"{len(data) - end} bytes after the frame")
            return [self.payload(head, data[HEADER_SIZE:])], None
        except WireError as error:
            return [], error.code


# --------------------------------------------------------------------------------------------------------------------
# Vector checks


def compare_frames(proto: Protocol, vid: str, got: list, expected: list, problems: list) -> None:
    if len(got) != len(expected):
        problems.append(f"{vid}: decoded {len(got)} frames, vector lists {len(expected)}")
        return
    for i, (g, e) in enumerate(zip(got, expected)):
        where = f"{vid}: frame {i}"
        for key in ("version", "flags", "opcode", "opcodeName", "type", "requestId", "payloadLength"):
            if g[key] != e.get(key):
                problems.append(f"{where}: {key} is {g[key]!r}, vector says {e.get(key)!r}")
        if g["payload"].hex() != e.get("payloadHex"):
            problems.append(f"{where}: payload bytes differ from payloadHex")
        cls = type(g["message"])
        try:
            from_json = proto.json_format.ParseDict(e.get("payload"), cls())
        except proto.json_format.ParseError as error:
            problems.append(f"{where}: JSON payload does not parse as {cls.DESCRIPTOR.full_name}: {error}")
            continue
        known = cls()
        known.CopyFrom(g["message"])
        known.DiscardUnknownFields()
        if known != from_json:
            problems.append(f"{where}: decoded payload differs from the JSON payload")


def encode(frames: list, keep_unknown: bool = True) -> bytes:
    """Re-encodes decoded frames: header with the new length + canonical payload, with or without unknown fields."""
    out = bytearray()
    for f in frames:
        message = f["message"]
        if not keep_unknown:
            message = type(message)()
            message.CopyFrom(f["message"])
            message.DiscardUnknownFields()
        payload = message.SerializeToString(deterministic=True)
        out += struct.pack(">2sBBHII", b"HR", f["version"], f["flags"], f["opcode"], f["requestId"], len(payload))
        out += payload
    return bytes(out)


def verify_document(proto: Protocol, path: Path, doc: dict, problems: list, notes: list) -> None:
    name = path.name
    if doc.get("schemaVersion") != 2:
        problems.append(f"{name}: schemaVersion is {doc.get('schemaVersion')}, this verifier reads 2")
    tests = doc.get("tests", [])
    if doc.get("numberOfTests") != len(tests):
        problems.append(f"{name}: numberOfTests is {doc.get('numberOfTests')}, file has {len(tests)} tests")
    declared = set(doc.get("labels", {}))
    used = {label for t in tests for label in t.get("labels", [])}
    if used - declared:
        problems.append(f"{name}: labels used but not declared: {sorted(used - declared)}")
    if declared - used:
        problems.append(f"{name}: labels declared but not used: {sorted(declared - used)}")
    seen = set()
    for test in tests:
        vid = test["id"]
        if vid in seen:
            problems.append(f"{name}: duplicate id {vid}")
        seen.add(vid)
        if not vid.startswith(f"frame.{test['result']}."):
            problems.append(f"{vid}: id does not start with frame.{test['result']}.")
        data = bytes.fromhex(test["hex"])
        decoder = Decoder(proto, test.get("maxPayloadLength", DEFAULT_MAX))
        if test.get("transport", "stream") == "message":
            runs = {"message": decoder.message(data)}
        else:
            runs = {"whole": decoder.stream([data]), "byte-by-byte": decoder.stream([data[i:i + 1] for i in range(len(data))])}
            if len(data) <= 512:
                for cut in range(1, len(data)):
                    runs[f"split at {cut}"] = decoder.stream([data[:cut], data[cut:]])
        reference_frames, reference_error = runs.pop("whole", None) or runs.pop("message")
        for how, (frames, error) in runs.items():
            if error != reference_error or [f["payload"] for f in frames] != [f["payload"] for f in reference_frames]:
                problems.append(f"{vid}: decoding {how} gives {error}/{len(frames)} frames, whole input gives "
                                f"{reference_error}/{len(reference_frames)} frames (FRM-17)")
        if test["result"] == "valid":
            if reference_error is not None:
                problems.append(f"{vid}: expected valid, decoder reports {reference_error}")
                continue
            if "error" in test:
                problems.append(f"{vid}: a valid vector must not name an error")
            compare_frames(proto, vid, reference_frames, test["frames"], problems)
            canonical = bytes.fromhex(test.get("canonicalHex", test["hex"]))
            known = bytes.fromhex(test.get("knownFieldsHex", test.get("canonicalHex", test["hex"])))
            if encode(reference_frames) != canonical:
                problems.append(f"{vid}: re-encoding the decoded frames (unknown fields kept) does not give "
                                f"{'canonicalHex' if 'canonicalHex' in test else 'hex'}")
            if encode(reference_frames, keep_unknown=False) != known:
                problems.append(f"{vid}: re-encoding the decoded frames without unknown fields does not give "
                                f"{'knownFieldsHex' if 'knownFieldsHex' in test else 'canonicalHex or hex'}")
            if "canonicalHex" in test and test["canonicalHex"] == test["hex"]:
                problems.append(f"{vid}: canonicalHex equals hex; it must be absent then")
            if "knownFieldsHex" in test and test["knownFieldsHex"] == test.get("canonicalHex", test["hex"]):
                problems.append(f"{vid}: knownFieldsHex equals the re-encoding with unknown fields; it must be absent then")
        else:
            if "canonicalHex" in test or "knownFieldsHex" in test:
                problems.append(f"{vid}: only valid vectors carry canonicalHex or knownFieldsHex")
            if test.get("error") not in ERRORS:
                problems.append(f"{vid}: error {test.get('error')!r} is not one of the 12 identifiers")
            if reference_error != test.get("error"):
                problems.append(f"{vid}: expected {test.get('error')}, decoder reports {reference_error}")
            compare_frames(proto, vid, reference_frames, test["frames"], problems)
        for entry in decoder.lenient[:1]:
            notes.append(f"{vid}: the stock protobuf runtime accepts {entry}; Herald's rules make it malformed-payload")


def verify_paths(paths, proto_python: Path, notes: list | None = None) -> list[str]:
    proto = Protocol(Path(proto_python))
    problems = []
    notes = [] if notes is None else notes
    for path in map(Path, paths):
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        verify_document(proto, path, doc, problems, notes)
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--proto-python", required=True, type=Path)
    parser.add_argument("--notes", action="store_true")
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args()
    notes = []
    problems = verify_paths(args.files, args.proto_python, notes)
    for problem in problems:
        print(problem, file=sys.stderr)
    if args.notes:
        for note in notes:
            print("note:", note)
    count = sum(json.load(open(p, encoding="utf-8"))["numberOfTests"] for p in args.files)
    print(f"{count - len({p.split(':')[0] for p in problems})} passed, {len({p.split(':')[0] for p in problems})} failed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Independent verifier of a ledger audit pack (format ledger-audit-pack-v1).

Plain Python 3, standard library only (ed25519 is the RFC 8032 reference algorithm, below). It was
written from the pack's `record-format.md` and decodes the raw records with the layouts in
`layout.json`; it shares no code with the ledger. Usage:

    python3 verify.py [PACK_DIR]          # checks the pack (default: the folder of this file)
    python3 verify.py --self-test GOLDEN_DIR LAYOUT_JSON   # decodes golden records (project tests)

It prints one line per check (`ok`, `FAIL` or `skip`) and exits 1 if any check failed.
"""

import csv
import datetime
import decimal
import hashlib
import json
import mmap
import os
import sys
import uuid

# ---------------------------------------------------------------------------------------------
# bincode 2, standard configuration (record-format.md, "The codec")


class Reader:
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def take(self, n):
        if n < 0 or self.pos + n > len(self.data):
            raise ValueError(f"needs {n} bytes at {self.pos}, {len(self.data) - self.pos} left")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def byte(self):
        return self.take(1)[0]

    def varint(self):
        first = self.byte()
        if first < 251:
            return first
        width = {251: 2, 252: 4, 253: 8, 254: 16}.get(first)
        if width is None:
            raise ValueError(f"bad varint marker {first}")
        return int.from_bytes(self.take(width), "little")


def zigzag(n):
    return (n >> 1) ^ -(n & 1)


def rfc3339(micros):
    """An instant as the ledger writes it: UTC, `Z`, no fraction or 3/6 digits as needed."""
    seconds, fraction = divmod(micros, 1_000_000)
    instant = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=seconds)
    text = instant.strftime("%Y-%m-%dT%H:%M:%S")
    if fraction == 0:
        return text + "Z"
    if fraction % 1000 == 0:
        return f"{text}.{fraction // 1000:03d}Z"
    return f"{text}.{fraction:06d}Z"


def decode(layout, ty, reader):
    """Decodes one value of layout type `ty` into its JSON form."""
    if isinstance(ty, str):
        if ty == "string":
            return reader.take(reader.varint()).decode("utf-8")
        if ty == "bool":
            value = reader.byte()
            if value > 1:
                raise ValueError(f"bool byte {value}")
            return value == 1
        if ty == "u8":
            return reader.byte()
        if ty in ("u16", "u32", "u64"):
            return reader.varint()
        if ty in ("i8", "i16", "i32", "i64"):
            return zigzag(reader.varint())
        if ty == "uuid":
            length = reader.varint()
            if length != 16:
                raise ValueError(f"uuid of {length} bytes")
            return str(uuid.UUID(bytes=reader.take(16)))
        if ty == "timestamp":
            return rfc3339(zigzag(reader.varint()))
        if ty == "bytes":
            return reader.take(reader.varint()).hex()
        if ty == "hash32":
            return reader.take(32).hex()
        raise ValueError(f"unknown layout type {ty!r}")
    if "ref" in ty:
        return decode(layout, layout["types"][ty["ref"]], reader)
    if "option" in ty:
        tag = reader.byte()
        if tag > 1:
            raise ValueError(f"option tag {tag}")
        return decode(layout, ty["option"], reader) if tag == 1 else None
    if "seq" in ty:
        return [decode(layout, ty["seq"], reader) for _ in range(reader.varint())]
    if "map" in ty:
        key_ty, value_ty = ty["map"]
        out = {}
        for _ in range(reader.varint()):
            key = decode(layout, key_ty, reader)
            out[key if isinstance(key, str) else json.dumps(key)] = decode(layout, value_ty, reader)
        return out
    if "struct" in ty:
        return {name: decode(layout, field, reader) for name, field in ty["struct"]}
    if "enum" in ty:
        index = reader.varint()
        if index >= len(ty["enum"]):
            raise ValueError(f"variant {index} of {len(ty['enum'])}")
        name, inner = ty["enum"][index]
        return name if inner is None else {name: decode(layout, inner, reader)}
    raise ValueError(f"unknown layout type {ty!r}")


def decode_codec(layout, type_name, data):
    """`codec` bytes: one format-version byte, then bincode of the type, nothing after."""
    reader = Reader(data)
    if reader.byte() != 1:
        raise ValueError("format-version byte is not 1")
    value = decode(layout, layout["types"][type_name], reader)
    if reader.pos != len(data):
        raise ValueError(f"{len(data) - reader.pos} trailing bytes")
    return value, reader


def decode_record(layout, record):
    """A raw record (`codec(EnvelopeBody) ‖ hash[32]`) into (body JSON, payload JSON, stored hash)."""
    body_bytes, stored = record[:-32], record[-32:]
    version = str(body_bytes[0])
    type_name = layout["envelope"].get(version)
    if type_name is None:
        raise ValueError(f"unknown envelope format version {version}")
    reader = Reader(body_bytes)
    reader.byte()
    body = decode(layout, layout["types"][type_name], reader)
    if reader.pos != len(body_bytes):
        raise ValueError("trailing bytes after the envelope")
    payload = body["payload"]
    versions = layout["events"].get(payload["event_type"], {})
    event_type_name = versions.get(str(payload["schema_version"]))
    if event_type_name is None:
        raise ValueError(f"no layout for {payload['event_type']} v{payload['schema_version']}")
    data = bytes.fromhex(payload["data"])
    decoded, _ = decode_codec(layout, event_type_name, data)
    return body, decoded, stored


def canonical_from_record(layout, record, partition, offset):
    """The canonical JSON object (record-format.md, "canonical-json-v1") of a raw record. A record of
    the envelope's first layout is read as the current one reads it: no person, no command digest."""
    body, payload, stored = decode_record(layout, record)
    body["actor"].setdefault("person", None)
    body.setdefault("command_digest", None)
    return {
        "partition": partition,
        "offset": offset,
        "hash": stored.hex(),
        "event_id": body["event_id"],
        "stream": body["stream"],
        "stream_version": body["stream_version"],
        "recorded_at": body["recorded_at"],
        "occurred_at": body["occurred_at"],
        "jurisdiction": body["jurisdiction"],
        "command_id": body["command_id"],
        "causation_id": body["causation_id"],
        "correlation_id": body["correlation_id"],
        "actor": body["actor"],
        "command_digest": body["command_digest"],
        "event_type": body["payload"]["event_type"],
        "schema_version": body["payload"]["schema_version"],
        "payload": payload,
    }


# ---------------------------------------------------------------------------------------------
# RFC 6962 Merkle tree and RFC 8032 ed25519


def leaf_hash(data):
    return hashlib.sha256(b"\x00" + data).digest()


def merkle_root(hashes, low=0, high=None):
    """RFC 6962 MTH over leaf hashes[low:high] (split at the largest power of two below the size)."""
    high = len(hashes) if high is None else high
    size = high - low
    if size == 0:
        return hashlib.sha256(b"").digest()
    if size == 1:
        return hashes[low]
    k = 1
    while k * 2 < size:
        k *= 2
    return hashlib.sha256(b"\x01" + merkle_root(hashes, low, low + k) + merkle_root(hashes, low + k, high)).digest()


P = 2**255 - 19
Q = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)


def point_add(a, b):
    x = (a[1] - a[0]) * (b[1] - b[0]) % P
    y = (a[1] + a[0]) * (b[1] + b[0]) % P
    c = 2 * a[3] * b[3] * D % P
    d = 2 * a[2] * b[2] % P
    e, f, g, h = y - x, d - c, d + c, y + x
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def point_mul(s, point):
    out = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            out = point_add(out, point)
        point = point_add(point, point)
        s >>= 1
    return out


def recover_x(y, sign):
    if y >= P:
        return None
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P)
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P != 0:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P != 0:
        return None
    if (x & 1) != sign:
        x = P - x
    return x


def decompress(data):
    if len(data) != 32:
        return None
    y = int.from_bytes(data, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = recover_x(y, sign)
    return None if x is None else (x, y, 1, x * y % P)


G_Y = 4 * pow(5, P - 2, P) % P
G_X = recover_x(G_Y, 0)
BASE = (G_X, G_Y, 1, G_X * G_Y % P)


def ed25519_verify(public, message, signature):
    if len(public) != 32 or len(signature) != 64:
        return False
    a = decompress(public)
    r = decompress(signature[:32])
    s = int.from_bytes(signature[32:], "little")
    if a is None or r is None or s >= Q:
        return False
    h = int.from_bytes(hashlib.sha512(signature[:32] + public + message).digest(), "little") % Q
    left = point_mul(s, BASE)
    right = point_add(r, point_mul(h, a))
    return (left[0] * right[2] - right[0] * left[2]) % P == 0 and (
        left[1] * right[2] - right[1] * left[2]) % P == 0


# ---------------------------------------------------------------------------------------------
# The checks


class Report:
    def __init__(self):
        self.failed = 0

    def line(self, status, name, detail):
        if status == "FAIL":
            self.failed += 1
        print(f"{status:<4} {name}: {detail}")

    def check(self, name, ok, detail_ok, detail_fail):
        self.line("ok" if ok else "FAIL", name, detail_ok if ok else detail_fail)
        return ok


def read_jsonl(path):
    with open(path, encoding="utf-8") as file:
        return [json.loads(line) for line in file if line.strip()]


def iter_jsonl(path):
    """The objects of a JSON-lines file, one at a time (a national month does not fit in memory)."""
    with open(path, encoding="utf-8") as file:
        for line in file:
            if line.strip():
                yield json.loads(line)


def micros(text):
    instant = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    delta = instant - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def check_manifest(pack, report):
    manifest = json.load(open(os.path.join(pack, "manifest.json"), encoding="utf-8"))
    bad = []
    for name, digest in manifest["files"].items():
        path = os.path.join(pack, name)
        if not os.path.exists(path) or hashlib.sha256(open(path, "rb").read()).hexdigest() != digest:
            bad.append(name)
    report.check("manifest", not bad, f"{len(manifest['files'])} files as listed",
                 f"changed or missing: {', '.join(bad[:5])}")
    return manifest


def load_keys(pack):
    """(signer BIN, key id) → (public key, valid_from µs, valid_to µs, revoked_at µs or None)."""
    keys = {}
    path = os.path.join(pack, "keys.json")
    if not os.path.exists(path):
        return keys
    for event in json.load(open(path, encoding="utf-8")):
        payload = event["payload"]
        key = (payload["bin"], payload["key_id"])
        if event["event_type"] == "SigningKeyRegistered":
            keys[key] = [bytes.fromhex(payload["public_key"]), micros(payload["valid_from"]),
                         micros(payload["valid_to"]), None]
        elif event["event_type"] == "SigningKeyRevoked" and key in keys:
            keys[key][3] = micros(payload["revoked_at"])
    return keys


def check_seal(pack, layout, jurisdiction, keys, report):
    """Decodes the seal record, checks it against seal.json and the Fund's signature over it."""
    name = f"{jurisdiction} seal"
    record = open(os.path.join(pack, jurisdiction, "seal.bin"), "rb").read()
    stated = json.load(open(os.path.join(pack, jurisdiction, "seal.json"), encoding="utf-8"))
    previous = bytes.fromhex(stated["previous_hash"])
    linked = hashlib.sha256(previous + record[:-32]).digest() == record[-32:]
    report.check(f"{name} record", linked, "its hash links to the previous record",
                 "its bytes do not hash to its chain link")
    body, payload, stored = decode_record(layout, record)
    raw = canonical_from_record(layout, record, stated["record"]["partition"], stated["record"]["offset"])
    report.check(f"{name} json", raw == stated["record"], "seal.json equals the decoded record",
                 "seal.json differs from the decoded record")
    data = bytes.fromhex(body["payload"]["data"])
    reader = Reader(data)
    reader.byte()
    decode(layout, layout["types"]["SealContent"], reader)
    document_hash = hashlib.sha256(data[:reader.pos]).digest()
    seal, signature = payload["seal"], payload["signature"]
    key = keys.get((signature["signer"], signature["key_id"]))
    sealed_at = micros(seal["sealed_at"])
    valid = key is not None and key[1] <= sealed_at <= key[2] and (key[3] is None or sealed_at < key[3])
    signed = (valid and signature["document_hash"] == document_hash.hex()
              and ed25519_verify(key[0], document_hash, bytes.fromhex(signature["signature_hex"])))
    report.check(f"{name} signature", signed,
                 f"ed25519 by BIN {signature['signer']} key {signature['key_id']} over {document_hash.hex()}",
                 f"the signature by BIN {signature['signer']} key {signature['key_id']} does not verify "
                 "(or the key is unknown, not valid at sealing, or revoked)")
    return seal


def records_of(pack, jurisdiction, partition, pseudonymized):
    """Yields (partition, index entry, raw record or None), reading the `.bin` through mmap."""
    folder = os.path.join(pack, jurisdiction, "records")
    data = None
    if not pseudonymized:
        file = open(os.path.join(folder, f"{partition}.bin"), "rb")
        data = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) if os.path.getsize(file.name) else b""
    with open(os.path.join(folder, f"{partition}.index.jsonl"), encoding="utf-8") as index:
        for line in index:
            entry = json.loads(line)
            record = None if data is None else data[entry["start"]:entry["start"] + entry["length"]]
            yield partition, entry, record


def check_records(pack, jurisdiction, seal, pseudonymized, report):
    """The hash chain over the raw bytes, the seal's partition heads and the Merkle root. Streams one
    record at a time; keeps only the 32-byte leaves."""
    folder = os.path.join(pack, jurisdiction, "records")
    heads = {head["partition"]: head for head in seal["partitions"]}
    leaves = []
    partitions = sorted(int(name.split(".")[0]) for name in os.listdir(folder) if name.endswith(".index.jsonl"))
    report.check(f"{jurisdiction} partitions", partitions == sorted(heads),
                 f"{partitions} as sealed", f"{partitions}, the seal names {sorted(heads)}")
    for partition in partitions:
        broken, previous_entry, count = [], None, 0
        for _, entry, record in records_of(pack, jurisdiction, partition, pseudonymized):
            if record is not None:
                computed = hashlib.sha256(bytes.fromhex(entry["previous_hash"]) + record[:-32]).digest()
                if computed != record[-32:] or record[-32:].hex() != entry["hash"]:
                    broken.append(entry["offset"])
            if previous_entry and entry["offset"] == previous_entry["offset"] + 1 \
                    and entry["previous_hash"] != previous_entry["hash"]:
                broken.append(entry["offset"])
            leaves.append(leaf_hash(bytes.fromhex(entry["hash"])))
            previous_entry, count = entry, count + 1
        head = heads.get(partition, {})
        last = previous_entry or {}
        at_head = last.get("offset") == head.get("head_offset") and last.get("hash") == head.get("chain_head") \
            and count == head.get("events")
        what = "chain links" if not pseudonymized else "chain links (raw records withheld: index only)"
        report.check(f"{jurisdiction} partition {partition} records", not broken and at_head,
                     f"{count} records, {what} intact, ending at the sealed head {head.get('chain_head', '')[:16]}…",
                     f"broken at offsets {broken[:5]}" if broken else "does not end at the sealed chain head")
    root = merkle_root(leaves).hex()
    report.check(f"{jurisdiction} merkle root", root == seal["merkle_root"] and len(leaves) == seal["events"],
                 f"{len(leaves)} leaves, root {root}", f"root {root} over {len(leaves)} leaves, sealed "
                 f"{seal['merkle_root']} over {seal['events']}")
    return partitions


class Registries:
    """What Appendix 1 needs of a jurisdiction's events, kept per period stream as compact tuples."""

    def __init__(self):
        self.streams = {}

    def add(self, event):
        if not event["stream"].startswith("period/"):
            return
        stream = self.streams.setdefault(event["stream"], {"recorded": {}, "reversed": set(), "submitted": None})
        payload = event["payload"]
        if event["event_type"] == "DispensingRecorded":
            receipt, amounts = payload["fiscal_receipt"], payload["amounts"]
            stream["recorded"][payload["dispensing_id"]] = (
                micros(payload["dispensed_at"]), payload["dispensing_id"], payload["quantity"],
                payload["limit_unit_price"], payload["trade_name_unit_price"],
                (amounts["fund"]["minor"], amounts["patient"]["minor"], amounts["total"]["minor"]),
                payload["patient_iin"], f"{receipt['rnm']}:{receipt['fiscal_sign']}", payload["marking_code"])
        elif event["event_type"] == "DispensingReversed":
            stream["reversed"].add(payload["dispensing_id"])
        elif event["event_type"] == "RegistrySubmitted":
            stream["submitted"] = payload


def check_events(pack, layout, jurisdiction, seal, partitions, pseudonymized, report):
    """The JSON lines equal the decoded raw records (one pair at a time), and their digest is the
    sealed export digest. Returns the registries' inputs."""
    registries = Registries()
    path = os.path.join(pack, jurisdiction, "events.jsonl")
    digest = hashlib.sha256()
    records = (pair for partition in partitions
               for pair in records_of(pack, jurisdiction, partition, pseudonymized))
    differing, lines, missing = [], 0, 0
    with open(path, "rb") as file:
        for raw_line in file:
            digest.update(raw_line)
            event = json.loads(raw_line)
            lines += 1
            registries.add(event)
            if pseudonymized:
                continue
            partition, entry, record = next(records, (None, None, None))
            if entry is None:
                missing += 1
                continue
            try:
                decoded = canonical_from_record(layout, record, partition, entry["offset"])
            except (ValueError, KeyError, UnicodeDecodeError) as error:
                differing.append(f"{partition}:{entry['offset']} ({error})")
                continue
            if decoded != event:
                differing.append(f"{partition}:{entry['offset']}")
    if pseudonymized:
        report.line("skip", f"{jurisdiction} export digest", "pseudonymized pack: the sealed export holds clear IINs")
        report.line("skip", f"{jurisdiction} records = json", "pseudonymized pack: raw records withheld")
        return registries
    digest = digest.hexdigest()
    report.check(f"{jurisdiction} export digest", digest == seal["export_sha256"],
                 f"SHA-256 {digest} as sealed", f"SHA-256 {digest}, sealed {seal['export_sha256']}")
    extra = sum(1 for _ in records)
    report.check(f"{jurisdiction} records = json", not differing and not missing and not extra,
                 f"{lines} records decode to exactly their JSON lines",
                 f"differ at {differing[:5]}" if differing else f"{missing} lines without a record, {extra} records without a line")
    return registries


def cloudevent_differences(event, line):
    """How a CloudEvent line (the one public form, docs/subscribing.md) departs from the canonical
    line of the same record; `data` is compared when the CloudEvent carries the stored schema version
    (an older record's `data` is upcast to the current version, so only its attributes are compared).
    Returns (differences, upcast)."""
    expected = {
        "specversion": "1.0",
        "id": event["event_id"],
        "subject": event["stream"],
        "time": event["recorded_at"],
        "occurredat": event["occurred_at"],
        "sequence": "%020d" % event["stream_version"],
        "partition": event["partition"],
        "offset": str(event["offset"]),
        "chainhash": event["hash"],
        "jurisdiction": event["jurisdiction"],
        "commandid": event["command_id"],
        "correlationid": event["correlation_id"],
        "causationid": event["causation_id"],
        "commanddigest": event["command_digest"],
        "actorperson": event["actor"].get("person"),
    }
    differences = [name for name, value in expected.items() if line.get(name) != value]
    role, _, rest = line.get("actor", "").partition(":")
    _, _, actor_id = rest.partition(":")
    if role != event["actor"]["role"] or [actor_id] != list(event["actor"]["id"].values()):
        differences.append("actor")
    prefix, _, version = line.get("type", "").rpartition(".v")
    if not prefix.endswith("." + event["event_type"]) or not version.isdigit():
        differences.append("type")
    elif int(version) == event["schema_version"]:
        if line.get("data") != event["payload"]:
            differences.append("data")
        return differences, False
    return differences, True


def check_cloudevents(pack, jurisdiction, report):
    """`events.cloudevents.jsonl` says what `events.jsonl` says (which the records check ties to the
    raw bytes): the same events, in the same order, one line each."""
    path = os.path.join(pack, jurisdiction, "events.cloudevents.jsonl")
    if not os.path.exists(path):
        report.line("FAIL", f"{jurisdiction} cloudevents = json", "events.cloudevents.jsonl is missing")
        return
    canonical = iter_jsonl(os.path.join(pack, jurisdiction, "events.jsonl"))
    differing, lines, upcast, missing = [], 0, 0, 0
    for line in iter_jsonl(path):
        lines += 1
        event = next(canonical, None)
        if event is None:
            missing += 1
            continue
        differences, was_upcast = cloudevent_differences(event, line)
        upcast += was_upcast
        if differences:
            differing.append(f"{event['partition']}:{event['offset']} {differences}")
    extra = sum(1 for _ in canonical)
    report.check(f"{jurisdiction} cloudevents = json", not differing and not missing and not extra,
                 f"{lines} CloudEvents carry their records' attributes and data ({upcast} upcast: attributes only)",
                 f"differ at {differing[:5]}" if differing else f"{missing} CloudEvents without a JSON line, {extra} JSON lines without a CloudEvent")


def half_up_minor(amount):
    return int((amount * 100).quantize(decimal.Decimal(1), rounding=decimal.ROUND_HALF_UP))


def plain(minor):
    sign = "-" if minor < 0 else ""
    return f"{sign}{abs(minor) // 100}.{abs(minor) % 100:02d}"


def check_registries(pack, period, registries, report):
    """M-03, M-04, M-07: every Appendix 1 line and total recomputed from the events, against the forms."""
    for stream, state in sorted(registries.streams.items()):
        submitted = state["submitted"]
        live = sorted(line for key, line in state["recorded"].items() if key not in state["reversed"])
        wrong, lines = [], []
        for number, (_, _, quantity, limit, trade, amounts, patient_iin, receipt, marking) in enumerate(live, start=1):
            quantity, limit, trade = decimal.Decimal(quantity), decimal.Decimal(limit), decimal.Decimal(trade)
            fund = half_up_minor(quantity * min(limit, trade))
            total = half_up_minor(quantity * trade)
            patient = total - fund
            if amounts != (fund, patient, total) or patient < 0:
                wrong.append(number)
            lines.append([str(number), patient_iin, receipt, marking, plain(fund), plain(patient), plain(total)])
        sums = [sum(int(round(decimal.Decimal(row[i]) * 100)) for row in lines) for i in (4, 5, 6)]
        name = f"registry {stream}"
        totals_ok = submitted is None or (
            submitted["line_count"] == len(lines)
            and [submitted["total_fund"]["minor"], submitted["total_patient"]["minor"], submitted["total"]["minor"]] == sums)
        report.check(f"{name} amounts", not wrong and totals_ok,
                     f"{len(lines)} lines, Σ15 {plain(sums[0])} Σ16 {plain(sums[1])} Σ17 {plain(sums[2])} (M-03, M-04, M-07)",
                     f"lines {wrong[:5]} do not follow M-03/M-04/M-07" if wrong else "totals differ from the registry submitted")
        contract = stream.split("/")[1]
        form = os.path.join(pack, "forms", f"{contract}-{period}-appendix1.csv")
        if not os.path.exists(form):
            if submitted is not None:
                report.line("FAIL", f"{name} form", f"{form} is missing")
            continue
        with open(form, encoding="utf-8", newline="") as file:
            rows = list(csv.reader(file))[1:]
        shown = [[row[0], row[5], row[12], row[13], row[14], row[15], row[16]] for row in rows]
        mismatch = [i + 1 for i, (a, b) in enumerate(zip(shown, lines)) if a != b]
        report.check(f"{name} form", not mismatch and len(shown) == len(lines),
                     f"Appendix 1 lines 1–{len(lines)} equal the recomputed lines",
                     f"form lines {mismatch[:5]} differ" if mismatch else f"{len(shown)} form lines, {len(lines)} recomputed")


def verify_pack(pack):
    report = Report()
    layout = json.load(open(os.path.join(pack, "layout.json"), encoding="utf-8"))
    manifest = check_manifest(pack, report)
    pseudonymized = manifest.get("pseudonymized") is not None
    keys = load_keys(pack)
    for jurisdiction in ("KZ", "KG"):
        if not os.path.exists(os.path.join(pack, jurisdiction, "seal.bin")):
            report.line("skip", f"{jurisdiction}", "no seal in this pack (no events of the period)")
            continue
        seal = check_seal(pack, layout, jurisdiction, keys, report)
        partitions = check_records(pack, jurisdiction, seal, pseudonymized, report)
        registries = check_events(pack, layout, jurisdiction, seal, partitions, pseudonymized, report)
        check_cloudevents(pack, jurisdiction, report)
        if jurisdiction == "KZ":
            check_registries(pack, manifest["period"], registries, report)
    print(f"verify: {'FAILED' if report.failed else 'ok'} ({report.failed} failed)")
    return 1 if report.failed else 0


def self_test(golden, layout_path):
    """Decodes every golden event of the project with the layouts and compares it with its JSON."""
    layout = json.load(open(layout_path, encoding="utf-8"))
    failed = 0
    for name in sorted(os.listdir(golden)):
        folder = os.path.join(golden, name)
        if name == "envelope":
            ok = True
            for file in sorted(f for f in os.listdir(folder) if f.endswith(".bin")):
                record = open(os.path.join(folder, file), "rb").read()
                expected = json.load(open(os.path.join(folder, file[:-4] + ".json"), encoding="utf-8"))
                # A whole record: codec(EnvelopeBody) then the 32-byte chain hash; the format byte
                # names the layout.
                body = record[:-32]
                reader = Reader(body)
                value = decode(layout, layout["types"][layout["envelope"][str(reader.byte())]], reader)
                ok = ok and reader.pos == len(body) and value == expected
        else:
            ok = True
            for file in sorted(f for f in os.listdir(folder) if f.endswith(".bin")):
                version = file[1:-4]
                data = open(os.path.join(folder, file), "rb").read()
                expected = json.load(open(os.path.join(folder, file[:-4] + ".json"), encoding="utf-8"))
                type_name = layout["events"][name][version]
                value, _ = decode_codec(layout, type_name, data)
                # The frozen older versions' golden JSON is the bare struct.
                ok = ok and expected in ({name: value}, value)
        failed += 0 if ok else 1
        print(f"{'ok' if ok else 'FAIL':<4} golden {name}")
    print(f"self-test: {'FAILED' if failed else 'ok'} ({failed} failed)")
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--self-test":
        sys.exit(self_test(sys.argv[2], sys.argv[3]))
    sys.exit(verify_pack(sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))))

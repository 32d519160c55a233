"""A subscriber of `ledger read`'s event feed written with the standard library only (`http.client`,
`ssl`; issue #14 §6): over HTTPS with a client certificate it reads `/v1/events` as Server-Sent
Events, is disconnected in the middle of the catch-up, writes more dispensings through `ledger serve`,
resumes with `Last-Event-ID`, writes again while the feed is live, and checks that it saw every event
exactly once, in log order per partition. Then it waits for a heartbeat on the idle feed.

    python sse_resume.py CONFIG.json

CONFIG names the reader and the writer (`host:port`), the CA, the certificates, the dispensing to
vary, how many events the log holds at the start and how many dispensings to write. The script writes
`OUT` (the event ids it saw, in order) and prints `ok: …` lines; any failure raises.
"""

import http.client
import json
import pathlib
import ssl
import sys
import time
import uuid


def context(config, who):
    tls = ssl.create_default_context(cafile=config["ca"])
    tls.load_cert_chain(config[who + "_cert"], config[who + "_key"])
    return tls


def connect(config, address, who):
    host, port = address.rsplit(":", 1)
    return http.client.HTTPSConnection(
        "localhost", int(port), context=context(config, who), timeout=60
    )


class Feed:
    """One SSE connection: yields (id, event) per `data:` frame and "heartbeat" per comment."""

    def __init__(self, config, last_event_id=None):
        self.connection = connect(config, config["reader"], "fund")
        headers = {"Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        self.connection.request("GET", "/v1/events", headers=headers)
        self.response = self.connection.getresponse()
        assert self.response.status == 200, (self.response.status, self.response.read())
        content_type = self.response.getheader("Content-Type")
        assert content_type.startswith("text/event-stream"), content_type
        assert self.response.getheader("X-Ledger-Checkpoint"), "every answer carries a checkpoint"

    def frames(self):
        event_id, data = None, []
        while True:
            line = self.response.fp.readline()
            if not line:
                raise EOFError("the feed ended")
            line = line.decode("utf-8").rstrip("\n")
            if line == "":
                if data:
                    yield event_id, json.loads("\n".join(data))
                event_id, data = None, []
            elif line.startswith(":"):
                yield None, "heartbeat"
            elif line.startswith("id: "):
                event_id = line[4:]
            elif line.startswith("data: "):
                data.append(line[6:])

    def close(self):
        # An abrupt end, as a client that loses its network: no more reading, the socket closed.
        self.connection.sock.close()
        self.connection.close()


def write_dispensings(config, count, first):
    """Posts `count` variants of the dispensing through the writer as the pharmacy; returns how
    many events were appended."""
    template = json.loads(pathlib.Path(config["dispensing"]).read_text())
    appended = 0
    for number in range(first, first + count):
        command = json.loads(json.dumps(template))
        body = command["command"]
        command["command_id"] = str(uuid.uuid4())
        body["dispensing_id"] = f"D-SSE-{number:07d}"
        body["prescription"]["number"] = f"RX-SSE-{number:07d}"
        body["fiscal_receipt"]["fiscal_sign"] = str(300000000 + number)
        body["marking_code"] = body["marking_code"][:-7] + f"{number:07d}"
        connection = connect(config, config["writer"], "pharmacy")
        connection.request(
            "POST",
            "/v1/commands",
            body=json.dumps(command),
            headers={"Content-Type": "application/json"},
        )
        response = connection.getresponse()
        answer = json.loads(response.read())
        assert response.status == 201, (response.status, answer)
        appended += len(answer["positions"])
        connection.close()
    return appended


def main():
    config = json.loads(pathlib.Path(sys.argv[1]).read_text())
    initial, writes = config["initial_events"], config["dispensings"]
    seen = []  # (id of the event, partition, offset) in arrival order
    expected = initial

    # 1. Catch up halfway, then drop the connection.
    feed = Feed(config)
    last_id = None
    for event_id, event in feed.frames():
        if event == "heartbeat":
            continue
        seen.append((event["id"], event["partition"], int(event["offset"])))
        last_id = event_id
        assert f'{event["partition"]}:{event["offset"]}' in event_id.split(","), (event_id, event)
        if len(seen) == initial // 2:
            break
    feed.close()
    print(f"ok: read {len(seen)} events, disconnected at Last-Event-ID {last_id}")

    # 2. The log moves on while the subscriber is away.
    expected += write_dispensings(config, writes // 2, 0)

    # 3. Resume; once caught up, the writer appends again while the feed is live.
    feed = Feed(config, last_event_id=last_id)
    wrote_live = False
    for event_id, event in feed.frames():
        if event == "heartbeat":
            continue
        seen.append((event["id"], event["partition"], int(event["offset"])))
        if not wrote_live and len(seen) == expected:
            expected += write_dispensings(config, writes - writes // 2, writes // 2)
            wrote_live = True
        if wrote_live and len(seen) == expected:
            break
    print(f"ok: resumed and read {len(seen)} events in all, {writes} dispensings written")

    # 4. Idle now: a heartbeat keeps the connection alive.
    started = time.monotonic()
    for event_id, event in feed.frames():
        assert event == "heartbeat", f"an event nobody wrote arrived: {event}"
        break
    print(f"ok: heartbeat after {time.monotonic() - started:.1f} s idle")
    feed.close()

    ids = [event_id for event_id, _, _ in seen]
    assert len(set(ids)) == len(ids), "an event arrived twice"
    offsets = {}
    for _, partition, offset in seen:
        assert offset > offsets.get(partition, -1), f"partition {partition} went back to {offset}"
        offsets[partition] = offset
    pathlib.Path(config["out"]).write_text(json.dumps(ids))
    print(f"ok: {len(ids)} events, each once, in log order per partition")


if __name__ == "__main__":
    main()

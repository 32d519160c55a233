"""A downstream service in Python, with confluent-kafka from PyPI and nothing of the ledger's code
(issue #14): it reads the public topic <prefix>.events.json, checks every record against the
published JSON Schemas, and rebuilds each Kazakh contract's registry totals for each month from the
CloudEvents alone. They must equal what `ledger registry show --format json` prints from the views.

    python registry_from_json_topic.py --bootstrap HOST:PORT --topic ledger.events.json \
        --partitions 8 --schemas schemas/ --ledger target/debug/ledger --data-dir DIR \
        --log kafka://HOST:PORT?prefix=…&role=reader --summary demo-summary.json

Prints one line per registry and ends with `N passed, M failed`; exits 1 if any failed.
"""

import argparse
import json
import pathlib
import subprocess
import sys

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

CONTENT_TYPE = "application/cloudevents+json; charset=UTF-8"


def read_topic(bootstrap, topic, partitions, timeout_s=60.0):
    """Every record of every partition, from the start to the current end, in offset order."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "python-registry-subscriber",  # offsets are never committed: we assign()
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
        }
    )
    ends = {}
    for partition in range(partitions):
        _, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
        ends[partition] = high
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    records = {partition: [] for partition in range(partitions)}
    done = {partition for partition, end in ends.items() if end == 0}
    idle = 0.0
    while len(done) < partitions:
        message = consumer.poll(0.5)
        if message is None:
            idle += 0.5
            if idle > timeout_s:
                raise SystemExit(f"{topic}: partitions {sorted(set(ends) - done)} did not reach their ends {ends}")
            continue
        idle = 0.0
        if message.error():
            if message.error().code() == KafkaError._PARTITION_EOF:
                position = consumer.position([TopicPartition(topic, message.partition())])[0].offset
                if position >= ends[message.partition()]:
                    done.add(message.partition())
                continue
            raise SystemExit(f"{topic}: {message.error()}")
        headers = {key: value.decode() for key, value in (message.headers() or [])}
        records[message.partition()].append((message.offset(), message.key().decode(), headers, message.value()))
    consumer.close()
    return records


def validator(schemas):
    """The CloudEvent schema, resolving each event type's data schema by its $id."""
    resources = []
    for path in sorted((schemas / "events").glob("*.schema.json")):
        schema = json.loads(path.read_text())
        resources.append((schema["$id"], Resource.from_contents(schema)))
    registry = Registry().with_resources(resources)
    cloud_event = json.loads((schemas / "cloudevent.schema.json").read_text())
    return Draft202012Validator(cloud_event, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER)


def event_name(cloud_event):
    # type = <reverse-dns prefix>.<EventType>.v<N>
    return cloud_event["type"].split(".")[-2]


def check_records(records, schema_validator):
    """Validates every CloudEvent; checks keys, headers and each stream's gapless, ordered sequence.
    Returns the CloudEvents in log order per partition."""
    events = []
    versions = {}
    for partition, messages in records.items():
        for offset, key, headers, value in messages:
            cloud_event = json.loads(value)
            errors = sorted(schema_validator.iter_errors(cloud_event), key=lambda error: error.path)
            if errors:
                raise SystemExit(f"{partition}:{offset}: not a valid ledger CloudEvent: {errors[0].message}")
            assert headers.get("content-type") == CONTENT_TYPE, headers
            assert key == cloud_event["subject"], (key, cloud_event["subject"])
            assert cloud_event["partition"] == partition, cloud_event
            version = int(cloud_event["sequence"])
            assert version == versions.get(key, 0) + 1, f"{key}: version {version} after {versions.get(key, 0)}"
            versions[key] = version
            events.append(cloud_event)
    return events


def rebuild_registries(events):
    """Per (contract, month): the live dispensings (a dispensing is live when recorded after its
    last reversal) and their Σ fund, Σ patient, Σ total, from DispensingRecorded/Reversed alone."""
    live = {}
    for cloud_event in events:
        name = event_name(cloud_event)
        if name not in ("DispensingRecorded", "DispensingReversed"):
            continue
        data = cloud_event["data"]
        registry = live.setdefault((data["contract_id"], data["period"]["first_day"][:7]), {})
        if name == "DispensingRecorded":
            registry[data["dispensing_id"]] = data["amounts"]
        else:
            registry.pop(data["dispensing_id"], None)
    totals = {}
    for key, dispensings in live.items():
        sums = {"fund": 0, "patient": 0, "total": 0}
        currency = None
        for amounts in dispensings.values():
            for part in sums:
                sums[part] += amounts[part]["minor"]
                currency = amounts[part]["currency"]
        totals[key] = {
            "lines": len(dispensings),
            "totals": {part: {"minor": minor, "currency": currency} for part, minor in sums.items()},
        }
    return totals


def registry_show(args, contract, period):
    output = subprocess.run(
        [args.ledger, "--data-dir", args.data_dir, "--log", args.log, "registry", "show",
         "--contract", contract, "--period", period, "--format", "json"],
        capture_output=True, text=True,
    )
    if output.returncode != 0:
        raise SystemExit(f"ledger registry show --contract {contract} --period {period}: {output.stderr}")
    shown = json.loads(output.stdout)
    return {"lines": len(shown["form"]["lines"]), "totals": shown["totals"]}


def main():
    parser = argparse.ArgumentParser()
    for name in ("bootstrap", "topic", "schemas", "ledger", "data-dir", "log", "summary"):
        parser.add_argument(f"--{name}", required=True)
    parser.add_argument("--partitions", type=int, required=True)
    args = parser.parse_args()
    records = read_topic(args.bootstrap, args.topic, args.partitions)
    events = check_records(records, validator(pathlib.Path(args.schemas)))
    print(f"read {len(events)} CloudEvents from {args.topic}, every one valid")
    rebuilt = rebuild_registries(events)
    summary = json.loads(pathlib.Path(args.summary).read_text())
    expected_keys = {
        (contract["contract_id"], period["period"])
        for contract in summary["contracts"]
        for period in contract["periods"]
    }
    passed = failed = 0
    if not expected_keys or not expected_keys <= set(rebuilt):
        print(f"FAIL: registries of the demo {sorted(expected_keys)} missing from the topic {sorted(rebuilt)}")
        failed += 1
    for (contract, period), mine in sorted(rebuilt.items()):
        theirs = registry_show(args, contract, period)
        if mine == theirs:
            passed += 1
            print(f"ok {contract} {period}: {mine['lines']} lines, fund {mine['totals']['fund']['minor']}")
        else:
            failed += 1
            print(f"FAIL {contract} {period}: from the topic {mine}, from the views {theirs}")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

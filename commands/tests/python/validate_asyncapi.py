"""Validates schemas/asyncapi.yaml with tools no one here wrote (issue #14): the AsyncAPI 3.0 object
model of the `asyncapi3` package (strict: unknown fields and wrong types are refused), every `$ref`
resolved, the CloudEvent payload schema checked as a JSON Schema (draft 2020-12) with `jsonschema`, and
every golden CloudEvent (schemas/golden/<Type>/v<N>.cloudevent.json) valid against it.

    python validate_asyncapi.py SCHEMAS_DIR

Ends with `N passed, M failed`; exits 1 if any failed.
"""

import json
import pathlib
import sys
import warnings

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

warnings.simplefilter("ignore")  # asyncapi3's pydantic models warn about field names at import
from asyncapi3 import AsyncAPI3  # noqa: E402
from schema_refs import references  # noqa: E402


def resolve(document, pointer):
    node = document
    for part in pointer.lstrip("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def main():
    schemas = pathlib.Path(sys.argv[1])
    document = yaml.safe_load((schemas / "asyncapi.yaml").read_text())
    passed = failed = 0

    def check(name, condition, detail=""):
        nonlocal passed, failed
        if condition:
            passed += 1
            print(f"ok {name}")
        else:
            failed += 1
            print(f"FAIL {name}: {detail}")

    try:
        AsyncAPI3.model_validate(document)
        check("asyncapi3 accepts the document", True)
    except Exception as error:  # pydantic's ValidationError lists every problem
        check("asyncapi3 accepts the document", False, error)
    check("asyncapi is 3.0.0", document.get("asyncapi") == "3.0.0", document.get("asyncapi"))
    for reference in sorted(set(references(document))):
        if reference.startswith("#/"):
            try:
                resolve(document, reference)
                check(f"{reference} resolves", True)
            except (KeyError, TypeError) as error:
                check(f"{reference} resolves", False, error)
        else:
            check(f"{reference} exists", (schemas / reference).is_file(), schemas / reference)

    cloud_event = json.loads((schemas / "cloudevent.schema.json").read_text())
    Draft202012Validator.check_schema(cloud_event)
    check("cloudevent.schema.json is a draft 2020-12 schema", True)
    resources = []
    for path in sorted((schemas / "events").glob("*.schema.json")):
        schema = json.loads(path.read_text())
        Draft202012Validator.check_schema(schema)
        resources.append((schema["$id"], Resource.from_contents(schema)))
    validator = Draft202012Validator(
        cloud_event,
        registry=Registry().with_resources(resources),
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )
    goldens = sorted(schemas.glob("golden/*/v*.cloudevent.json"))
    check("there are golden CloudEvents", len(goldens) > 40, len(goldens))
    for path in goldens:
        errors = list(validator.iter_errors(json.loads(path.read_text())))
        check(f"{path.parent.name}/{path.name} is valid", not errors, errors[:1])
    # The schema must refuse, too: a CloudEvent whose data breaks its event's schema.
    broken = json.loads((schemas / "golden/DispensingRecorded/v1.cloudevent.json").read_text())
    broken["data"]["amounts"] = "free"
    check("a broken CloudEvent is refused", not validator.is_valid(broken))
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

"""Validates schemas/openapi.json with a validator no one here wrote (issue #14 §4):
`openapi-spec-validator` (OpenAPI 3.1), every external `$ref` resolved from the file's folder, and
every JSON Schema the document references (schemas/commands, schemas/read, the CloudEvent schema)
checked as a draft 2020-12 schema.

    python validate_openapi.py SCHEMAS_DIR

Ends with `N passed, M failed`; exits 1 if any failed.
"""

import json
import pathlib
import sys

from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError
from schema_refs import references


def main():
    schemas = pathlib.Path(sys.argv[1]).resolve()
    path = schemas / "openapi.json"
    document = json.loads(path.read_text())
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
        validate(document, base_uri=path.as_uri())
        check("openapi-spec-validator accepts the document", True)
    except OpenAPIValidationError as error:
        check("openapi-spec-validator accepts the document", False, error)
    check("openapi is 3.1", document.get("openapi", "").startswith("3.1."), document.get("openapi"))
    for reference in sorted(set(references(document))):
        if reference.startswith("#/"):
            continue
        target = schemas / reference
        if not target.is_file():
            check(f"{reference} exists", False, target)
            continue
        schema = json.loads(target.read_text())
        try:
            Draft202012Validator.check_schema(schema)
            check(f"{reference} is a draft 2020-12 schema", True)
        except Exception as error:  # SchemaError names the keyword
            check(f"{reference} is a draft 2020-12 schema", False, error)
    operations = [
        (method, route)
        for route, item in document.get("paths", {}).items()
        for method in item
        if method in ("get", "post")
    ]
    check("both services' operations are described", len(operations) >= 12, operations)
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

"""Runs schemathesis (PyPI) against a live service and schemas/openapi.json (issue #14 §6): no 5xx,
every answer's status, content type, headers and body as the document declares them.

    python schemathesis_run.py SCHEMAS_DIR CONFIG.json

CONFIG: `url`, `ca`, `cert`, `key` (a client certificate), `token` (a bearer token, optional),
`include` (paths to test), `max_examples`,
`out` (a folder for the bundled document and the report). schemathesis resolves `$ref`s to files but
not the `urn:` ids the CloudEvent schema uses for the event schemas, so the document is first bundled
into one file: every referenced schema becomes a component, every `$ref` points at its component.
`/v1/events` is never tested here: a feed does not end, so there is no answer to check (the feed has
its own tests, with a real client).
"""

import json
import os
import pathlib
import re
import subprocess
import sys

URN = "urn:pharmacy-copayment:schema:"


class Bundler:
    def __init__(self, schemas):
        self.schemas = schemas
        self.components = {}
        self.ids = {}
        for path in sorted((schemas / "events").glob("*.schema.json")):
            self.ids[json.loads(path.read_text())["$id"]] = path

    def name(self, path):
        relative = path.relative_to(self.schemas).as_posix()
        return re.sub(r"[^A-Za-z0-9._-]", "_", relative.removesuffix(".schema.json"))

    def embed(self, path):
        """Makes the schema file `path` (and what it references) components; returns its name."""
        name = self.name(path)
        if name in self.components:
            return name
        self.components[name] = None  # cycles resolve to the name
        schema = json.loads(path.read_text())
        for definition, body in schema.pop("$defs", {}).items():
            self.components[f"{name}.{definition}"] = self.rewrite(body, path, name)
        for key in ("$id", "$schema"):
            schema.pop(key, None)
        self.components[name] = self.rewrite(schema, path, name)
        return name

    def rewrite(self, node, path, name):
        if isinstance(node, list):
            return [self.rewrite(item, path, name) for item in node]
        if not isinstance(node, dict):
            return node
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                out[key] = self.target(value, path, name)
            else:
                out[key] = self.rewrite(value, path, name)
        return out

    def target(self, reference, path, name):
        if reference.startswith("#/$defs/"):
            return f"#/components/schemas/{name}.{reference.removeprefix('#/$defs/')}"
        if reference.startswith("#/"):
            return reference
        if reference.startswith(URN):
            return f"#/components/schemas/{self.embed(self.ids[reference])}"
        # normpath, not resolve: the schemas may be symbolic links (a test's modified copy).
        target = pathlib.Path(os.path.normpath(path.parent / reference))
        return f"#/components/schemas/{self.embed(target)}"

    def bundle(self, document_path):
        document = json.loads(document_path.read_text())
        document = self.rewrite(document, document_path, "openapi")
        document["components"].setdefault("schemas", {}).update(self.components)
        return document


def main():
    schemas = pathlib.Path(os.path.abspath(sys.argv[1]))
    config = json.loads(pathlib.Path(sys.argv[2]).read_text())
    out = pathlib.Path(config["out"])
    out.mkdir(parents=True, exist_ok=True)
    bundled = out / "openapi.bundled.json"
    bundled.write_text(json.dumps(Bundler(schemas).bundle(schemas / "openapi.json"), indent=1))
    command = [
        str(pathlib.Path(sys.executable).parent / "schemathesis"),
        "run",
        str(bundled),
        "--url", config["url"],
        "--tls-verify", config["ca"],
        "--request-cert", config["cert"],
        "--request-cert-key", config["key"],
        "--checks", "all",
        # A client certificate is TLS, not a header: dropping "auth" headers cannot remove it.
        # Values the schema allows but the service refuses (a partition the log does not have,
        # an unknown event type) are 400s by design.
        "--exclude-checks", "ignored_auth,positive_data_acceptance",
        "--phases", "examples,coverage,fuzzing",
        "--max-examples", str(config["max_examples"]),
        "--workers", "1",
        "--request-timeout", "30",
        "--seed", "14",
        "--suppress-health-check", "all",
        "--no-color",
    ]
    if config.get("token"):
        # A valid token, so that the Authorization header is not fuzzed (the token would decide).
        command += ["--header", f"Authorization: Bearer {config['token']}"]
    for path in config["include"]:
        command += ["--include-path", path]
    # In `out`: schemathesis keeps its example database in the working directory.
    result = subprocess.run(command, capture_output=True, text=True, cwd=out)
    print(result.stdout[-20000:])
    print(result.stderr[-5000:], file=sys.stderr)
    sys.exit(result.returncode)


if __name__ == "__main__":
    main()

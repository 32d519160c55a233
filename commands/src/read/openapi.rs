//! `schemas/openapi.json`: the HTTP API of both services in OpenAPI 3.1 (issue #14 §4).

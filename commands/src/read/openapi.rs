//! `schemas/openapi.json` (issue #14 §4): the HTTP API of both services in OpenAPI 3.1, generated
//! here from the code's routes, parameters and types, and compared with the checked-in file by
//! `commands/tests/openapi.rs` (regenerate with `UPDATE_GOLDEN=1`). Bodies reference the JSON
//! Schemas in `schemas/`: the command, accepted and refusal schemas of `schemas/commands/`, the
//! CloudEvent schema, and the views' answers in `schemas/read/`, generated from their Rust types
//! ([`answer_schemas`]).

use serde_json::{Value, json};

use super::feed::{NDJSON, SSE};
use super::params::{WAIT_SECONDS_DEFAULT, WAIT_SECONDS_MAX};
use super::progress::CHECKPOINT_HEADER;
use crate::cli::views::convert::{ActJson, BudgetJson, ContractJson, RegistryJson};
use crate::cli::views::deadlines::Row;

/// A contract id (`ContractId`): 1–64 printable ASCII characters, no `/`.
const CONTRACT_PATTERN: &str = "^[!-.0-~]{1,64}$";
/// A reporting month.
const MONTH_PATTERN: &str = "^[0-9]{4}-(0[1-9]|1[0-2])$";
/// Positions `partition:offset`, comma-separated.
const POSITIONS_PATTERN: &str = "^[0-9]{1,9}:[0-9]{1,19}(,[0-9]{1,9}:[0-9]{1,19})*$";

/// The views' answers: file name under `schemas/read/` and its JSON Schema, from the Rust types.
pub fn answer_schemas() -> Vec<(&'static str, Value)> {
    let schema =
        |generated: schemars::Schema| serde_json::to_value(&generated).expect("a schema is JSON");
    vec![
        (
            "contracts.schema.json",
            schema(schemars::schema_for!(Vec<ContractJson<'static>>)),
        ),
        (
            "contract.schema.json",
            schema(schemars::schema_for!(ContractJson<'static>)),
        ),
        (
            "registry.schema.json",
            schema(schemars::schema_for!(RegistryJson<'static>)),
        ),
        (
            "act.schema.json",
            schema(schemars::schema_for!(ActJson<'static>)),
        ),
        (
            "deadlines.schema.json",
            schema(schemars::schema_for!(Vec<Row<'static>>)),
        ),
        (
            "budgets.schema.json",
            schema(schemars::schema_for!(Vec<BudgetJson>)),
        ),
    ]
}

/// The whole document.
pub fn document() -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Pharmacy co-payment ledger",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Two services behind one trust boundary (docs/security.md): the writer, `ledger serve` (commands), and the reader, `ledger read` (the event feed and the views). Every request is authenticated by a client certificate (mTLS) or a bearer token and decided by the one policy; refusals are answers in the refusal shape. Generated from the code (commands/src/read/openapi.rs).",
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"}
        },
        "servers": [writer_server(), reader_server()],
        "security": [{"clientCertificate": []}, {"bearerToken": []}],
        "tags": [
            {"name": "writer", "description": "ledger serve: the log's one writer"},
            {"name": "reader", "description": "ledger read: the event feed and the views, read-only"},
            {"name": "operations", "description": "health, readiness and metrics of both services"}
        ],
        "paths": paths(),
        "components": components()
    })
}

fn writer_server() -> Value {
    json!({"url": "https://localhost:8443", "description": "ledger serve (the writer)"})
}

fn reader_server() -> Value {
    json!({"url": "https://localhost:8444", "description": "ledger read (the reader)"})
}

fn paths() -> Value {
    json!({
        "/v1/commands": commands_path(),
        "/v1/commands:batch": batch_path(),
        "/v1/events": events_path(),
        "/v1/contracts": view_path("contracts", "Every contract the principal may read, as `ledger contracts --format json` prints them.", "contracts.schema.json", &[as_of()]),
        "/v1/contracts/{contract}": view_path("contract", "One contract, as its element of `ledger contracts --format json`.", "contract.schema.json", &[contract_path(), as_of()]),
        "/v1/registries/{contract}/{period}": form_path("registry", "The summary registry (Appendix 1) of a contract and month, as `ledger registry show` prints it."),
        "/v1/acts/{contract}/{period}": form_path("act", "The payment act (Appendix 2) of a contract and month, as `ledger act show` prints it."),
        "/v1/deadlines": view_path("deadlines", "Every statutory clock of the contracts the principal may read and its status as of a day, as `ledger deadlines --format json` prints them.", "deadlines.schema.json", &deadline_parameters()),
        "/v1/budgets/{country}/{year}": view_path("budgets", "The budget lines of a country's fiscal year with every change, as `ledger budget --format json` prints them.", "budgets.schema.json", &budget_parameters()),
        "/v1/history": history_path(),
        "/healthz": operations_path("healthz", "The process is up.", text_answer()),
        "/readyz": operations_path("readyz", "The writer: the log is open and answers. The reader: its views caught up with the log as it was at start.", text_answer()),
        "/metrics": operations_path("metrics", "Prometheus text format: the writer's commands, events appended, refusals by rule, transaction and fsync latency; the reader's checkpoint, log end and lag per partition. For principals with a read rule for `metrics`.", json!({"text/plain": {"schema": {"type": "string"}}}))
    })
}

fn refusal_ref() -> Value {
    json!({"$ref": "#/components/responses/Refusal"})
}

/// The refusals every route of the reader may answer.
fn reader_refusals(extra: &[&str]) -> serde_json::Map<String, Value> {
    let mut responses = serde_json::Map::new();
    for status in ["400", "401", "403", "429", "500", "503"]
        .iter()
        .chain(extra)
    {
        responses.insert((*status).to_owned(), refusal_ref());
    }
    responses
}

fn checkpoint_headers() -> Value {
    json!({"X-Ledger-Checkpoint": {"$ref": "#/components/headers/Checkpoint"}})
}

fn commands_path() -> Value {
    json!({"post": {
        "operationId": "postCommand",
        "tags": ["writer"],
        "servers": [writer_server()],
        "summary": "Decide and append one command",
        "description": "One JSON command (docs/commands.md) for the authenticated principal. 201 with the positions appended; 200 with the original positions for a repeated command id with the same content. The positions, written `partition:offset` and comma-separated, are what `min_position` on the reader takes (read-your-writes).",
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "commands/command.schema.json"}}}},
        "responses": {
            "200": {"description": "A repeated command id with the same content: nothing appended, the original positions.", "content": {"application/json": {"schema": {"$ref": "commands/accepted.schema.json"}}}},
            "201": {"description": "Appended.", "content": {"application/json": {"schema": {"$ref": "commands/accepted.schema.json"}}}},
            "400": refusal_ref(), "401": refusal_ref(), "403": refusal_ref(), "408": refusal_ref(),
            "409": refusal_ref(), "413": refusal_ref(), "422": refusal_ref(), "429": refusal_ref(),
            "500": refusal_ref(), "503": refusal_ref()
        }
    }})
}

fn batch_path() -> Value {
    let result = json!({
        "type": "object",
        "required": ["status", "body"],
        "additionalProperties": false,
        "properties": {
            "status": {"type": "integer", "enum": [200, 201, 400, 403, 409, 422, 500], "description": "What `POST /v1/commands` would have answered for this command alone."},
            "body": {"oneOf": [{"$ref": "commands/accepted.schema.json"}, {"$ref": "commands/refusal.schema.json"}]}
        }
    });
    json!({"post": {
        "operationId": "postCommandBatch",
        "tags": ["writer"],
        "servers": [writer_server()],
        "summary": "Decide and append up to 1,000 commands, one result each",
        "description": "Each command is decided as `POST /v1/commands` would decide it, for the authenticated principal and through the same trust boundary; a run of dispensings shares one group commit (docs/commands.md). The results are in the order of the commands. The request as a whole is refused only without a principal (401), past the principal's rate (429: a batch of N costs N requests), or when it is not such an object, an element is not a JSON object, or it holds no or more than 1,000 commands (400).",
        "requestBody": {"required": true, "content": {"application/json": {"schema": {
            "type": "object",
            "required": ["commands"],
            "additionalProperties": false,
            "properties": {"commands": {"type": "array", "minItems": 1, "maxItems": 1000, "items": {
                "type": "object",
                "description": "A command as `POST /v1/commands` takes it. Each is checked on its own: one that is not a valid command is answered 400 in its result, the others are decided.",
                "x-item-schema": {"$ref": "commands/command.schema.json"}
            }}}
        }}}},
        "responses": {
            "200": {"description": "One result per command, in order.", "content": {"application/json": {"schema": {
                "type": "object",
                "required": ["results"],
                "additionalProperties": false,
                "properties": {"results": {"type": "array", "items": result}}
            }}}},
            "400": refusal_ref(), "401": refusal_ref(), "408": refusal_ref(), "413": refusal_ref(),
            "429": refusal_ref(), "500": refusal_ref(), "503": refusal_ref()
        }
    }})
}

fn events_path() -> Value {
    let mut responses = reader_refusals(&["406"]);
    responses.insert("200".into(), json!({
        "description": "Catch-up, then live, until the client leaves. Server-Sent Events: each event a frame `id: <position>` + `data: <CloudEvent>`, where the position is, per partition, the offset of the last event read (`partition:offset`, comma-separated; send it back as Last-Event-ID). NDJSON: one CloudEvent per line. Idle feeds get heartbeats (an SSE comment; an empty NDJSON line).",
        "headers": checkpoint_headers(),
        "content": {
            SSE: {"schema": {"type": "string"}, "x-item-schema": {"$ref": "cloudevent.schema.json"}},
            NDJSON: {"schema": {"type": "string"}, "x-item-schema": {"$ref": "cloudevent.schema.json"}}
        }
    }));
    json!({"get": {
        "operationId": "events",
        "tags": ["reader"],
        "servers": [reader_server()],
        "summary": "The event feed: every event the principal may read, as CloudEvents",
        "description": "Resumable with no gap and no duplicate: with Last-Event-ID (what an EventSource sends by itself) or `after`. Events the principal may not read are never sent (a pharmacy: its own contracts' events and its key stream). AsyncAPI: the channel `feed` of schemas/asyncapi.yaml.",
        "parameters": [
            {"name": "Last-Event-ID", "in": "header", "required": false, "description": "The `id` of the last event received; wins over `after`.", "schema": {"type": "string", "pattern": POSITIONS_PATTERN}},
            {"name": "after", "in": "query", "required": false, "description": "Resume after these positions, `partition:offset,…`; partitions not named start from the beginning.", "schema": {"type": "string", "pattern": POSITIONS_PATTERN}},
            {"name": "type", "in": "query", "required": false, "description": "Only these event types: names (`DispensingRecorded`) or CloudEvents types, comma-separated.", "schema": {"type": "string"}},
            {"name": "stream", "in": "query", "required": false, "description": "Only streams whose id starts with this.", "schema": {"type": "string", "minLength": 1}},
            {"name": "contract", "in": "query", "required": false, "description": "Only this contract's streams (its contract, period and dispute streams).", "schema": {"type": "string", "pattern": CONTRACT_PATTERN}},
            {"name": "period", "in": "query", "required": false, "description": "Only the period streams of this month.", "schema": {"type": "string", "pattern": MONTH_PATTERN}},
            {"$ref": "#/components/parameters/min_position"},
            {"$ref": "#/components/parameters/wait"}
        ],
        "responses": responses
    }})
}

fn view_path(operation: &str, summary: &str, schema: &str, parameters: &[Value]) -> Value {
    let mut responses = reader_refusals(if parameters.iter().any(|p| p["in"] == "path") {
        &["404"]
    } else {
        &[]
    });
    responses.insert(
        "200".into(),
        json!({
            "description": "The answer, reflecting at least the checkpoint in X-Ledger-Checkpoint.",
            "headers": checkpoint_headers(),
            "content": {"application/json": {"schema": {"$ref": format!("read/{schema}")}}}
        }),
    );
    let mut all = parameters.to_vec();
    all.push(json!({"$ref": "#/components/parameters/min_position"}));
    all.push(json!({"$ref": "#/components/parameters/wait"}));
    json!({"get": {
        "operationId": operation,
        "tags": ["reader"],
        "servers": [reader_server()],
        "summary": summary,
        "parameters": all,
        "responses": responses
    }})
}

fn form_path(form: &str, summary: &str) -> Value {
    let mut responses = reader_refusals(&["404", "406"]);
    responses.insert("200".into(), json!({
        "description": "The form by Accept: JSON (default), CSV, or the printable HTML. Analysts read patients' IINs as keyed pseudonyms.",
        "headers": checkpoint_headers(),
        "content": {
            "application/json": {"schema": {"$ref": format!("read/{form}.schema.json")}},
            "text/csv": {"schema": {"type": "string"}},
            "text/html": {"schema": {"type": "string"}}
        }
    }));
    json!({"get": {
        "operationId": form,
        "tags": ["reader"],
        "servers": [reader_server()],
        "summary": summary,
        "parameters": [
            contract_path(),
            {"name": "period", "in": "path", "required": true, "description": "The reporting month.", "example": "2026-01", "schema": {"type": "string", "pattern": MONTH_PATTERN}},
            {"$ref": "#/components/parameters/min_position"},
            {"$ref": "#/components/parameters/wait"}
        ],
        "responses": responses
    }})
}

fn history_path() -> Value {
    let mut responses = reader_refusals(&[]);
    responses.insert("200".into(), json!({
        "description": "The events in log order per partition, as CloudEvents: a JSON array, or with Accept application/x-ndjson exactly what `ledger history --format json` prints.",
        "headers": checkpoint_headers(),
        "content": {
            "application/json": {"schema": {"type": "array", "items": {"$ref": "cloudevent.schema.json"}}},
            NDJSON: {"schema": {"type": "string"}}
        }
    }));
    json!({"get": {
        "operationId": "history",
        "tags": ["reader"],
        "servers": [reader_server()],
        "summary": "Every event of a contract, a month or a stream (exactly one of them)",
        "parameters": [
            {"name": "contract", "in": "query", "required": false, "example": "KZ-001", "schema": {"type": "string", "pattern": CONTRACT_PATTERN}},
            {"name": "period", "in": "query", "required": false, "schema": {"type": "string", "pattern": MONTH_PATTERN}},
            {"name": "stream", "in": "query", "required": false, "description": "Any stream id, e.g. reference/prices/KZ.", "schema": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[!-~]+$"}},
            {"name": "until", "in": "query", "required": false, "description": "Only events recorded at or before this instant.", "schema": {"type": "string", "format": "date-time"}},
            {"$ref": "#/components/parameters/min_position"},
            {"$ref": "#/components/parameters/wait"}
        ],
        "responses": responses
    }})
}

fn operations_path(operation: &str, summary: &str, content: Value) -> Value {
    let mut responses = serde_json::Map::new();
    responses.insert(
        "200".into(),
        json!({"description": summary, "content": content}),
    );
    for status in ["401", "403", "429", "503"] {
        responses.insert(status.into(), refusal_ref());
    }
    json!({"get": {
        "operationId": operation,
        "tags": ["operations"],
        "servers": [writer_server(), reader_server()],
        "summary": summary,
        "responses": responses
    }})
}

fn text_answer() -> Value {
    json!({"text/plain": {"schema": {"type": "string"}}})
}

fn contract_path() -> Value {
    json!({"name": "contract", "in": "path", "required": true, "description": "The contract id.", "example": "KZ-001", "schema": {"type": "string", "pattern": CONTRACT_PATTERN}})
}

fn as_of() -> Value {
    json!({"name": "as_of", "in": "query", "required": false, "description": "Also each contract's clocks overdue at the end of this day.", "example": "2026-03-16", "schema": {"type": "string", "format": "date"}})
}

fn deadline_parameters() -> Vec<Value> {
    vec![
        json!({"name": "as_of", "in": "query", "required": true, "description": "The status is computed for the end of this local day.", "example": "2026-03-16", "schema": {"type": "string", "format": "date"}}),
        json!({"name": "overdue", "in": "query", "required": false, "description": "Only clocks past their due date and not stopped.", "schema": {"type": "boolean"}}),
        json!({"name": "within", "in": "query", "required": false, "description": "Only running clocks due within this many working days.", "schema": {"type": "integer", "minimum": 0, "maximum": 3650}}),
        json!({"name": "contract", "in": "query", "required": false, "schema": {"type": "string", "pattern": CONTRACT_PATTERN}}),
        json!({"name": "party", "in": "query", "required": false, "description": "Only clocks that oblige this party.", "schema": {"type": "string", "enum": ["fund", "pharmacy"]}}),
    ]
}

fn budget_parameters() -> Vec<Value> {
    vec![
        json!({"name": "country", "in": "path", "required": true, "example": "KZ", "schema": {"type": "string", "enum": ["KZ", "KG", "kz", "kg"]}}),
        json!({"name": "year", "in": "path", "required": true, "description": "The fiscal year.", "example": "2026", "schema": {"type": "string", "pattern": "^(199[0-9]|20[0-9][0-9]|2100)$"}}),
        json!({"name": "region", "in": "query", "required": false, "description": "Only this region's code, e.g. 710000000.", "schema": {"type": "string"}}),
        json!({"name": "programme", "in": "query", "required": false, "description": "Only this programme, e.g. GOBMP.", "schema": {"type": "string"}}),
    ]
}

fn components() -> Value {
    json!({
        "securitySchemes": {
            "clientCertificate": {"type": "mutualTLS", "description": "A client certificate naming the organisation in OU (BIN… or INN…) and the person in serialNumber (IIN…), as NCA certificates do."},
            "bearerToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": "A token of the configured OpenID Connect provider (RS256, ES256 or EdDSA) with claims bin or kg_tin, iin, role."}
        },
        "parameters": {
            "min_position": {"name": "min_position", "in": "query", "required": false, "description": "Read-your-writes: the positions a write answered with (`partition:offset`, comma-separated). The answer waits until the views have applied them (503 NOT_CAUGHT_UP after `wait`).", "schema": {"type": "string", "pattern": POSITIONS_PATTERN}},
            "wait": {"name": "wait", "in": "query", "required": false, "description": format!("Seconds to wait for min_position (default {WAIT_SECONDS_DEFAULT})."), "schema": {"type": "integer", "minimum": 0, "maximum": WAIT_SECONDS_MAX}}
        },
        "headers": {
            "Checkpoint": {
                "description": format!("`{CHECKPOINT_HEADER}`: per partition, the offset below which the reader's views have applied every record (`partition:offset`, comma-separated). A write at `p:o` is visible once the checkpoint of `p` is above `o`."),
                "required": true,
                "schema": {"type": "string", "pattern": POSITIONS_PATTERN}
            }
        },
        "responses": {
            "Refusal": {
                "description": "A refusal: the rule, the field when one is to blame, and the message.",
                "content": {"application/json": {"schema": {"$ref": "commands/refusal.schema.json"}}}
            }
        }
    })
}

//! `schemas/layout.json` (issue #15 §3): the binary layout of the record envelope and of every event
//! version, in the small type language of docs/record-format.md, so that a verifier in another
//! language (the audit pack's `verify.py`) can decode raw records from the documentation alone.
//!
//! Types and variant order come from the JSON Schemas (`schemas/`); the order of a struct's fields,
//! which JSON Schema does not keep, from the struct's declaration in `ledger/src` (bincode writes
//! fields in declaration order). The test then runs `verify.py --self-test` over every golden record
//! (`schemas/golden/`): each must decode, with these layouts, to exactly its golden JSON. Regenerate
//! with `UPDATE_GOLDEN=1 cargo test -p ledger-commands --test layout`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ledger::domain::event::Event;
use ledger::domain::upcast::old_json_schemas;
use ledger::log::EnvelopeBody;
use serde_json::{Map, Value, json};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Field names of `struct Name { … }` and of struct variants `Enum::Variant { … }` in `ledger/src`,
/// in declaration order (several when a name is declared twice).
fn declared_fields() -> BTreeMap<String, Vec<Vec<String>>> {
    let mut found: BTreeMap<String, Vec<Vec<String>>> = BTreeMap::new();
    let mut files = vec![root().join("ledger/src")];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(
                std::fs::read_dir(&path)
                    .unwrap()
                    .map(|entry| entry.unwrap().path()),
            );
            continue;
        }
        if path.extension().is_none_or(|extension| extension != "rs") {
            continue;
        }
        let text: String = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(|line| line.split("//").next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n");
        for (keyword, is_enum) in [("struct ", false), ("enum ", true)] {
            let mut rest = text.as_str();
            while let Some(at) = rest.find(keyword) {
                let after = &rest[at + keyword.len()..];
                rest = after;
                let name: String = after
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                let Some(open) = after.find(['{', ';', '(']) else {
                    continue;
                };
                if name.is_empty()
                    || !after[name.len()..open].trim().is_empty()
                    || !after[open..].starts_with('{')
                {
                    continue;
                }
                let body = braced(&after[open..]);
                if is_enum {
                    record_enum(&mut found, &name, body);
                } else {
                    found.entry(name).or_default().push(field_names(body));
                }
            }
        }
    }
    found
}

/// The variants of `enum name` in order, and the fields of its struct variants.
fn record_enum(found: &mut BTreeMap<String, Vec<Vec<String>>>, name: &str, body: &str) {
    let variants: Vec<String> = split_top(body)
        .iter()
        .map(|variant| {
            let variant = strip_attributes(variant);
            variant
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect()
        })
        .collect();
    found
        .entry(format!("enum {name}"))
        .or_default()
        .push(variants);
    for variant in split_top(body) {
        let variant = strip_attributes(&variant);
        if let Some(brace) = variant.find('{') {
            let variant_name = variant[..brace].trim().to_owned();
            let fields = field_names(braced(&variant[brace..]));
            found
                .entry(format!("{name}::{variant_name}"))
                .or_default()
                .push(fields);
        }
    }
}

/// The text inside the braces that `text` starts with.
fn braced(text: &str) -> &str {
    let mut depth = 0;
    for (index, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return &text[1..index];
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced braces")
}

/// Splits at commas outside brackets of any kind.
fn split_top(text: &str) -> Vec<String> {
    let (mut parts, mut current, mut depth) = (Vec::new(), String::new(), 0i32);
    for c in text.chars() {
        match c {
            '{' | '(' | '[' | '<' => depth += 1,
            '}' | ')' | ']' | '>' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    parts.push(current);
    parts
        .into_iter()
        .filter(|part| !part.trim().is_empty())
        .collect()
}

fn strip_attributes(text: &str) -> String {
    let mut out = text.trim().to_owned();
    while out.starts_with("#[") {
        let end = out.find(']').map_or(out.len(), |end| end + 1);
        let mut depth = 0;
        let mut close = end;
        for (index, c) in out.char_indices() {
            match c {
                '[' => depth += 1,
                ']' => {
                    depth -= 1;
                    if depth == 0 {
                        close = index + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        out = out[close..].trim().to_owned();
    }
    out
}

fn field_names(body: &str) -> Vec<String> {
    split_top(body)
        .iter()
        .filter_map(|field| {
            let field = strip_attributes(field);
            let field = field
                .trim_start_matches("pub(crate) ")
                .trim_start_matches("pub ")
                .trim();
            let colon = field.find(':')?;
            Some(field[..colon].trim().to_owned())
        })
        .collect()
}

struct Builder {
    declared: BTreeMap<String, Vec<Vec<String>>>,
    types: BTreeMap<String, Value>,
}

impl Builder {
    /// The declared field order of `name` with exactly the properties of `properties`.
    fn order(&self, name: &str, properties: &Map<String, Value>) -> Vec<String> {
        let parts = format!("{name}Parts");
        let candidates = [parts.as_str(), name];
        for candidate in candidates {
            for fields in self.declared.get(candidate).into_iter().flatten() {
                let mut sorted = fields.clone();
                sorted.sort();
                let mut names: Vec<String> = properties.keys().cloned().collect();
                names.sort();
                if sorted == names {
                    return fields.clone();
                }
            }
        }
        panic!(
            "no declaration of {name} with the fields {:?}",
            properties.keys().collect::<Vec<_>>()
        )
    }

    /// The variants in declaration order (bincode writes the variant's index): schema names matched
    /// to the Rust names whatever `rename_all` did to them.
    fn declared_order(&self, name: &str, variants: Vec<Value>) -> Vec<Value> {
        let normal = |text: &str| text.replace('_', "").to_lowercase();
        let mut by_name: BTreeMap<String, Value> = variants
            .into_iter()
            .map(|variant| {
                (
                    normal(variant[0].as_str().expect("a variant name")),
                    variant,
                )
            })
            .collect();
        let declared = self
            .declared
            .get(&format!("enum {name}"))
            .into_iter()
            .flatten()
            .find(|declared| {
                let mut names: Vec<String> =
                    declared.iter().map(|variant| normal(variant)).collect();
                names.sort();
                names == by_name.keys().cloned().collect::<Vec<_>>()
            })
            .unwrap_or_else(|| {
                panic!(
                    "no declaration of enum {name} with variants {:?}",
                    by_name.keys()
                )
            });
        declared
            .iter()
            .map(|variant| by_name.remove(&normal(variant)).expect("matched above"))
            .collect()
    }

    fn convert(&mut self, schema: &Value, defs: &Map<String, Value>, name: &str) -> Value {
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            let target = reference.trim_start_matches("#/$defs/").to_owned();
            if let Some(primitive) = primitive(&target) {
                return json!(primitive);
            }
            if !self.types.contains_key(&target) {
                self.types.insert(target.clone(), Value::Null);
                let converted = self.convert(&defs[&target], defs, &target);
                self.types.insert(target.clone(), converted);
            }
            return json!({ "ref": target });
        }
        if let Some(options) = schema.get("anyOf").and_then(Value::as_array) {
            let present: Vec<&Value> = options
                .iter()
                .filter(|option| option["type"] != "null")
                .collect();
            assert_eq!(present.len(), 1, "{name}: only Option<T> uses anyOf");
            return json!({ "option": self.convert(present[0], defs, name) });
        }
        if let Some(variants) = schema.get("oneOf").and_then(Value::as_array) {
            let mut converted = Vec::new();
            for variant in variants {
                match variant.get("enum").and_then(Value::as_array) {
                    // schemars groups unit variants into one `enum` list.
                    Some(values) => {
                        converted.extend(values.iter().map(|value| json!([value, null])));
                    }
                    None => converted.push(self.variant(variant, defs, name)),
                }
            }
            return json!({ "enum": self.declared_order(name, converted) });
        }
        if let Some(values) = schema.get("enum").and_then(Value::as_array) {
            let converted = values.iter().map(|value| json!([value, null])).collect();
            return json!({ "enum": self.declared_order(name, converted) });
        }
        let types: Vec<&str> = match &schema["type"] {
            Value::String(one) => vec![one.as_str()],
            Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
            _ => panic!("{name}: a schema without type: {schema}"),
        };
        let nullable = types.contains(&"null");
        let main = *types.iter().find(|name| **name != "null").expect("a type");
        let inner = match main {
            "string" if schema["format"] == "uuid" => json!("uuid"),
            "string" => json!("string"),
            "boolean" => json!("bool"),
            "integer" => json!(integer(&schema["format"], name)),
            "array" => json!({ "seq": self.convert(&schema["items"], defs, name) }),
            "object" => {
                let properties = schema["properties"]
                    .as_object()
                    .unwrap_or_else(|| panic!("{name}: a map"));
                let mut fields = Vec::new();
                for field in self.order(name, properties) {
                    let converted =
                        self.convert(&properties[&field], defs, &format!("{name}.{field}"));
                    fields.push(json!([field, converted]));
                }
                json!({ "struct": fields })
            }
            other => panic!("{name}: type {other}"),
        };
        if nullable {
            json!({ "option": inner })
        } else {
            inner
        }
    }

    fn variant(&mut self, variant: &Value, defs: &Map<String, Value>, name: &str) -> Value {
        if let Some(constant) = variant.get("const") {
            return json!([constant, null]);
        }
        let properties = variant["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("{name}: a data variant: {variant}"));
        let (variant_name, inner) = properties.iter().next().expect("one property");
        let inner = if inner["type"] == "object" && inner.get("properties").is_some() {
            let order_name = format!("{name}::{variant_name}");
            let inner_properties = inner["properties"].as_object().unwrap();
            let mut fields = Vec::new();
            for field in self.order(&order_name, inner_properties) {
                let converted = self.convert(
                    &inner_properties[&field],
                    defs,
                    &format!("{order_name}.{field}"),
                );
                fields.push(json!([field, converted]));
            }
            json!({ "struct": fields })
        } else {
            self.convert(inner, defs, &format!("{name}::{variant_name}"))
        };
        json!([variant_name, inner])
    }

    /// Adds a root schema under `name`.
    fn add_root(&mut self, name: &str, schema: &schemars::Schema) {
        let value = serde_json::to_value(schema).unwrap();
        let defs = value
            .get("$defs")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        self.types.insert(name.to_owned(), Value::Null);
        let converted = self.convert(&value, &defs, name);
        self.types.insert(name.to_owned(), converted);
    }
}

/// The named types whose binary form is not what their JSON Schema says: `Timestamp` (an `i64` of
/// microseconds, RFC 3339 text in JSON) and `CommandDigest` (32 bytes, no length; hex in JSON).
fn primitive(name: &str) -> Option<&'static str> {
    match name {
        "Timestamp" => Some("timestamp"),
        "CommandDigest" => Some("hash32"),
        _ => None,
    }
}

/// The envelope's first layout (format byte 1, `ledger::log::envelope::EnvelopeBodyV1`, frozen): the
/// current one without `command_digest`, and an actor without `person`.
fn add_first_envelope_layout(types: &mut BTreeMap<String, Value>) {
    let without = |layout: &Value, name: &str| -> Vec<Value> {
        let fields = layout["struct"].as_array().expect("a struct");
        assert!(
            fields.iter().any(|field| field[0] == name),
            "the current layout has {name}"
        );
        fields
            .iter()
            .filter(|field| field[0] != name)
            .cloned()
            .collect()
    };
    let actor = without(&types["Actor"], "person");
    let body: Vec<Value> = without(&types["EnvelopeBody"], "command_digest")
        .into_iter()
        .map(|field| {
            if field[0] == "actor" {
                json!(["actor", { "ref": "ActorV1" }])
            } else {
                field
            }
        })
        .collect();
    types.insert("ActorV1".into(), json!({ "struct": actor }));
    types.insert("EnvelopeBodyV1".into(), json!({ "struct": body }));
}

fn integer(format: &Value, name: &str) -> &'static str {
    match format.as_str() {
        Some("uint8") => "u8",
        Some("uint16") => "u16",
        Some("uint32") => "u32",
        Some("uint64") => "u64",
        Some("int8") => "i8",
        Some("int16") => "i16",
        Some("int32") => "i32",
        Some("int64") => "i64",
        other => panic!("{name}: integer format {other:?}"),
    }
}

fn layout() -> Value {
    let mut builder = Builder {
        declared: declared_fields(),
        types: BTreeMap::new(),
    };
    builder.add_root("EnvelopeBody", &schemars::schema_for!(EnvelopeBody));
    // `Payload.data` is bytes in binary encodings (hex text only in JSON).
    builder.types.insert(
        "Payload".into(),
        json!({ "struct": [["event_type", "string"], ["schema_version", "u16"], ["data", "bytes"]] }),
    );
    add_first_envelope_layout(&mut builder.types);
    let mut events = BTreeMap::new();
    for (name, version, schema) in Event::json_schemas() {
        builder.add_root(name, &schema);
        events
            .entry(name.to_owned())
            .or_insert_with(BTreeMap::new)
            .insert(version.to_string(), name.to_owned());
    }
    for (name, version, schema) in old_json_schemas() {
        let type_name = format!("{name}V{version}");
        builder.add_root(&type_name, &schema);
        events
            .entry(name.to_owned())
            .or_insert_with(BTreeMap::new)
            .insert(version.to_string(), type_name);
    }
    json!({
        "format": "ledger-record-layout-v1",
        "envelope": { "1": "EnvelopeBodyV1", "2": "EnvelopeBody" },
        "events": events,
        "types": builder.types,
    })
}

#[test]
fn the_layouts_are_current_and_decode_every_golden_record() {
    let path = root().join("schemas/layout.json");
    let text = serde_json::to_string_pretty(&layout()).unwrap() + "\n";
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &text).unwrap();
    }
    let checked_in = std::fs::read_to_string(&path).unwrap();
    assert!(
        checked_in == text,
        "schemas/layout.json is stale: regenerate with UPDATE_GOLDEN=1 cargo test -p ledger-commands --test layout"
    );
    let output = std::process::Command::new("python3")
        .arg(root().join("commands/src/audit/pack/verify.py"))
        .arg("--self-test")
        .arg(root().join("schemas/golden"))
        .arg(&path)
        .output()
        .expect("python3 runs");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{report}");
    assert!(
        report.contains("ok   golden DispensingRecorded")
            && report.contains("ok   golden envelope"),
        "{report}"
    );
}

//! Typed columns of an event type, derived from its JSON Schema (`schemas/events/`), so that every
//! event type gets the same treatment and a new field becomes a column without code here.
//!
//! Rules: nested objects are flattened with `_` (`fiscal_receipt_amount_minor`); money is its
//! `_minor` INT64 and `_currency` text; `UnitPrice` and `Quantity` are DECIMAL(38, 6) (the domain's
//! scale limit, `money::DECIMAL_SCALE_MAX`); `Timestamp` is TIMESTAMP(µs, UTC); a `date` is DATE;
//! integers are INT64, booleans BOOLEAN; ids and every other string are text; an externally tagged
//! enum is a text column with the variant's name plus the flattened fields of each variant
//! (`product_Drug_inn`); lists (act rows, rejected lines) are JSON text.

use serde_json::{Map, Value};

/// The kind of values a column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Int64,
    Bool,
    Timestamp,
    Date,
    Decimal,
    /// A JSON text of a list or of a value the schema does not type.
    Json,
}

/// One step from an event's JSON to a column's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Field(String),
    /// Into the named variant of an externally tagged enum (`{"Drug": {...}}`).
    Variant(String),
    /// The variant's name of an externally tagged enum (`"Fund"` or the key of `{"Drug": …}`).
    Tag,
}

/// A column: its name, what it holds and how to find its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub kind: Kind,
    pub path: Vec<Step>,
}

/// The schema names whose strings are decimals.
const DECIMALS: [&str; 2] = ["UnitPrice", "Quantity"];

/// The deepest nesting followed (the event schemas nest four levels at most).
const DEPTH_MAX: usize = 8;

/// The columns of an event type's payload, from its JSON Schema (`schemars::schema_for!`).
pub fn payload_columns(schema: &Value) -> Vec<Column> {
    let defs = schema
        .get("$defs")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut columns = Vec::new();
    walk(schema, &defs, "", &[], 0, &mut columns);
    columns
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}_{name}")
    }
}

fn with(path: &[Step], step: Step) -> Vec<Step> {
    let mut path = path.to_vec();
    path.push(step);
    path
}

fn walk(
    schema: &Value,
    defs: &Map<String, Value>,
    prefix: &str,
    path: &[Step],
    depth: usize,
    out: &mut Vec<Column>,
) {
    let leaf = |kind: Kind, out: &mut Vec<Column>| {
        out.push(Column {
            name: if prefix.is_empty() {
                "value".into()
            } else {
                prefix.to_owned()
            },
            kind,
            path: path.to_vec(),
        });
    };
    if depth > DEPTH_MAX {
        return leaf(Kind::Json, out);
    }
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.trim_start_matches("#/$defs/");
        return match name {
            "Timestamp" => leaf(Kind::Timestamp, out),
            _ if DECIMALS.contains(&name) => leaf(Kind::Decimal, out),
            _ => match defs.get(name) {
                Some(target) => walk(target, defs, prefix, path, depth + 1, out),
                None => leaf(Kind::Json, out),
            },
        };
    }
    if let Some(options) = schema.get("anyOf").and_then(Value::as_array) {
        // `Option<T>`: `[T, null]`.
        let present: Vec<&Value> = options
            .iter()
            .filter(|option| option.get("type") != Some(&Value::String("null".into())))
            .collect();
        return match present.as_slice() {
            [only] => walk(only, defs, prefix, path, depth + 1, out),
            _ => leaf(Kind::Json, out),
        };
    }
    if let Some(variants) = schema.get("oneOf").and_then(Value::as_array) {
        return tagged(variants, defs, prefix, path, depth, out);
    }
    if schema.get("enum").is_some() || schema.get("const").is_some() {
        return leaf(Kind::Text, out);
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(one)) => vec![one.as_str()],
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let main = types.iter().find(|name| **name != "null").copied();
    match main {
        Some("object") => {
            let properties = schema.get("properties").and_then(Value::as_object);
            match properties {
                Some(properties) if !properties.is_empty() => {
                    for (name, property) in properties {
                        let path = with(path, Step::Field(name.clone()));
                        walk(property, defs, &join(prefix, name), &path, depth + 1, out);
                    }
                }
                _ => leaf(Kind::Json, out),
            }
        }
        Some("string") => match schema.get("format").and_then(Value::as_str) {
            Some("date") => leaf(Kind::Date, out),
            _ => leaf(Kind::Text, out),
        },
        Some("integer") => leaf(Kind::Int64, out),
        Some("boolean") => leaf(Kind::Bool, out),
        _ => leaf(Kind::Json, out),
    }
}

/// An externally tagged enum: its variant name as text, then the fields of each data variant.
fn tagged(
    variants: &[Value],
    defs: &Map<String, Value>,
    prefix: &str,
    path: &[Step],
    depth: usize,
    out: &mut Vec<Column>,
) {
    out.push(Column {
        name: if prefix.is_empty() {
            "variant".into()
        } else {
            prefix.to_owned()
        },
        kind: Kind::Text,
        path: with(path, Step::Tag),
    });
    for variant in variants {
        let Some(properties) = variant.get("properties").and_then(Value::as_object) else {
            continue;
        };
        for (name, inner) in properties {
            let path = with(path, Step::Variant(name.clone()));
            walk(inner, defs, &join(prefix, name), &path, depth + 1, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use ledger::domain::event::Event;

    use super::*;

    fn columns_of(event_type: &str) -> Vec<Column> {
        let (_, _, schema) = Event::json_schemas()
            .into_iter()
            .find(|(name, _, _)| *name == event_type)
            .unwrap();
        payload_columns(&serde_json::to_value(schema).unwrap())
    }

    fn kind(columns: &[Column], name: &str) -> Kind {
        columns
            .iter()
            .find(|column| column.name == name)
            .unwrap_or_else(|| panic!("no column {name}: {columns:?}"))
            .kind
    }

    #[test]
    fn a_dispensing_has_typed_columns() {
        let columns = columns_of("DispensingRecorded");
        assert_eq!(kind(&columns, "amounts_fund_minor"), Kind::Int64);
        assert_eq!(kind(&columns, "amounts_fund_currency"), Kind::Text);
        assert_eq!(kind(&columns, "quantity"), Kind::Decimal);
        assert_eq!(kind(&columns, "limit_unit_price"), Kind::Decimal);
        assert_eq!(kind(&columns, "dispensed_at"), Kind::Timestamp);
        assert_eq!(kind(&columns, "fiscal_receipt_issued_at"), Kind::Timestamp);
        assert_eq!(kind(&columns, "prescription_written_on"), Kind::Date);
        assert_eq!(kind(&columns, "patient_iin"), Kind::Text);
        assert_eq!(kind(&columns, "copayment_consent"), Kind::Bool);
        assert_eq!(kind(&columns, "product"), Kind::Text);
        assert_eq!(kind(&columns, "product_Drug_inn"), Kind::Text);
        assert_eq!(kind(&columns, "product_Device_characteristic"), Kind::Text);
        assert_eq!(kind(&columns, "patient_region"), Kind::Text);
        let names: Vec<&str> = columns.iter().map(|column| column.name.as_str()).collect();
        let mut unique = names.clone();
        unique.dedup();
        assert_eq!(names.len(), unique.len(), "{names:?}");
    }
}

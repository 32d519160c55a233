//! The hook for readers who may not see patients (DESIGN §9): a [`DataMap`] rewrites an event's `data`
//! before it is wrapped, and [`for_each_patient_id`] finds the values to rewrite. A later step (the
//! reader service's analyst role, issue #14 part 3) plugs a keyed pseudonymizer in here.

use serde_json::Value;

/// Rewrites the `data` of events of `event_type` before they are wrapped as CloudEvents.
pub trait DataMap: Send + Sync {
    fn map(&self, event_type: &str, data: &mut Value);
}

/// The `data` fields that identify a patient: the Kazakh IIN (DispensingRecorded, registry lines of
/// RegistrySubmitted v1) and the Kyrgyz PIN (KgDispensingRecorded). A test checks that every event
/// schema's IIN/PIN property is either listed here or named in its allow-list of non-patient people.
pub const PATIENT_ID_FIELDS: [&str; 2] = ["patient_iin", "patient_pin"];

/// Calls `visit` with every patient identifier in `data`, at any depth (registry lines nest them).
pub fn for_each_patient_id(data: &mut Value, visit: &mut dyn FnMut(&mut String)) {
    match data {
        Value::Object(fields) => {
            for (name, value) in fields.iter_mut() {
                match value {
                    Value::String(text) if PATIENT_ID_FIELDS.contains(&name.as_str()) => {
                        visit(text)
                    }
                    other => for_each_patient_id(other, visit),
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                for_each_patient_id(item, visit);
            }
        }
        _ => {}
    }
}

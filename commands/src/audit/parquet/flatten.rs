//! Events straight into columns: a serde `Serializer` that walks an event and hands each leaf value to
//! a sink with its column key (the same `_`-joined names as `columns`), without building a JSON value
//! (a map per object made the export allocation-bound). It is not human-readable, so an instant comes
//! as its `i64` microseconds; decimals, dates and ids come as the strings their types write.

use std::borrow::Cow;

use serde::ser::{self, Serialize};

/// One leaf value.
#[derive(Debug, Clone, PartialEq)]
pub enum Leaf<'a> {
    Null,
    Bool(bool),
    I64(i64),
    U64(u64),
    Str(Cow<'a, str>),
    /// A list, a map or a tuple, as JSON text.
    Json(String),
}

/// Why a value could not be flattened (a float or a custom error of a type's `Serialize`).
#[derive(Debug)]
pub struct FlattenError(pub String);

impl std::fmt::Display for FlattenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FlattenError {}

impl ser::Error for FlattenError {
    fn custom<T: std::fmt::Display>(message: T) -> Self {
        FlattenError(message.to_string())
    }
}

/// Walks one value; `sink(key, leaf)` gets every leaf.
pub struct Flatten<'s> {
    path: String,
    /// The outer enum (`Event`) is not a column: its variant's content is the row.
    skip_outer_variant: bool,
    sink: &'s mut dyn FnMut(&str, Leaf<'_>),
}

impl<'s> Flatten<'s> {
    /// Flattens an `Event` (its variant's struct) into `sink`.
    pub fn event<T: Serialize + ?Sized>(
        event: &T,
        sink: &'s mut dyn FnMut(&str, Leaf<'_>),
    ) -> Result<(), FlattenError> {
        let mut flatten = Flatten {
            path: String::new(),
            skip_outer_variant: true,
            sink,
        };
        event.serialize(&mut flatten)
    }

    fn leaf(&mut self, leaf: Leaf<'_>) {
        (self.sink)(&self.path, leaf);
    }

    /// Runs `inside` with `name` joined to the path.
    fn nested<R>(&mut self, name: &str, inside: impl FnOnce(&mut Self) -> R) -> R {
        let length = self.path.len();
        if !self.path.is_empty() {
            self.path.push('_');
        }
        self.path.push_str(name);
        let result = inside(self);
        self.path.truncate(length);
        result
    }
}

/// A list or map, collected as JSON text.
pub struct Collect<'f, 's> {
    flatten: &'f mut Flatten<'s>,
    items: Vec<serde_json::Value>,
    map: bool,
}

impl Collect<'_, '_> {
    fn push<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), FlattenError> {
        let value = serde_json::to_value(value).map_err(|error| FlattenError(error.to_string()))?;
        self.items.push(value);
        Ok(())
    }

    fn finish(self) {
        let text = if self.map {
            let pairs: serde_json::Map<String, serde_json::Value> = self
                .items
                .chunks(2)
                .map(|pair| {
                    let key = match &pair[0] {
                        serde_json::Value::String(key) => key.clone(),
                        other => other.to_string(),
                    };
                    (key, pair.get(1).cloned().unwrap_or_default())
                })
                .collect();
            serde_json::Value::Object(pairs).to_string()
        } else {
            serde_json::Value::Array(self.items).to_string()
        };
        self.flatten.leaf(Leaf::Json(text));
    }
}

macro_rules! collect_impls {
    ($($trait:ident :: $method:ident),*) => {$(
        impl ser::$trait for Collect<'_, '_> {
            type Ok = ();
            type Error = FlattenError;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), FlattenError> {
                self.push(value)
            }
            fn end(self) -> Result<(), FlattenError> {
                self.finish();
                Ok(())
            }
        }
    )*};
}

collect_impls!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl ser::SerializeMap for Collect<'_, '_> {
    type Ok = ();
    type Error = FlattenError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), FlattenError> {
        self.push(key)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), FlattenError> {
        self.push(value)
    }
    fn end(self) -> Result<(), FlattenError> {
        self.finish();
        Ok(())
    }
}

/// A struct's fields, each under its name; a struct variant's under `<variant>_`.
pub struct Fields<'f, 's> {
    flatten: &'f mut Flatten<'s>,
    /// The path length to restore at the end (a struct variant pushed its name).
    restore: usize,
}

impl ser::SerializeStruct for Fields<'_, '_> {
    type Ok = ();
    type Error = FlattenError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), FlattenError> {
        self.flatten.nested(key, |flatten| value.serialize(flatten))
    }
    fn end(self) -> Result<(), FlattenError> {
        self.flatten.path.truncate(self.restore);
        Ok(())
    }
}

impl ser::SerializeStructVariant for Fields<'_, '_> {
    type Ok = ();
    type Error = FlattenError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), FlattenError> {
        ser::SerializeStruct::serialize_field(self, key, value)
    }
    fn end(self) -> Result<(), FlattenError> {
        ser::SerializeStruct::end(self)
    }
}

impl<'f, 's> ser::Serializer for &'f mut Flatten<'s> {
    type Ok = ();
    type Error = FlattenError;
    type SerializeSeq = Collect<'f, 's>;
    type SerializeTuple = Collect<'f, 's>;
    type SerializeTupleStruct = Collect<'f, 's>;
    type SerializeTupleVariant = Collect<'f, 's>;
    type SerializeMap = Collect<'f, 's>;
    type SerializeStruct = Fields<'f, 's>;
    type SerializeStructVariant = Fields<'f, 's>;

    fn is_human_readable(&self) -> bool {
        false
    }

    fn serialize_bool(self, value: bool) -> Result<(), FlattenError> {
        self.leaf(Leaf::Bool(value));
        Ok(())
    }
    fn serialize_i8(self, value: i8) -> Result<(), FlattenError> {
        self.serialize_i64(i64::from(value))
    }
    fn serialize_i16(self, value: i16) -> Result<(), FlattenError> {
        self.serialize_i64(i64::from(value))
    }
    fn serialize_i32(self, value: i32) -> Result<(), FlattenError> {
        self.serialize_i64(i64::from(value))
    }
    fn serialize_i64(self, value: i64) -> Result<(), FlattenError> {
        self.leaf(Leaf::I64(value));
        Ok(())
    }
    fn serialize_u8(self, value: u8) -> Result<(), FlattenError> {
        self.serialize_u64(u64::from(value))
    }
    fn serialize_u16(self, value: u16) -> Result<(), FlattenError> {
        self.serialize_u64(u64::from(value))
    }
    fn serialize_u32(self, value: u32) -> Result<(), FlattenError> {
        self.serialize_u64(u64::from(value))
    }
    fn serialize_u64(self, value: u64) -> Result<(), FlattenError> {
        self.leaf(Leaf::U64(value));
        Ok(())
    }
    fn serialize_f32(self, _: f32) -> Result<(), FlattenError> {
        Err(FlattenError("no floats on the ledger".into()))
    }
    fn serialize_f64(self, _: f64) -> Result<(), FlattenError> {
        Err(FlattenError("no floats on the ledger".into()))
    }
    fn serialize_char(self, value: char) -> Result<(), FlattenError> {
        self.leaf(Leaf::Str(Cow::Owned(value.to_string())));
        Ok(())
    }
    fn serialize_str(self, value: &str) -> Result<(), FlattenError> {
        self.leaf(Leaf::Str(Cow::Borrowed(value)));
        Ok(())
    }
    fn serialize_bytes(self, value: &[u8]) -> Result<(), FlattenError> {
        self.leaf(Leaf::Str(Cow::Owned(hex::encode(value))));
        Ok(())
    }
    fn serialize_none(self) -> Result<(), FlattenError> {
        self.leaf(Leaf::Null);
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), FlattenError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), FlattenError> {
        self.leaf(Leaf::Null);
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), FlattenError> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), FlattenError> {
        self.leaf(Leaf::Str(Cow::Borrowed(variant)));
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), FlattenError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), FlattenError> {
        if std::mem::take(&mut self.skip_outer_variant) {
            return value.serialize(self);
        }
        self.leaf(Leaf::Str(Cow::Borrowed(variant)));
        self.nested(variant, |flatten| value.serialize(flatten))
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Collect<'f, 's>, FlattenError> {
        Ok(Collect {
            flatten: self,
            items: Vec::new(),
            map: false,
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<Collect<'f, 's>, FlattenError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        len: usize,
    ) -> Result<Collect<'f, 's>, FlattenError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        len: usize,
    ) -> Result<Collect<'f, 's>, FlattenError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Collect<'f, 's>, FlattenError> {
        Ok(Collect {
            flatten: self,
            items: Vec::new(),
            map: true,
        })
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Fields<'f, 's>, FlattenError> {
        let restore = self.path.len();
        Ok(Fields {
            flatten: self,
            restore,
        })
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Fields<'f, 's>, FlattenError> {
        self.leaf(Leaf::Str(Cow::Borrowed(variant)));
        let restore = self.path.len();
        if !self.path.is_empty() {
            self.path.push('_');
        }
        self.path.push_str(variant);
        Ok(Fields {
            flatten: self,
            restore,
        })
    }
}

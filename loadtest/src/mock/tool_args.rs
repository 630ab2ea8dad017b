//! Arguments of the mock's tool calls: values that satisfy the declared JSON schema, so a
//! real agent can execute the call, and a directive in the user text that lets a test pick
//! the tool and its arguments.
//!
//! - Directive: `use tool NAME` anywhere in the last user text calls `NAME` (when declared);
//!   `use tool NAME with {JSON object}` also sets those arguments, over the filled ones.
//! - Filling: each required property gets a value of its type: `enum` (and `const`) its
//!   first value, strings the user text, integers and numbers the count of declared tools
//!   (within `minimum`/`maximum` and their exclusive forms), booleans `false`, arrays
//!   `minItems` filled items (at most [`MAX_VALUES`] values in all), objects their own
//!   required properties; `anyOf`/`oneOf` take the first alternative.
//! - Where the schema allows undeclared properties (no `properties`, or
//!   `additionalProperties` not `false`), the mock's original shape
//!   `{"query": <user text>, "n": <tools declared>}` is kept underneath, so tests written
//!   against it keep passing; a declared `query` or `n` of another type is filled by type.

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

/// Tool-call arguments in the order they were filled (JSON maps here sort their keys, and
/// the streamed `arguments` string should read as the mock always wrote it).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Args(Vec<(String, Value)>);

impl Args {
    /// Sets `key`, in place when present.
    pub(crate) fn set(&mut self, key: &str, value: Value) {
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key.to_owned(), value)),
        }
    }

    fn has(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }

    pub(crate) fn to_value(&self) -> Value {
        Value::Object(self.0.iter().cloned().collect())
    }
}

impl Serialize for Args {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// A test's steering of the tool call, read from the user text.
#[derive(Debug, PartialEq)]
pub(crate) struct Directive<'a> {
    pub(crate) name: &'a str,
    pub(crate) args: Option<Map<String, Value>>,
}

const MARK: &str = "use tool ";

/// Most values filled into one call's arguments: nested `minItems` would otherwise multiply
/// into a huge answer.
const MAX_VALUES: usize = 256;

/// The first `use tool NAME [with {…}]` in `text`.
pub(crate) fn directive(text: &str) -> Option<Directive<'_>> {
    let at = text.find(MARK)? + MARK.len();
    let rest = text.get(at..)?;
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .unwrap_or(rest.len());
    let name = rest.get(..end).filter(|n| !n.is_empty())?;
    let after = rest.get(end..).unwrap_or_default().trim_start();
    let args = after
        .strip_prefix("with")
        .map(str::trim_start)
        .and_then(|json| {
            serde_json::Deserializer::from_str(json)
                .into_iter::<Value>()
                .next()?
                .ok()
        })
        .and_then(|v| match v {
            Value::Object(o) => Some(o),
            _ => None,
        });
    Some(Directive { name, args })
}

/// Arguments for a tool with parameters `schema`, asked by `text`, among `n` declared tools.
pub(crate) fn arguments(schema: Option<&Value>, text: &str, n: usize) -> Args {
    let mut out = Args::default();
    let properties = schema
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object);
    let open = properties.is_none()
        || schema.and_then(|s| s.get("additionalProperties")) != Some(&Value::Bool(false));
    if open {
        out.set("query", Value::String(text.to_owned()));
        out.set("n", Value::from(n));
    }
    if let (Some(schema), Some(properties)) = (schema, properties) {
        // Keep a legacy value only where the declared type accepts it.
        out.0
            .retain(|(k, v)| properties.get(k).is_none_or(|p| fits(p, v)));
        let mut budget = MAX_VALUES;
        for key in required(schema) {
            if let (Some(p), false) = (properties.get(key), out.has(key)) {
                out.set(key, value_for(p, text, n, &mut budget));
            }
        }
    }
    out
}

fn required(schema: &Value) -> impl Iterator<Item = &str> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

/// The schema's type: the first non-null one of a type list.
fn type_of(schema: &Value) -> Option<&str> {
    match schema.get("type")? {
        Value::String(t) => Some(t),
        Value::Array(ts) => ts
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .or(Some("null")),
        _ => None,
    }
}

/// Whether `v` is of the schema's declared type (no type: anything).
fn fits(schema: &Value, v: &Value) -> bool {
    if schema.get("enum").is_some() || schema.get("const").is_some() {
        return false;
    }
    match type_of(schema) {
        None => true,
        Some("string") => v.is_string(),
        Some("integer") => v.is_u64() || v.is_i64(),
        Some("number") => v.is_number(),
        _ => false,
    }
}

/// A value the property schema accepts.
fn value_for(schema: &Value, text: &str, n: usize, budget: &mut usize) -> Value {
    if let Some(first) = schema
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    if let Some(c) = schema.get("const") {
        return c.clone();
    }
    if let Some(first) = ["anyOf", "oneOf"]
        .iter()
        .find_map(|k| schema.get(*k)?.as_array()?.first())
    {
        return value_for(first, text, n, budget);
    }
    let number = |integer: bool| {
        let mut x = n as f64;
        let step = if integer {
            1.0
        } else {
            f64::EPSILON.max(x.abs() * 1e-9)
        };
        let bound = |k: &str| schema.get(k).and_then(Value::as_f64);
        if let Some(min) = bound("minimum") {
            x = x.max(min);
        }
        if let Some(min) = bound("exclusiveMinimum").filter(|m| x <= *m) {
            x = if integer {
                min.floor() + step
            } else {
                min + step
            };
        }
        if let Some(max) = bound("maximum") {
            x = x.min(max);
        }
        if let Some(max) = bound("exclusiveMaximum").filter(|m| x >= *m) {
            x = if integer {
                max.ceil() - step
            } else {
                max - step
            };
        }
        if integer {
            Value::from(x.ceil() as i64)
        } else {
            Value::from(x)
        }
    };
    match type_of(schema) {
        Some("integer") => number(true),
        Some("number") => number(false),
        Some("boolean") => Value::Bool(false),
        Some("null") => Value::Null,
        Some("array") => {
            let items = schema.get("items").unwrap_or(&Value::Null);
            let count = schema.get("minItems").and_then(Value::as_u64).unwrap_or(0);
            let count = usize::try_from(count).unwrap_or(usize::MAX).min(*budget);
            *budget -= count;
            Value::Array(
                (0..count)
                    .map(|_| value_for(items, text, n, budget))
                    .collect(),
            )
        }
        Some("object") => {
            let properties = schema.get("properties").and_then(Value::as_object);
            let mut out = Map::new();
            for key in required(schema) {
                let p = properties.and_then(|p| p.get(key)).unwrap_or(&Value::Null);
                out.insert(key.to_owned(), value_for(p, text, n, budget));
            }
            Value::Object(out)
        }
        None if schema.get("properties").is_some() => {
            value_for(&merged_type(schema, "object"), text, n, budget)
        }
        _ => Value::String(text.to_owned()),
    }
}

/// `schema` with its `type` set.
fn merged_type(schema: &Value, t: &str) -> Value {
    let mut s = schema.clone();
    if let Value::Object(o) = &mut s {
        o.insert("type".to_owned(), Value::String(t.to_owned()));
    }
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn directives() {
        let d = directive("please use tool Read with {\"file_path\": \"/tmp/a b\"} now").unwrap();
        assert_eq!(d.name, "Read");
        assert_eq!(
            Value::Object(d.args.unwrap()),
            json!({"file_path": "/tmp/a b"})
        );
        let d = directive("x use tool mcp__fs-read.").unwrap();
        assert_eq!((d.name, d.args), ("mcp__fs-read", None));
        assert_eq!(directive("use tool shell with [1]").unwrap().args, None);
        assert_eq!(directive("use tool shell with {broken").unwrap().args, None);
        assert!(directive("use tool ").is_none());
        assert!(directive("use tools").is_none());
    }

    #[test]
    fn nested_min_items_stay_small() {
        let mut schema = json!({"type": "string"});
        for _ in 0..10 {
            schema = json!({"type": "array", "minItems": 1000, "items": schema});
        }
        let s = json!({"type": "object", "additionalProperties": false,
            "properties": {"a": schema}, "required": ["a"]});
        let out = serde_json::to_string(&arguments(Some(&s), "x", 1)).unwrap();
        assert!(out.len() < 4096, "{}", out.len());
        assert!(out.starts_with(r#"{"a":[["#));
    }

    #[test]
    fn legacy_shape_where_the_schema_allows_it() {
        let args = arguments(None, "hi", 2);
        assert_eq!(
            serde_json::to_string(&args).unwrap(),
            r#"{"query":"hi","n":2}"#
        );
        assert_eq!(
            arguments(None, "hi", 2).to_value(),
            json!({"query": "hi", "n": 2})
        );
        let weather = json!({"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]});
        assert_eq!(
            arguments(Some(&weather), "rain?", 1).to_value(),
            json!({"query": "rain?", "n": 1})
        );
        // A declared `n` of another type is filled by its type.
        let s =
            json!({"type": "object", "properties": {"n": {"type": "string"}}, "required": ["n"]});
        assert_eq!(
            arguments(Some(&s), "x", 1).to_value(),
            json!({"query": "x", "n": "x"})
        );
    }

    #[test]
    fn closed_schemas_get_exactly_their_required_properties() {
        let read = json!({"type": "object", "additionalProperties": false,
            "properties": {"file_path": {"type": "string"}, "limit": {"type": "number"}},
            "required": ["file_path"]});
        assert_eq!(
            arguments(Some(&read), "a", 3).to_value(),
            json!({"file_path": "a"})
        );
        let all = json!({"type": "object", "additionalProperties": false,
            "properties": {
                "mode": {"type": "string", "enum": ["fast", "slow"]},
                "count": {"type": "integer", "minimum": 5},
                "limit": {"type": "integer", "exclusiveMinimum": 2},
                "below": {"type": "integer", "exclusiveMaximum": 1},
                "ratio": {"type": "number", "maximum": 0.5},
                "flag": {"type": ["boolean", "null"]},
                "command": {"type": "array", "items": {"type": "string"}, "minItems": 2},
                "opts": {"properties": {"k": {"const": 7}}, "required": ["k"]},
                "either": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
                "free": {}
            },
            "required": ["mode", "count", "limit", "below", "ratio", "flag", "command", "opts", "either", "free"]});
        assert_eq!(
            arguments(Some(&all), "t", 2).to_value(),
            json!({"mode": "fast", "count": 5, "limit": 3, "below": 0, "ratio": 0.5, "flag": false,
                   "command": ["t", "t"], "opts": {"k": 7}, "either": 2, "free": "t"})
        );
    }
}

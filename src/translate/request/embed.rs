//! Embedding requests between OpenAI `/v1/embeddings`, Ollama `/api/embed` and Ollama's
//! older `/api/embeddings`.
//!
//! | field | mapping |
//! | --- | --- |
//! | input | OpenAI `input` (string or strings) ↔ `/api/embed` `input` ↔ `/api/embeddings` `prompt` (one string only: its answer holds one vector, so a list is refused). OpenAI token arrays are refused for Ollama, which embeds text. |
//! | `dimensions` | OpenAI ↔ `/api/embed`; refused for `/api/embeddings`, which has none. |
//! | `encoding_format` | `float` is every API's default and is dropped; `base64` is refused for Ollama, which answers floats only. |
//! | `user` | dropped and named (no effect on the vectors). |
//! | `truncate` | dropped for other APIs: an input that fits is embedded the same; one that does not is cut by Ollama and refused by OpenAI. |
//! | Ollama `options`, `keep_alive` | kept between Ollama endpoints; for OpenAI dropped and named (hints). A `null` option is unset, as Ollama reads it (LangChain sends them), and is not named. |
//! | unknown fields | kept between Ollama endpoints, dropped and named otherwise. |

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{drop_field, drop_unknown, invalid, unsupported, Translated};
use crate::translate::{EmbedDialect, TranslateError};

#[derive(Debug, Deserialize)]
struct OpenAiRequest {
    #[serde(default)]
    model: String,
    input: Value,
    dimensions: Option<u64>,
    encoding_format: Option<String>,
    user: Option<Value>,
    #[serde(flatten)]
    unknown: Map<String, Value>,
}

#[derive(Debug, Deserialize)]
struct EmbedRequest {
    #[serde(default)]
    model: String,
    input: Value,
    truncate: Option<bool>,
    options: Option<Map<String, Value>>,
    keep_alive: Option<Value>,
    dimensions: Option<u64>,
    #[serde(flatten)]
    unknown: Map<String, Value>,
}

#[derive(Debug, Deserialize)]
struct EmbeddingsRequest {
    #[serde(default)]
    model: String,
    prompt: String,
    options: Option<Map<String, Value>>,
    keep_alive: Option<Value>,
    #[serde(flatten)]
    unknown: Map<String, Value>,
}

/// What to embed, and how.
#[derive(Debug, Default)]
struct Embed {
    model: String,
    /// A string, strings, or (OpenAI only) token arrays, as the client sent it.
    input: Value,
    dimensions: Option<u64>,
    truncate: Option<bool>,
    /// Present only from an Ollama source.
    ollama: Option<OllamaSide>,
}

#[derive(Debug, Default)]
struct OllamaSide {
    options: Map<String, Value>,
    keep_alive: Option<Value>,
    unknown: Map<String, Value>,
}

/// Translates an embedding request from the client's API to the node's. `from == to`
/// answers the body unchanged.
pub fn embed_request(
    from: EmbedDialect,
    to: EmbedDialect,
    body: &[u8],
) -> Result<Translated, TranslateError> {
    if from == to {
        return Ok(Translated {
            body: body.to_vec(),
            dropped: Vec::new(),
        });
    }
    let mut dropped = Vec::new();
    let embed = match from {
        EmbedDialect::OpenAi => {
            let r: OpenAiRequest = super::parse(body)?;
            drop_unknown(&r.unknown, &mut dropped);
            if r.user.as_ref().is_some_and(|u| !u.is_null()) {
                drop_field(&mut dropped, "user");
            }
            match r.encoding_format.as_deref() {
                None | Some("float") => {}
                Some(other) => {
                    return Err(unsupported(
                        "encoding_format",
                        &format!("Ollama answers floats only, not `{other}`"),
                    ))
                }
            }
            Embed {
                model: r.model,
                input: r.input,
                dimensions: r.dimensions,
                ..Default::default()
            }
        }
        EmbedDialect::OllamaEmbed => {
            let r: EmbedRequest = super::parse(body)?;
            Embed {
                model: r.model,
                input: r.input,
                dimensions: r.dimensions,
                truncate: r.truncate,
                ollama: Some(OllamaSide::new(r.options, r.keep_alive, r.unknown)),
            }
        }
        EmbedDialect::OllamaEmbeddings => {
            let r: EmbeddingsRequest = super::parse(body)?;
            Embed {
                model: r.model,
                input: Value::String(r.prompt),
                ollama: Some(OllamaSide::new(r.options, r.keep_alive, r.unknown)),
                ..Default::default()
            }
        }
    };
    let value = render(embed, to, &mut dropped)?;
    let body = serde_json::to_vec(&value).map_err(|e| TranslateError::Invalid(e.to_string()))?;
    Ok(Translated { body, dropped })
}

impl OllamaSide {
    /// `null` options are unset, as Ollama reads them.
    fn new(
        options: Option<Map<String, Value>>,
        keep_alive: Option<Value>,
        unknown: Map<String, Value>,
    ) -> Self {
        let mut options = options.unwrap_or_default();
        options.retain(|_, v| !v.is_null());
        OllamaSide {
            options,
            keep_alive: keep_alive.filter(|v| !v.is_null()),
            unknown,
        }
    }
}

/// Checks that `input` is text Ollama can embed: a string or a list of strings.
fn text_input(input: &Value) -> Result<(), TranslateError> {
    match input {
        Value::String(_) => Ok(()),
        Value::Array(items) if items.iter().all(Value::is_string) => Ok(()),
        Value::Array(_) => Err(unsupported("input", "Ollama embeds text, not token arrays")),
        _ => Err(invalid("input", "must be a string or a list of strings")),
    }
}

fn render(
    embed: Embed,
    to: EmbedDialect,
    dropped: &mut Vec<String>,
) -> Result<Value, TranslateError> {
    let mut out = Map::new();
    out.insert("model".into(), json!(embed.model));
    match to {
        EmbedDialect::OpenAi => {
            if let Some(side) = &embed.ollama {
                if side.keep_alive.is_some() {
                    drop_field(dropped, "keep_alive");
                }
                for key in side.options.keys() {
                    drop_field(dropped, format!("options.{key}"));
                }
                drop_unknown(&side.unknown, dropped);
            }
            text_input(&embed.input)?;
            out.insert("input".into(), embed.input);
            if let Some(dimensions) = embed.dimensions {
                out.insert("dimensions".into(), json!(dimensions));
            }
        }
        EmbedDialect::OllamaEmbed => {
            text_input(&embed.input)?;
            out.insert("input".into(), embed.input);
            if let Some(dimensions) = embed.dimensions {
                out.insert("dimensions".into(), json!(dimensions));
            }
            if let Some(truncate) = embed.truncate {
                out.insert("truncate".into(), json!(truncate));
            }
            ollama_side(embed.ollama, &mut out);
        }
        EmbedDialect::OllamaEmbeddings => {
            match embed.input {
                Value::String(prompt) => {
                    out.insert("prompt".into(), json!(prompt));
                }
                other => {
                    text_input(&other)?;
                    return Err(unsupported(
                        "input",
                        "Ollama's /api/embeddings embeds one string, not a list",
                    ));
                }
            }
            if embed.dimensions.is_some() {
                return Err(unsupported(
                    "dimensions",
                    "Ollama's /api/embeddings has no dimensions",
                ));
            }
            ollama_side(embed.ollama, &mut out);
        }
    }
    Ok(Value::Object(out))
}

/// Options, `keep_alive` and unknown fields, between Ollama endpoints.
fn ollama_side(side: Option<OllamaSide>, out: &mut Map<String, Value>) {
    let Some(side) = side else { return };
    if !side.options.is_empty() {
        out.insert("options".into(), Value::Object(side.options));
    }
    if let Some(keep_alive) = side.keep_alive {
        out.insert("keep_alive".into(), keep_alive);
    }
    for (key, value) in side.unknown {
        out.entry(key).or_insert(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use EmbedDialect::*;

    fn run(from: EmbedDialect, to: EmbedDialect, body: Value) -> Result<Value, TranslateError> {
        embed_request(from, to, body.to_string().as_bytes())
            .map(|out| serde_json::from_slice(&out.body).unwrap())
    }

    #[test]
    fn translations() {
        let rows = [
            (
                OpenAi,
                OllamaEmbed,
                json!({"model": "m", "input": "hi", "encoding_format": "float", "user": "u"}),
                json!({"model": "m", "input": "hi"}),
            ),
            (
                OpenAi,
                OllamaEmbed,
                json!({"model": "m", "input": ["a", "b"], "dimensions": 256}),
                json!({"model": "m", "input": ["a", "b"], "dimensions": 256}),
            ),
            (
                OpenAi,
                OllamaEmbeddings,
                json!({"model": "m", "input": "hi"}),
                json!({"model": "m", "prompt": "hi"}),
            ),
            (
                OllamaEmbed,
                OpenAi,
                json!({"model": "m", "input": ["a"], "truncate": true, "keep_alive": "5m",
                       "options": {"num_ctx": 2048}, "dimensions": 8}),
                json!({"model": "m", "input": ["a"], "dimensions": 8}),
            ),
            (
                OllamaEmbeddings,
                OpenAi,
                json!({"model": "m", "prompt": "p", "keep_alive": 0}),
                json!({"model": "m", "input": "p"}),
            ),
            (
                OllamaEmbeddings,
                OllamaEmbed,
                json!({"model": "m", "prompt": "p", "keep_alive": 0, "options": {"seed": 1}}),
                json!({"model": "m", "input": "p", "keep_alive": 0, "options": {"seed": 1}}),
            ),
            (
                OllamaEmbed,
                OllamaEmbeddings,
                json!({"model": "m", "input": "p", "new_field": 1}),
                json!({"model": "m", "prompt": "p", "new_field": 1}),
            ),
        ];
        for (from, to, input, want) in rows {
            assert_eq!(run(from, to, input.clone()).unwrap(), want, "{input}");
        }
    }

    #[test]
    fn refusals() {
        let rows = [
            (
                OpenAi,
                OllamaEmbed,
                json!({"model": "m", "input": [1, 2, 3]}),
                "input",
            ),
            (
                OpenAi,
                OllamaEmbed,
                json!({"model": "m", "input": [[1], [2]]}),
                "input",
            ),
            (
                OpenAi,
                OllamaEmbed,
                json!({"model": "m", "input": "a", "encoding_format": "base64"}),
                "encoding_format",
            ),
            (
                OpenAi,
                OllamaEmbeddings,
                json!({"model": "m", "input": ["a", "b"]}),
                "input",
            ),
            (
                OpenAi,
                OllamaEmbeddings,
                json!({"model": "m", "input": "a", "dimensions": 3}),
                "dimensions",
            ),
            (
                OllamaEmbed,
                OllamaEmbeddings,
                json!({"model": "m", "input": ["a"]}),
                "input",
            ),
        ];
        for (from, to, input, field) in rows {
            match run(from, to, input.clone()) {
                Err(TranslateError::Unsupported(msg)) => {
                    assert!(msg.starts_with(field), "{input}: {msg}")
                }
                other => panic!("{input}: {other:?}"),
            }
        }
        assert!(matches!(
            run(OpenAi, OllamaEmbed, json!({"model": "m", "input": 3})),
            Err(TranslateError::Invalid(_))
        ));
        assert!(matches!(
            embed_request(OpenAi, OllamaEmbed, b"[1]"),
            Err(TranslateError::Invalid(_))
        ));
    }

    /// Hints are dropped and named; `null` options are unset, as Ollama reads them.
    #[test]
    fn hints_are_dropped_and_named() {
        let rows = [
            (
                OpenAi,
                OllamaEmbed,
                json!({"model": "m", "input": "a", "x": 1, "y": null, "user": "u"}),
                json!({"model": "m", "input": "a"}),
                vec!["x", "user"],
            ),
            (
                // LangChain's OllamaEmbeddings sends every option, most of them null.
                OllamaEmbed,
                OpenAi,
                json!({"model": "m", "input": "a", "keep_alive": null,
                       "options": {"mirostat": null, "num_ctx": null, "temperature": 1, "num_gpu": 1}}),
                json!({"model": "m", "input": "a"}),
                vec!["options.num_gpu", "options.temperature"],
            ),
            (
                OllamaEmbeddings,
                OpenAi,
                json!({"model": "m", "prompt": "a", "keep_alive": "5m", "truncate_me": true}),
                json!({"model": "m", "input": "a"}),
                vec!["keep_alive", "truncate_me"],
            ),
        ];
        for (from, to, input, want, dropped) in rows {
            let out = embed_request(from, to, input.to_string().as_bytes()).unwrap();
            let got: Value = serde_json::from_slice(&out.body).unwrap();
            assert_eq!(got, want, "{input}");
            assert_eq!(out.dropped, dropped, "{input}");
        }
    }

    #[test]
    fn same_dialect_passes_through() {
        let body = br#"{"model":"m","input":"x","weird":1}"#;
        assert_eq!(
            embed_request(OpenAi, OpenAi, body).unwrap().body,
            body.to_vec()
        );
    }
}

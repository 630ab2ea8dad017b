//! Embeddings between OpenAI (`data[].embedding`, `usage.prompt_tokens`), Ollama embed
//! (`embeddings`, `prompt_eval_count`) and Ollama's older embeddings (one `embedding`, no
//! counts). Vectors are copied as the node wrote them, never re-printed through floats.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::token_counts::OllamaCounts;
use crate::translate::{EmbedDialect, ResponseContext, TranslateError, Usage};

#[derive(Deserialize)]
struct OpenAiList {
    data: Vec<OpenAiItem>,
    #[serde(default)]
    usage: Option<OpenAiEmbedUsage>,
}

#[derive(Deserialize)]
struct OpenAiItem {
    #[serde(default)]
    index: usize,
    embedding: Box<RawValue>,
}

#[derive(Deserialize, Serialize)]
struct OpenAiEmbedUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    total_tokens: u64,
}

#[derive(Deserialize)]
struct OllamaEmbed {
    embeddings: Vec<Box<RawValue>>,
}

#[derive(Deserialize)]
struct OllamaEmbeddings {
    embedding: Box<RawValue>,
}

#[derive(Serialize)]
struct OpenAiListOut<'a> {
    object: &'static str,
    data: Vec<OpenAiItemOut<'a>>,
    model: &'a str,
    usage: OpenAiEmbedUsage,
}

#[derive(Serialize)]
struct OpenAiItemOut<'a> {
    object: &'static str,
    embedding: &'a RawValue,
    index: usize,
}

#[derive(Serialize)]
struct OllamaEmbedOut<'a> {
    model: &'a str,
    embeddings: &'a [Box<RawValue>],
    #[serde(flatten)]
    counts: OllamaCounts,
}

#[derive(Serialize)]
struct OllamaEmbeddingsOut<'a> {
    embedding: &'a RawValue,
}

fn upstream(what: &str, e: impl std::fmt::Display) -> TranslateError {
    TranslateError::Upstream(format!("{what} answer: {e}"))
}

/// A vector must be a JSON array of numbers' text: an OpenAI `base64` string cannot become
/// an Ollama vector.
fn require_array(v: Box<RawValue>) -> Result<Box<RawValue>, TranslateError> {
    if v.get().starts_with('[') {
        Ok(v)
    } else {
        Err(TranslateError::Upstream(
            "embedding is not an array of numbers".to_owned(),
        ))
    }
}

/// The node's embeddings answer in the client's embeddings API, with its usage.
pub fn embed_response(
    from: EmbedDialect,
    to: EmbedDialect,
    body: &[u8],
    ctx: &ResponseContext,
) -> Result<(Vec<u8>, Usage), TranslateError> {
    let (vectors, usage) = read(from, body, to != from)?;
    let out = match to {
        EmbedDialect::OpenAi => serde_json::to_vec(&OpenAiListOut {
            object: "list",
            data: vectors
                .iter()
                .enumerate()
                .map(|(index, v)| OpenAiItemOut {
                    object: "embedding",
                    embedding: v,
                    index,
                })
                .collect(),
            model: &ctx.model,
            usage: OpenAiEmbedUsage {
                prompt_tokens: usage.input.unwrap_or(0),
                total_tokens: usage.input.unwrap_or(0),
            },
        }),
        EmbedDialect::OllamaEmbed => serde_json::to_vec(&OllamaEmbedOut {
            model: &ctx.model,
            embeddings: &vectors,
            counts: OllamaCounts {
                total_duration: Some(0),
                load_duration: Some(0),
                prompt_eval_count: usage.input,
                ..OllamaCounts::default()
            },
        }),
        EmbedDialect::OllamaEmbeddings => match vectors.as_slice() {
            [one] => serde_json::to_vec(&OllamaEmbeddingsOut { embedding: one }),
            _ => {
                return Err(TranslateError::Upstream(format!(
                    "the node answered {} embeddings for Ollama's one-prompt /api/embeddings",
                    vectors.len()
                )))
            }
        },
    }
    .map_err(|e| TranslateError::Upstream(e.to_string()))?;
    Ok((out, usage))
}

/// The vectors in input order and the usage. Vectors are checked to be arrays only when they
/// change dialect (a same-dialect answer is the node's business).
fn read(
    from: EmbedDialect,
    body: &[u8],
    check: bool,
) -> Result<(Vec<Box<RawValue>>, Usage), TranslateError> {
    let (vectors, usage) = match from {
        EmbedDialect::OpenAi => {
            let list: OpenAiList =
                serde_json::from_slice(body).map_err(|e| upstream("OpenAI embeddings", e))?;
            let mut items = list.data;
            items.sort_by_key(|i| i.index);
            let usage = Usage {
                input: list.usage.map(|u| u.prompt_tokens),
                ..Usage::default()
            };
            (items.into_iter().map(|i| i.embedding).collect(), usage)
        }
        EmbedDialect::OllamaEmbed => {
            let embed: OllamaEmbed =
                serde_json::from_slice(body).map_err(|e| upstream("Ollama embed", e))?;
            let counts: OllamaCounts =
                serde_json::from_slice(body).map_err(|e| upstream("Ollama embed", e))?;
            (embed.embeddings, counts.usage())
        }
        EmbedDialect::OllamaEmbeddings => {
            let one: OllamaEmbeddings =
                serde_json::from_slice(body).map_err(|e| upstream("Ollama embeddings", e))?;
            (vec![one.embedding], Usage::default())
        }
    };
    let vectors = if check {
        vectors
            .into_iter()
            .map(require_array)
            .collect::<Result<_, _>>()?
    } else {
        vectors
    };
    Ok((vectors, usage))
}

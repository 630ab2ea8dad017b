//! A client's request body in one dialect becomes the node's body in another.
//!
//! Each dialect has a parser into the canonical `ir::Chat` and a renderer out of it; the
//! parser refuses what its own API says that no other API can, the renderer refuses what the
//! canonical request holds that its target cannot express. Every refusal is
//! [`TranslateError::Unsupported`] naming the field; a body malformed for its own API is
//! [`TranslateError::Invalid`].
//!
//! # Choices, field by field
//!
//! | what | mapping |
//! | --- | --- |
//! | system prompt | OpenAI `system`/`developer` messages and Ollama `system` messages keep their place; to Anthropic, every system message is joined, in order, into the top-level `system` (one string, or text blocks when there are several parts). A system message in the middle of an OpenAI or Ollama conversation is moved there too: Anthropic has no other place for it, and refusing would break clients that re-send a system reminder. Anthropic `cache_control` has no counterpart and is dropped (it changes cost, not the answer). |
//! | alternation | to Anthropic, consecutive turns of one role are merged (blocks concatenated) and OpenAI/Ollama `role: tool` messages become `tool_result` blocks of one user turn. A conversation whose first turn is the assistant's is refused: Anthropic rejects it, and inventing a user turn would put words in the user's mouth. |
//! | several text parts to Ollama | Ollama has one `content` string per message: the parts are joined with a newline; images go to `images`, before the text when read back. |
//! | images | OpenAI `data:` URLs ↔ base64 with media type; `http(s)` URLs ↔ Anthropic `url` sources; Ollama `images` are base64 whose media type is read from the magic bytes (PNG, JPEG, GIF, WebP; anything else is refused for OpenAI and Anthropic, and passed as it is from generate to an Ollama chat node). A URL image to Ollama is refused (Ollama takes base64 only). OpenAI `detail` is dropped (a resolution hint). |
//! | tools | OpenAI and Ollama `function` tools ↔ Anthropic `name`/`description`/`input_schema` (an absent schema becomes an empty object schema, which Anthropic requires). OpenAI `strict` is dropped. Anthropic server tools (`web_search_…`, `bash_…`) and OpenAI `custom` tools are refused. |
//! | `tool_choice` | auto/none/required/named ↔ Anthropic auto/none/any/tool; `parallel_tool_calls: false` ↔ `disable_parallel_tool_use: true`. To Ollama (no `tool_choice`): auto is dropped, none sends no tools, required/named and `parallel_tool_calls: false` are refused. |
//! | tool calls and results | ids are kept exactly. Ollama has no ids: calls get `call_<message>_<n>` and each `role: tool` result is matched to the earliest unanswered call of the latest assistant turn with its `tool_name`. OpenAI `arguments` must be a JSON object (an empty string reads as `{}`). Anthropic `is_error` has no counterpart: the result's text is kept, the flag dropped. |
//! | reasoning | Anthropic `thinking` enabled ↔ Ollama `think: true` (the budget is dropped going to Ollama; `think: true` to Anthropic is refused for want of a budget); OpenAI `reasoning_effort` ↔ Ollama `think: "<level>"`. Thinking blocks of earlier turns go to Ollama's `thinking`, to Anthropic only with their signature, and are dropped for OpenAI, which has no reasoning input (Anthropic itself ignores the thinking of earlier turns). Redacted thinking is dropped. |
//! | `max_tokens` | OpenAI `max_completion_tokens` (preferred) or `max_tokens` ↔ Anthropic `max_tokens` (the configured default when absent) ↔ Ollama `options.num_predict` (negative: unlimited). Rendered to OpenAI as `max_tokens`, which every OpenAI-compatible server reads. |
//! | sampling | `temperature` and `top_p` everywhere (not rescaled: the APIs' ranges differ and the node rejects what it cannot take). `top_k`: Anthropic and Ollama; to OpenAI refused. `seed`, `frequency_penalty`, `presence_penalty`: OpenAI and Ollama; to Anthropic refused (a zero penalty is the default and is dropped). `stop` ↔ `stop_sequences` ↔ `options.stop`. |
//! | stream | resolved with the source's default (Ollama: true when absent) and always written out. An OpenAI target that streams also gets `stream_options.include_usage` so usage arrives. |
//! | response format | OpenAI `response_format` json_object/json_schema ↔ Ollama `format` "json"/schema; to Anthropic refused. `{type: text}` is the default and is dropped. |
//! | end user | OpenAI `user` ↔ Anthropic `metadata.user_id`; dropped for Ollama, which has no such field. |
//! | no effect on the answer | dropped: OpenAI `store`, `metadata`, `service_tier`, `prediction`, `prompt_cache_key`, `safety_identifier`, `stream_options`, a message's `name`; Anthropic `service_tier`, `cache_control`, `citations`; Ollama `keep_alive` and runtime `options` (`num_ctx`, `num_gpu`, `num_thread`…) for other targets. |
//! | refused | OpenAI `n` > 1, `logprobs`, `top_logprobs`, `logit_bias`, `audio`, `modalities` with audio, audio and file parts, `functions`/`function_call`, `verbosity`, `web_search_options`, `tool_choice` allowed_tools; Anthropic `document` and server-tool blocks, `container`, `mcp_servers`; Ollama sampling options other targets lack (`repeat_penalty`, `min_p`, `mirostat`…); generate's `suffix`, `raw`, `context` and `template`. |
//! | unknown fields | top-level fields Drover does not know are refused (they might change the answer), except from Ollama generate to an Ollama chat node, where they pass through. Unknown fields inside messages are ignored. |

mod anthropic;
mod embed;
mod image;
mod ir;
mod ollama;
mod openai;
#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;

use serde::de::DeserializeOwned;

pub use embed::embed_request;

use super::{Dialect, Options, TranslateError};

/// A request body in the node's dialect, and what of the client's was left out on the way.
#[derive(Debug, Clone, PartialEq)]
pub struct Translated {
    pub body: Vec<u8>,
    /// Paths of dropped fields (see [`ir::Chat::dropped`]), in the order they were met.
    pub dropped: Vec<String>,
}

/// Translates a chat request from the client's dialect to the node's. `from == to` answers
/// the body unchanged (the gateway passes such bodies through without calling this).
pub fn request(
    from: Dialect,
    to: Dialect,
    body: &[u8],
    options: &Options,
) -> Result<Translated, TranslateError> {
    if from == to {
        return Ok(Translated {
            body: body.to_vec(),
            dropped: Vec::new(),
        });
    }
    let mut chat = match from {
        Dialect::OpenAiChat => openai::parse(body)?,
        Dialect::AnthropicMessages => anthropic::parse(body, anthropic::Purpose::Answer)?,
        Dialect::OllamaChat => ollama::parse_chat(body)?,
        Dialect::OllamaGenerate => ollama::parse_generate(body)?,
    };
    let value = render(&mut chat, from, to, options)?;
    let body = serde_json::to_vec(&value).map_err(|e| TranslateError::Invalid(e.to_string()))?;
    Ok(Translated {
        body,
        dropped: chat.dropped,
    })
}

/// An Anthropic `count_tokens` body as a chat to an Ollama node that answers nothing but the
/// prompt's size (`num_predict: 0`, whole): its `prompt_eval_count` is the count. Parsed like
/// a message, except that `max_tokens` is not required (count_tokens takes none).
pub fn count_tokens_request(to: Dialect, body: &[u8]) -> Result<Translated, TranslateError> {
    let mut chat = anthropic::parse(body, anthropic::Purpose::Count)?;
    chat.stream = false;
    chat.sampling.max_tokens = Some(0);
    let value = render(
        &mut chat,
        Dialect::AnthropicMessages,
        to,
        &Options::default(),
    )?;
    let body = serde_json::to_vec(&value).map_err(|e| TranslateError::Invalid(e.to_string()))?;
    Ok(Translated {
        body,
        dropped: chat.dropped,
    })
}

/// The client's `count_tokens` answer from the node's answer to [`count_tokens_request`]:
/// `{"input_tokens": n}` with Ollama's `prompt_eval_count`. Ollama leaves the count out when
/// it took the whole prompt from its cache, so a missing count is an error, not a zero.
pub fn count_tokens_answer(from: Dialect, body: &[u8]) -> Result<Vec<u8>, TranslateError> {
    let count = match from {
        Dialect::OllamaChat | Dialect::OllamaGenerate => {
            serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .and_then(|v| {
                    v.get("prompt_eval_count")
                        .and_then(serde_json::Value::as_u64)
                })
        }
        Dialect::OpenAiChat | Dialect::AnthropicMessages => None,
    };
    let count = count.ok_or_else(|| {
        TranslateError::Upstream("the node's answer holds no prompt_eval_count".into())
    })?;
    serde_json::to_vec(&serde_json::json!({ "input_tokens": count }))
        .map_err(|e| TranslateError::Upstream(e.to_string()))
}

/// `chat` in the node's dialect; what the renderer drops is added to `chat.dropped` under
/// the name the client used for it.
fn render(
    chat: &mut ir::Chat,
    from: Dialect,
    to: Dialect,
    options: &Options,
) -> Result<serde_json::Value, TranslateError> {
    let mut dropped = Vec::new();
    let value = match to {
        Dialect::OpenAiChat => openai::render(chat, &mut dropped)?,
        Dialect::AnthropicMessages => anthropic::render(chat, options, &mut dropped)?,
        Dialect::OllamaChat => ollama::render(chat, &mut dropped)?,
        Dialect::OllamaGenerate => {
            return Err(TranslateError::Unsupported(
                "a node is always sent chat, never Ollama generate".into(),
            ))
        }
    };
    for field in dropped {
        drop_field(&mut chat.dropped, client_name(from, &field));
    }
    Ok(value)
}

/// The client's name for a canonical field a renderer dropped: renderers name what they
/// drop as OpenAI chat does (`user`, `seed`, `top_k`), the client may have said it otherwise.
fn client_name(from: Dialect, field: &str) -> String {
    let ollama = matches!(from, Dialect::OllamaChat | Dialect::OllamaGenerate);
    let anthropic = from == Dialect::AnthropicMessages;
    match field {
        "user" if anthropic => "metadata.user_id".into(),
        "thinking" | "reasoning_effort" if ollama => "think".into(),
        "top_k" | "seed" | "frequency_penalty" | "presence_penalty" if ollama => {
            format!("options.{field}")
        }
        _ => field.to_owned(),
    }
}

/// Parses a JSON object into a wire type, naming the path of a wrongly typed field.
pub(super) fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, TranslateError> {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => {}
        _ => {
            return Err(TranslateError::Invalid(
                "the body must be a JSON object".into(),
            ))
        }
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            TranslateError::Invalid(format!("invalid JSON: {inner}"))
        } else if path == "." {
            TranslateError::Invalid(inner.to_string())
        } else {
            TranslateError::Invalid(format!("{path}: {inner}"))
        }
    })?;
    de.end()
        .map_err(|e| TranslateError::Invalid(format!("invalid JSON: {e}")))?;
    Ok(value)
}

/// The target cannot express `field`.
pub(super) fn unsupported(field: &str, why: &str) -> TranslateError {
    TranslateError::Unsupported(format!("{field}: {why}"))
}

/// The client's body is wrong for its own API at `field`.
pub(super) fn invalid(field: &str, why: &str) -> TranslateError {
    TranslateError::Invalid(format!("{field}: {why}"))
}

/// Notes `field` as dropped, once: a field met in many places (`cache_control` on every
/// block) is named once.
pub(super) fn drop_field(dropped: &mut Vec<String>, field: impl Into<String>) {
    let field = field.into();
    if !dropped.contains(&field) {
        dropped.push(field);
    }
}

/// Drops the top-level fields no parser knew, naming each that carries a value: Drover
/// cannot tell what they would do, and every API here ignores what it does not know only
/// when it is a hint (see the table above). `null` is the same as absent and is not named.
pub(super) fn drop_unknown(
    unknown: &serde_json::Map<String, serde_json::Value>,
    dropped: &mut Vec<String>,
) {
    for (key, value) in unknown {
        if !value.is_null() {
            drop_field(dropped, key.as_str());
        }
    }
}

/// What an Ollama source says that a non-Ollama target has no counterpart for: `keep_alive`,
/// runtime options, sampling options others lack (`repeat_penalty`, `mirostat`…) and
/// unknown fields are all hints, so they are dropped and named.
pub(super) fn drop_ollama_extras(chat: &ir::Chat, dropped: &mut Vec<String>) {
    if chat
        .ollama
        .keep_alive
        .as_ref()
        .is_some_and(|v| !v.is_null())
    {
        drop_field(dropped, "keep_alive");
    }
    for key in chat.ollama.options.keys() {
        drop_field(dropped, format!("options.{key}"));
    }
    drop_unknown(&chat.ollama.unknown, dropped);
}

/// `field` as text parts only, for places that take no image (system prompts, OpenAI tool
/// results).
pub(super) fn texts<'a>(
    blocks: &'a [ir::Block],
    field: &str,
    target: &str,
) -> Result<Vec<&'a str>, TranslateError> {
    blocks
        .iter()
        .filter(|b| !matches!(b, ir::Block::Thinking { .. }))
        .map(|b| match b {
            ir::Block::Text(text) => Ok(text.as_str()),
            _ => Err(unsupported(
                field,
                &format!("{target} takes only text here"),
            )),
        })
        .collect()
}

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
//! | Responses input | OpenAI Responses (client only): `instructions` is the first system message; `input` a string (one user turn) or items: `message` (role user/assistant/system/developer; content a string or `input_text`/`output_text`/`refusal`/`input_image` parts, `file_id` refused; an item with `role` and no `type` is a message), `function_call` → a tool call (`call_id` is its id), `function_call_output` → its result (refused without an earlier call of that `call_id`), `reasoning` → thinking from its summary text (`encrypted_content` dropped), `custom_tool_call`/`_output` like function calls with `{input}` arguments. Consecutive assistant items make one assistant turn. `item_reference`, and calls of OpenAI-hosted tools, are refused. |
//! | Responses settings | `max_output_tokens` → max tokens; `temperature`, `top_p`, `parallel_tool_calls`, `stream` as in chat; `reasoning.effort` → effort (`none`: off); `text.format` json_schema/json_object → response format (`text` dropped as the default); `tool_choice` auto/none/required/`{type: function|custom, name}`; `safety_identifier` or `user` → end user. Function tools are top-level `{type, name, description, parameters}` (`strict` dropped); a `custom` tool becomes a function with one string parameter `input` (its grammar `format` dropped); hosted tools (`web_search`, `file_search`, `code_interpreter`, `local_shell`, `mcp`…) are dropped. Stateful fields (`previous_response_id`, `conversation`, `background: true`, `prompt`) are refused: Drover keeps nothing. Dropped and named: `store: true`, `metadata`, `include`, `prompt_cache_key`, `service_tier`, `truncation`, `stream_options`, `max_tool_calls`, `reasoning.summary`, `text.verbosity` and unknown fields (a `null` is the default and is neither). |
//! | unknown fields | top-level fields Drover does not know are refused (they might change the answer), except from Ollama generate to an Ollama chat node, where they pass through. Unknown fields inside messages are ignored. |

mod anthropic;
mod embed;
mod image;
mod ir;
mod ollama;
mod openai;
#[cfg(test)]
mod props;
mod responses;
#[cfg(test)]
mod tests;

use serde::de::DeserializeOwned;

pub use embed::embed_request;
pub use responses::{echo as responses_echo, CUSTOM_INPUT};

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
    let chat = match from {
        Dialect::OpenAiChat => openai::parse(body)?,
        Dialect::AnthropicMessages => anthropic::parse(body)?,
        Dialect::OllamaChat => ollama::parse_chat(body)?,
        Dialect::OllamaGenerate => ollama::parse_generate(body)?,
        Dialect::OpenAiResponses => responses::parse(body)?,
    };
    let value = match to {
        Dialect::OpenAiChat => openai::render(&chat)?,
        Dialect::AnthropicMessages => anthropic::render(&chat, options)?,
        Dialect::OllamaChat => ollama::render(&chat)?,
        Dialect::OllamaGenerate | Dialect::OpenAiResponses => {
            return Err(TranslateError::Unsupported(
                "a node is always sent chat, never Ollama generate or Responses".into(),
            ))
        }
    };
    let body = serde_json::to_vec(&value).map_err(|e| TranslateError::Invalid(e.to_string()))?;
    Ok(Translated {
        body,
        dropped: chat.dropped,
    })
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

/// Refuses the first top-level field no parser knew: it might change the answer, and the
/// target would not understand it.
pub(super) fn refuse_unknown(
    unknown: &serde_json::Map<String, serde_json::Value>,
    target: &str,
) -> Result<(), TranslateError> {
    match unknown.keys().next() {
        Some(key) => Err(unsupported(
            key,
            &format!("Drover does not translate this field to {target}"),
        )),
        None => Ok(()),
    }
}

/// Ollama `options` that only place the model in memory and so never change an answer:
/// dropped for other targets.
const OLLAMA_RUNTIME_OPTIONS: &[&str] = &[
    "numa",
    "num_ctx",
    "num_batch",
    "num_gpu",
    "main_gpu",
    "low_vram",
    "f16_kv",
    "logits_all",
    "vocab_only",
    "use_mmap",
    "use_mlock",
    "num_thread",
    "num_keep",
];

/// What an Ollama source says that a non-Ollama `target` cannot: `keep_alive` and runtime
/// options are dropped, any other option and unknown field is refused.
pub(super) fn refuse_ollama_extras(chat: &ir::Chat, target: &str) -> Result<(), TranslateError> {
    if let Some(key) = chat
        .ollama
        .options
        .keys()
        .find(|k| !OLLAMA_RUNTIME_OPTIONS.contains(&k.as_str()))
    {
        return Err(unsupported(
            &format!("options.{key}"),
            &format!("{target} has no such setting"),
        ));
    }
    refuse_unknown(&chat.ollama.unknown, target)
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

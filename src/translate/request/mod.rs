//! A client's request body in one dialect becomes the node's body in another.
//!
//! Each dialect has a parser into the canonical `ir::Chat` and a renderer out of it. A
//! request is accepted whenever the client's own API would accept it; what the target API
//! has no place for is judged by the class of the field:
//!
//! | class | rule | examples |
//! | --- | --- | --- |
//! | changes the answer's meaning or shape | honored, or refused with [`TranslateError::Unsupported`] naming the field (a 400) | OpenAI `n` > 1, `logprobs`, `logit_bias`, audio; a JSON schema to Anthropic; tools the target cannot call (Anthropic server tools, `mcp_servers`, `container`, OpenAI `custom` tools and `web_search_options`); `tool_choice` required/named or `parallel_tool_calls: false` to Ollama; generate's `suffix`, `raw`, `template`, `context` |
//! | hints, optimizations, client bookkeeping | mapped where the target has a counterpart, dropped otherwise | `output_config.effort`, `thinking` (adaptive, budgets), `reasoning_effort`, `think`; `context_management`, `cache_control`, `eager_input_streaming`, `metadata`, `prompt_cache_key`, `service_tier`, `store`, `verbosity`, `keep_alive`, sampling options the target lacks |
//! | unknown fields | dropped: an API that does not know a field cannot honor it either, and every API here treats what it does not know as a hint | top-level fields no parser reads (inside messages and blocks they are ignored, as before) |
//! | `null` | the same as absent, never named | LangChain's `options: {"mirostat": null, …}` |
//!
//! Every dropped field is pushed, once, under the client's path, onto `ir::Chat::dropped`
//! (parsers) or the renderer's list (renamed to the client's path by `client_name`), and
//! returned in [`Translated::dropped`]: the gateway names them in `x-drover-dropped` and in
//! the request record. A body malformed for its own API is [`TranslateError::Invalid`],
//! with the API's own rules (Anthropic's `max_tokens`), since a body passed through is never
//! parsed here and the node judges it.
//!
//! # Choices, field by field
//!
//! | what | mapping |
//! | --- | --- |
//! | system prompt | OpenAI `system`/`developer` messages, Ollama `system` messages and Anthropic mid-conversation `role: "system"` messages (Claude Code sends them) keep their place for OpenAI and Ollama, which take system turns anywhere; to Anthropic, every system message is joined, in order, into the top-level `system` (one string, or text blocks when there are several parts): Anthropic has no other place for it, and refusing would break clients that re-send a system reminder. Anthropic `cache_control` has no counterpart and is dropped (it changes cost, not the answer). |
//! | alternation | to Anthropic, consecutive turns of one role are merged (blocks concatenated) and OpenAI/Ollama `role: tool` messages become `tool_result` blocks of one user turn. A conversation whose first turn is the assistant's is refused: Anthropic rejects it, and inventing a user turn would put words in the user's mouth. |
//! | several text parts to Ollama | Ollama has one `content` string per message: the parts are joined with a newline; images go to `images`, before the text when read back. |
//! | images | OpenAI `data:` URLs ↔ base64 with media type; `http(s)` URLs ↔ Anthropic `url` sources; Ollama `images` are base64 whose media type is read from the magic bytes (PNG, JPEG, GIF, WebP; anything else is refused for OpenAI and Anthropic, and passed as it is from generate to an Ollama chat node). A URL image to Ollama is refused (Ollama takes base64 only). OpenAI `detail` is ignored (a resolution hint). |
//! | tools | OpenAI and Ollama `function` tools ↔ Anthropic `name`/`description`/`input_schema` (an absent schema becomes an empty object schema, which Anthropic requires). OpenAI `strict` is ignored; Anthropic `cache_control`, `eager_input_streaming` and `defer_loading` are dropped. Anthropic server tools (`web_search_…`, `bash_…`) and OpenAI `custom` tools are refused. |
//! | `tool_choice` | auto/none/required/named ↔ Anthropic auto/none/any/tool; `parallel_tool_calls: false` ↔ `disable_parallel_tool_use: true`. To Ollama (no `tool_choice`): auto is Ollama's behaviour, none sends no tools, required/named and `parallel_tool_calls: false` are refused. An Ollama client's own `tool_choice` (ollama-ai-provider sends one) is an unknown field, ignored as Ollama ignores it. |
//! | tool calls and results | ids are kept exactly. Ollama has no ids: calls get `call_<message>_<n>` and each `role: tool` result is matched to the earliest unanswered call of the latest assistant turn with its `tool_name`. OpenAI `arguments` must be a JSON object (an empty string reads as `{}`). Anthropic `is_error` has no counterpart: the result's text is kept, the flag dropped. |
//! | reasoning | One setting: off, on (with a budget or not) or an effort level. Anthropic `thinking` enabled/adaptive/disabled and `output_config.effort` (an effort wins over thinking on, disabled thinking over an effort, which is then dropped) ↔ Ollama `think` (true/false/level) ↔ OpenAI `reasoning_effort`. To OpenAI a budget becomes a level (≤ 4096 low, ≤ 16384 medium, else high), Anthropic's `max` is `high`, thinking on without a budget is dropped (a reasoning model's default). To Ollama a budget is dropped (`think: true`). To Anthropic a level becomes a budget (low 2048, medium and plain on 8192, high 24576) kept below `max_tokens`, dropped when `max_tokens` leaves no room for Anthropic's least (1024); `minimal`/`none` is off. Thinking blocks of earlier turns go to Ollama's `thinking`, to Anthropic only with their signature, and are left out for OpenAI, which has no reasoning input (Anthropic itself ignores the thinking of earlier turns). Redacted thinking is left out. |
//! | `max_tokens` | OpenAI `max_completion_tokens` (preferred) or `max_tokens` ↔ Anthropic `max_tokens` (required from Anthropic clients as Anthropic requires it; the configured default when another client omits it) ↔ Ollama `options.num_predict` (negative: unlimited). Rendered to OpenAI as `max_tokens`, which every OpenAI-compatible server reads. |
//! | sampling | `temperature` and `top_p` everywhere (not rescaled: the APIs' ranges differ and the node rejects what it cannot take). `top_k`: Anthropic and Ollama; dropped for OpenAI. `seed`, `frequency_penalty`, `presence_penalty`: OpenAI and Ollama; dropped for Anthropic (a zero penalty is the default and is not named). `stop` ↔ `stop_sequences` ↔ `options.stop`. Ollama options other targets lack (`repeat_penalty`, `min_p`, `mirostat`…) and runtime options (`num_ctx`, `num_gpu`…) are dropped for them. |
//! | stream | resolved with the source's default (Ollama: true when absent) and always written out. An OpenAI target that streams also gets `stream_options.include_usage` so usage arrives; the client's own `stream_options` is read by the gateway, never passed on. |
//! | response format | OpenAI `response_format` json_object/json_schema ↔ Ollama `format` "json"/schema; Anthropic `output_config.format` (json_schema) → both; to Anthropic refused. `{type: text}` is the default and is not named. |
//! | end user | OpenAI `user` ↔ Anthropic `metadata.user_id`; dropped for Ollama, which has no such field. Other `metadata` keys are dropped. |
//! | no effect on the answer | dropped: OpenAI `store`, `metadata`, `service_tier`, `prediction`, `prompt_cache_key`, `safety_identifier`, `verbosity`; Anthropic `service_tier`, `context_management`, `cache_control`, `citations`, other `output_config` keys; Ollama `keep_alive` for other targets. A message's `name` is ignored. |
//! | refused | see the first table. |
//! | Responses input | OpenAI Responses (client only): `instructions` is the first system message; `input` a string (one user turn) or items: `message` (role user/assistant/system/developer; content a string or `input_text`/`output_text`/`refusal`/`input_image` parts, `file_id` refused; an item with `role` and no `type` is a message), `function_call` → a tool call (`call_id` is its id), `function_call_output` → its result (refused without an earlier call of that `call_id`), `reasoning` → thinking from its summary text (`encrypted_content` dropped), `custom_tool_call`/`_output` like function calls with `{input}` arguments. Consecutive assistant items make one assistant turn. `item_reference`, and calls of OpenAI-hosted tools, are refused. |
//! | Responses settings | `max_output_tokens` → max tokens; `temperature`, `top_p`, `parallel_tool_calls`, `stream` as in chat; `reasoning.effort` → effort (`none`: off); `text.format` json_schema/json_object → response format (`text` dropped as the default); `tool_choice` auto/none/required/`{type: function|custom, name}`; `safety_identifier` or `user` → end user. Function tools are top-level `{type, name, description, parameters}` (`strict` dropped); a `custom` tool becomes a function with one string parameter `input` (its grammar `format` dropped); hosted tools (`web_search`, `file_search`, `code_interpreter`, `local_shell`, `mcp`…) are dropped. Stateful fields (`previous_response_id`, `conversation`, `background: true`, `prompt`) are refused: Drover keeps nothing. Dropped and named: `store: true`, `metadata`, `include`, `prompt_cache_key`, `service_tier`, `truncation`, `stream_options`, `max_tool_calls`, `reasoning.summary`, `text.verbosity` and unknown fields (a `null` is the default and is neither). |
//! | unknown fields | top-level fields Drover does not know are dropped and named, except from Ollama generate to an Ollama chat node, where they pass through. Unknown fields inside messages are ignored. |
//! | `count_tokens` | [`count_tokens_request`] reads an Anthropic body without requiring `max_tokens` and renders it for a node that generates nothing (`num_predict: 0`, whole); [`count_tokens_answer`] reads Ollama's `prompt_eval_count` back as `input_tokens`. |

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
    let mut chat = match from {
        Dialect::OpenAiChat => openai::parse(body)?,
        Dialect::AnthropicMessages => anthropic::parse(body, anthropic::Purpose::Answer)?,
        Dialect::OllamaChat => ollama::parse_chat(body)?,
        Dialect::OllamaGenerate => ollama::parse_generate(body)?,
        Dialect::OpenAiResponses => responses::parse(body)?,
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
        // Only Ollama nodes are asked to count this way.
        _ => None,
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
        Dialect::OllamaGenerate | Dialect::OpenAiResponses => {
            return Err(TranslateError::Unsupported(
                "a node is always sent chat, never Ollama generate or Responses".into(),
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
    let responses = from == Dialect::OpenAiResponses;
    match field {
        "user" if anthropic => "metadata.user_id".into(),
        "thinking" | "reasoning_effort" if responses => "reasoning.effort".into(),
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

/// OpenAI's `tool_choice` as a word, which chat and Responses share (`auto`, `none`,
/// `required`); their object forms differ and are read by each parser.
pub(super) fn tool_choice_word(word: &str) -> Result<ir::ToolChoice, TranslateError> {
    match word {
        "auto" => Ok(ir::ToolChoice::Auto),
        "none" => Ok(ir::ToolChoice::None),
        "required" => Ok(ir::ToolChoice::Required),
        other => Err(invalid("tool_choice", &format!("unknown value `{other}`"))),
    }
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

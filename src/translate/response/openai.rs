//! OpenAI chat completions, whole: `choices[0].message` with `content`, `tool_calls`
//! (`arguments` a JSON string) and, from OpenAI-compatible reasoning servers,
//! `reasoning_content` (or `reasoning`).

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::{
    answer::{arguments_from_json, generated_call_id, Answer, Block, Finish, Timings, ToolCall},
    token_counts::OpenAiCounts,
};
use crate::translate::{ResponseContext, TranslateError, Usage};

#[derive(Deserialize)]
struct Completion {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<OpenAiCounts>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    message: Message,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize, Default)]
struct Message {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    reasoning_content: Option<String>,
    #[serde(default)]
    reasoning: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<WireCall>>,
}

#[derive(Deserialize)]
struct WireCall {
    #[serde(default)]
    id: Option<String>,
    function: WireFunction,
}

#[derive(Deserialize)]
struct WireFunction {
    #[serde(default)]
    name: String,
    #[serde(default)]
    arguments: Option<Box<RawValue>>,
}

#[derive(Deserialize)]
struct UsageOnly {
    #[serde(default)]
    usage: Option<OpenAiCounts>,
}

pub(super) fn usage(body: &[u8]) -> Option<Usage> {
    serde_json::from_slice::<UsageOnly>(body)
        .ok()?
        .usage
        .map(|u| u.usage())
}

/// Reads the first choice (Drover asks other APIs for one; `n` is refused on the way in).
/// A `refusal` is read as text: no other API has a field for it.
pub(super) fn parse(body: &[u8]) -> Result<Answer, TranslateError> {
    let completion: Completion = serde_json::from_slice(body)
        .map_err(|e| TranslateError::Upstream(format!("OpenAI answer: {e}")))?;
    let choice = completion
        .choices
        .into_iter()
        .next()
        .ok_or_else(|| TranslateError::Upstream("OpenAI answer has no choices".to_owned()))?;
    let message = choice.message;
    let mut blocks = Vec::new();
    if let Some(thinking) = message.reasoning_content.or(message.reasoning) {
        if !thinking.is_empty() {
            blocks.push(Block::Thinking {
                text: thinking,
                signature: None,
            });
        }
    }
    let text: String = message.content.into_iter().chain(message.refusal).collect();
    if !text.is_empty() {
        blocks.push(Block::Text(text));
    }
    for (n, call) in message
        .tool_calls
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        let arguments = match call.function.arguments {
            Some(raw) => arguments_from_json(raw)?,
            None => super::answer::arguments_from_string("")?,
        };
        blocks.push(Block::ToolCall(ToolCall {
            id: call.id.unwrap_or_else(|| generated_call_id(n)),
            name: call.function.name,
            arguments,
        }));
    }
    let has_tools = blocks.iter().any(|b| matches!(b, Block::ToolCall(_)));
    Ok(Answer {
        id: completion.id,
        blocks,
        finish: choice
            .finish_reason
            .as_deref()
            .map(|r| Finish::from_openai(r, has_tools)),
        stop_sequence: None,
        usage: completion.usage.map(|u| u.usage()).unwrap_or_default(),
        timings: Timings::default(),
    })
}

#[derive(Serialize)]
struct CompletionOut<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: [ChoiceOut<'a>; 1],
    usage: OpenAiCounts,
}

#[derive(Serialize)]
struct ChoiceOut<'a> {
    index: u32,
    message: MessageOut<'a>,
    logprobs: Option<()>,
    finish_reason: &'static str,
}

#[derive(Serialize)]
struct MessageOut<'a> {
    role: &'static str,
    content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<CallOut<'a>>,
}

#[derive(Serialize)]
pub(crate) struct CallOut<'a> {
    pub id: &'a str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub function: FunctionOut<'a>,
}

#[derive(Serialize)]
pub(crate) struct FunctionOut<'a> {
    pub name: &'a str,
    pub arguments: &'a str,
}

/// `content` is null when the answer is only tool calls, as OpenAI sends it; thinking goes
/// to `reasoning_content`, the field OpenAI-compatible reasoning servers (DeepSeek, vLLM)
/// use and the official clients keep as an extra field. Signatures and redacted thinking
/// have no OpenAI form and are left out.
pub(super) fn render(
    answer: &Answer,
    ctx: &ResponseContext,
    id: &str,
) -> Result<Vec<u8>, TranslateError> {
    let text = answer.text();
    let tool_calls: Vec<CallOut<'_>> = answer
        .tool_calls()
        .map(|c| CallOut {
            id: &c.id,
            kind: "function",
            function: FunctionOut {
                name: &c.name,
                arguments: c.arguments.get(),
            },
        })
        .collect();
    let content = if text.is_empty() && !tool_calls.is_empty() {
        None
    } else {
        Some(text)
    };
    let body = CompletionOut {
        id,
        object: "chat.completion",
        created: ctx.created,
        model: &ctx.model,
        choices: [ChoiceOut {
            index: 0,
            message: MessageOut {
                role: "assistant",
                content,
                reasoning_content: answer.thinking(),
                tool_calls,
            },
            logprobs: None,
            finish_reason: answer.finish().openai(),
        }],
        usage: OpenAiCounts::from_usage(&answer.usage),
    };
    serde_json::to_vec(&body).map_err(|e| TranslateError::Upstream(e.to_string()))
}

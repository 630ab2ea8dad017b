//! Each dialect's token counts on the wire, and their conversion to and from [`Usage`], so
//! whole answers and streams count cached tokens the same way.
//!
//! Anthropic counts cached prompt tokens apart from `input_tokens`; OpenAI includes them in
//! `prompt_tokens` and names the cached share in `prompt_tokens_details.cached_tokens`. So
//! Anthropic `input_tokens + cache_read + cache_creation` is OpenAI's `prompt_tokens`, and
//! back, Anthropic's `input_tokens` is `prompt_tokens - cached`. OpenAI cannot name tokens
//! written to a cache: they stay counted in `prompt_tokens`.

use serde::{Deserialize, Serialize};

use super::answer::Timings;
use crate::translate::Usage;

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize)]
pub(crate) struct AnthropicCounts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_creation_input_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_input_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
}

impl AnthropicCounts {
    pub fn usage(&self) -> Usage {
        let cached = self
            .cache_read_input_tokens
            .unwrap_or(0)
            .saturating_add(self.cache_creation_input_tokens.unwrap_or(0));
        Usage {
            input: self.input_tokens.map(|i| i.saturating_add(cached)),
            output: self.output_tokens,
            cache_read: self.cache_read_input_tokens,
            cache_write: self.cache_creation_input_tokens,
        }
    }

    pub fn from_usage(usage: &Usage) -> Self {
        let cached = usage
            .cache_read
            .unwrap_or(0)
            .saturating_add(usage.cache_write.unwrap_or(0));
        AnthropicCounts {
            input_tokens: usage.input.map(|i| i.saturating_sub(cached)),
            cache_creation_input_tokens: usage.cache_write,
            cache_read_input_tokens: usage.cache_read,
            output_tokens: usage.output,
        }
    }

    /// Fields later counts report replace earlier ones (a stream's `message_delta` updates
    /// what `message_start` said).
    pub fn update(&mut self, later: &AnthropicCounts) {
        self.input_tokens = later.input_tokens.or(self.input_tokens);
        self.cache_creation_input_tokens = later
            .cache_creation_input_tokens
            .or(self.cache_creation_input_tokens);
        self.cache_read_input_tokens = later
            .cache_read_input_tokens
            .or(self.cache_read_input_tokens);
        self.output_tokens = later.output_tokens.or(self.output_tokens);
    }

    /// Anthropic requires `input_tokens` and `output_tokens`: 0 where the node said nothing.
    pub fn complete(mut self) -> Self {
        self.input_tokens.get_or_insert(0);
        self.output_tokens.get_or_insert(0);
        self
    }
}

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize)]
pub(crate) struct OpenAiCounts {
    #[serde(default)]
    pub prompt_tokens: u64,
    #[serde(default)]
    pub completion_tokens: u64,
    #[serde(default)]
    pub total_tokens: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens_details: Option<PromptDetails>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize)]
pub(crate) struct PromptDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_tokens: Option<u64>,
}

impl OpenAiCounts {
    pub fn usage(&self) -> Usage {
        Usage {
            input: Some(self.prompt_tokens),
            output: Some(self.completion_tokens),
            cache_read: self.prompt_tokens_details.and_then(|d| d.cached_tokens),
            cache_write: None,
        }
    }

    pub fn from_usage(usage: &Usage) -> Self {
        let prompt = usage.input.unwrap_or(0);
        let completion = usage.output.unwrap_or(0);
        OpenAiCounts {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt.saturating_add(completion),
            prompt_tokens_details: usage.cache_read.map(|cached| PromptDetails {
                cached_tokens: Some(cached),
            }),
        }
    }
}

/// The counts and durations on Ollama's last line (`done: true`).
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize)]
pub(crate) struct OllamaCounts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_duration: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_duration: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_eval_count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_eval_duration: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_duration: Option<u64>,
}

impl OllamaCounts {
    pub fn usage(&self) -> Usage {
        Usage {
            input: self.prompt_eval_count,
            output: self.eval_count,
            cache_read: None,
            cache_write: None,
        }
    }

    pub fn timings(&self) -> Timings {
        Timings {
            total: self.total_duration,
            load: self.load_duration,
            prompt_eval: self.prompt_eval_duration,
            eval: self.eval_duration,
        }
    }

    /// Durations the node did not give are 0 (clients read them as numbers); counts it did
    /// not give stay out rather than claim 0 tokens.
    pub fn from_usage(usage: &Usage, timings: &Timings) -> Self {
        OllamaCounts {
            total_duration: Some(timings.total.unwrap_or(0)),
            load_duration: Some(timings.load.unwrap_or(0)),
            prompt_eval_count: usage.input,
            prompt_eval_duration: Some(timings.prompt_eval.unwrap_or(0)),
            eval_count: usage.output,
            eval_duration: Some(timings.eval.unwrap_or(0)),
        }
    }
}

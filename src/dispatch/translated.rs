//! Answers from a node that speaks another API than the client: a whole answer (or an error)
//! is read in full and translated before the client sees a byte, so a node that breaks off or
//! answers something unreadable can still be failed over; a stream gets a `StreamTranslator`
//! for the relay.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use tokio::time::timeout;

use super::upstream::Answer;
use crate::{
    error::UpstreamError,
    inbound::Inbound,
    providers::Codec,
    translate::{self, stream::StreamTranslator, ResponseContext},
};

/// Most of a whole answer read to translate it: a chat answer or an embeddings batch.
const MAX_WHOLE: usize = 64 * 1024 * 1024;

/// Why an answer could not be made the client's.
pub enum Failed {
    /// The node failed (broke off, went silent): another node may do better.
    Node(UpstreamError),
    /// The node answered, but its answer cannot be said in the client's API (tool arguments
    /// that are not JSON, say). Running the generation again elsewhere would cost as much and
    /// likely fail alike, so the client gets a 502 naming the cause.
    Answer(String),
}

pub enum Translation {
    /// The client's whole body, with its status.
    Whole { status: u16, body: Bytes },
    /// A stream: the relay sends each chunk through the translator.
    Stream(Box<StreamTranslator>),
}

/// Prepares the translation of `answer` for `request`. Errors are the node's: the caller may
/// try another node.
pub async fn answer(
    mut answer: Answer,
    codec: Codec,
    request: &Inbound,
    node: &str,
    idle: Duration,
) -> Result<(Answer, Translation), Failed> {
    let status = answer.response.status().as_u16();
    let context = ResponseContext {
        model: request.model.to_string(),
        id: request.request_id.to_string(),
        created: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        include_usage: include_usage(&request.body),
        responses: matches!(
            codec,
            Codec::Chat {
                client: translate::Dialect::OpenAiResponses,
                ..
            }
        )
        .then(|| std::sync::Arc::new(translate::request::responses_echo(&request.body))),
    };
    if let (Codec::Chat { node: from, client }, true, true) = (codec, request.stream, status < 400)
    {
        return Ok((
            answer,
            Translation::Stream(Box::new(StreamTranslator::new(from, client, context))),
        ));
    }
    let body = read_rest(&mut answer, node, idle)
        .await
        .map_err(Failed::Node)?;
    let untranslatable = |e: translate::TranslateError| {
        Failed::Answer(format!(
            "node {node}: its answer could not be translated: {e}"
        ))
    };
    let (status, body) = match codec {
        Codec::PassThrough | Codec::Local => (status, body),
        Codec::Chat { node: from, client } if status >= 400 => {
            let (status, body) = translate::errors::error(from, client, status, &body);
            (status, Bytes::from(body))
        }
        Codec::Embed { node: from, client } if status >= 400 => {
            let (status, body) =
                translate::errors::error(chat_family(from), chat_family(client), status, &body);
            (status, Bytes::from(body))
        }
        Codec::Chat { node: from, client } => {
            let (body, _) = translate::response::response(from, client, &body, &context)
                .map_err(untranslatable)?;
            (status, Bytes::from(body))
        }
        Codec::Embed { node: from, client } => {
            let (body, _) = translate::response::embed_response(from, client, &body, &context)
                .map_err(untranslatable)?;
            (status, Bytes::from(body))
        }
        Codec::TokenCount { node: from } if status >= 400 => {
            let client = translate::Dialect::AnthropicMessages;
            let (status, body) = translate::errors::error(from, client, status, &body);
            (status, Bytes::from(body))
        }
        Codec::TokenCount { node: from } => {
            let body =
                translate::request::count_tokens_answer(from, &body).map_err(untranslatable)?;
            (status, Bytes::from(body))
        }
    };
    Ok((answer, Translation::Whole { status, body }))
}

/// The chat dialect whose error shape an embeddings API shares.
fn chat_family(embed: translate::EmbedDialect) -> translate::Dialect {
    match embed {
        translate::EmbedDialect::OpenAi => translate::Dialect::OpenAiChat,
        translate::EmbedDialect::OllamaEmbed | translate::EmbedDialect::OllamaEmbeddings => {
            translate::Dialect::OllamaChat
        }
    }
}

/// The rest of a whole answer after its first chunk, each chunk within `idle`.
async fn read_rest(
    answer: &mut Answer,
    node: &str,
    idle: Duration,
) -> Result<Bytes, UpstreamError> {
    let broken = |message: String| UpstreamError::Broken {
        node: node.to_owned(),
        message,
    };
    // The head came, so the node lives: a body cut off is counted softly (see `Cut`).
    let cut = |message: String| UpstreamError::Cut {
        node: node.to_owned(),
        message,
    };
    let mut body = BytesMut::new();
    if let Some(first) = answer.first_chunk.take() {
        body.extend_from_slice(&first);
    }
    loop {
        match timeout(idle, answer.response.next()).await {
            Err(_) => return Err(broken(format!("no data for {idle:?}"))),
            Ok(None) => break,
            Ok(Some(Err(e))) => return Err(cut(e.to_string())),
            Ok(Some(Ok(chunk))) => {
                if body.len() + chunk.len() > MAX_WHOLE {
                    return Err(broken(format!(
                        "its answer is larger than {MAX_WHOLE} bytes"
                    )));
                }
                body.extend_from_slice(&chunk);
            }
        }
    }
    Ok(body.freeze())
}

/// Whether an OpenAI client asked for the usage chunk of a stream.
fn include_usage(body: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Options {
        include_usage: Option<bool>,
    }
    #[derive(serde::Deserialize)]
    struct Head {
        stream_options: Option<Options>,
    }
    serde_json::from_slice::<Head>(body)
        .ok()
        .and_then(|h| h.stream_options)
        .and_then(|o| o.include_usage)
        .unwrap_or(false)
}

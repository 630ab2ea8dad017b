//! OpenAI Responses events, each `event: <type>` with a `data:` object carrying the same
//! `type` and an increasing `sequence_number`: `response.created` and
//! `response.in_progress`, then each output item in order (`response.output_item.added`,
//! its content events, `response.output_item.done`), then `response.completed` or
//! `response.incomplete` with the whole response and its usage; `response.failed` on an
//! error.
//!
//! Items are written one at a time, as the SDKs expect. A tool call that starts while
//! another is open waits with its argument pieces (at most [`MAX_HELD`] bytes) until the
//! calls before it are done; OpenAI nodes end their calls only by finishing. A call of a
//! `custom` tool is written whole once complete: its free text is inside the function
//! arguments and is known only then.

use std::{
    borrow::Cow,
    collections::{HashMap, VecDeque},
};

use serde::Serialize;
use serde_json::value::RawValue;

use super::{held_too_long, Totals};
use crate::translate::{
    response::{
        answer::Finish,
        responses::{
            call_item, custom_input, is_custom, message_item, reasoning_item, rendered,
            summary_part, text_part, Ids, Item, ResponseError, ResponseObject, Status, SummaryPart,
            TextPart,
        },
    },
    stream::{event::Event, MAX_HELD},
    ResponseContext, TranslateError,
};

/// The item being written, when it is text or reasoning (tool calls are tracked in
/// `queue`).
enum Open {
    Nothing,
    Text {
        index: usize,
        id: String,
        text: String,
    },
    Reasoning {
        index: usize,
        id: String,
        text: String,
    },
}

struct Call {
    id: String,
    name: String,
    custom: bool,
    /// The arguments so far, for the `done` events and the final output.
    arguments: String,
    /// Its `output_item.added` was written (the call is live), with its item id.
    index: Option<usize>,
    item_id: String,
    /// The node said the call is complete.
    ended: bool,
    closed: bool,
}

pub(crate) struct Encoder {
    ctx: ResponseContext,
    ids: Ids,
    sequence: u64,
    started: bool,
    next_index: usize,
    /// Items done, rendered once for their `done` event and kept for the terminal response.
    output: Vec<Box<RawValue>>,
    open: Open,
    calls: HashMap<u64, Call>,
    /// Calls not yet done, in the order they started; the front one may be live.
    queue: VecDeque<u64>,
    held: usize,
    finish: Option<Finish>,
}

/// The frequent events (text, reasoning and argument pieces), serialized without a map.
#[derive(Serialize)]
struct Delta<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    sequence_number: u64,
    item_id: &'a str,
    output_index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    content_index: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    summary_index: Option<u32>,
    delta: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    logprobs: Option<[(); 0]>,
}

/// The other events about an item's content (parts added and done, text and arguments
/// done), each with the fields it has. They are declared in name order: these events were
/// first written as JSON maps, which sort their keys, and clients have seen them so since.
#[derive(Serialize)]
struct ContentFrame<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    arguments: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content_index: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    input: Option<&'a str>,
    item_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    logprobs: Option<[(); 0]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    output_index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    part: Option<Part<'a>>,
    sequence_number: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    summary_index: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
    #[serde(rename = "type")]
    kind: &'static str,
}

impl<'a> ContentFrame<'a> {
    fn new(kind: &'static str, item_id: &'a str, output_index: usize) -> Self {
        ContentFrame {
            arguments: None,
            content_index: None,
            input: None,
            item_id,
            logprobs: None,
            name: None,
            output_index,
            part: None,
            sequence_number: 0,
            summary_index: None,
            text: None,
            kind,
        }
    }
}

#[derive(Serialize)]
#[serde(untagged)]
enum Part<'a> {
    Text(TextPart<'a>),
    Summary(SummaryPart<'a>),
}

/// `output_item.added` and `.done`, in name order as [`ContentFrame`].
#[derive(Serialize)]
struct ItemFrame<'a, I: Serialize + ?Sized> {
    item: &'a I,
    output_index: usize,
    sequence_number: u64,
    #[serde(rename = "type")]
    kind: &'static str,
}

/// The events that carry the whole `response`, in name order as [`ContentFrame`].
#[derive(Serialize)]
struct ResponseFrame<'a> {
    response: ResponseObject<'a>,
    sequence_number: u64,
    #[serde(rename = "type")]
    kind: &'static str,
}

impl Encoder {
    pub fn new(ctx: ResponseContext) -> Self {
        Encoder {
            ids: Ids::new(&ctx),
            ctx,
            sequence: 0,
            started: false,
            next_index: 0,
            output: Vec::new(),
            open: Open::Nothing,
            calls: HashMap::new(),
            queue: VecDeque::new(),
            held: 0,
            finish: None,
        }
    }

    pub fn event(
        &mut self,
        event: Event,
        totals: &Totals,
        out: &mut Vec<u8>,
    ) -> Result<(), TranslateError> {
        if !matches!(event, Event::Ping) {
            self.start(out)?;
        }
        match event {
            Event::Start { .. }
            | Event::Usage(_)
            | Event::Timings(_)
            | Event::Error { .. }
            | Event::Signature(_)
            | Event::RedactedThinking(_)
            | Event::Ping => Ok(()),
            Event::Text(text) => self.text(false, &text, out),
            Event::Thinking(text) => self.text(true, &text, out),
            Event::BlockEnd => self.close_open(out),
            Event::ToolStart { key, id, name } => self.tool_start(key, id, name, out),
            Event::ToolArgs { key, piece } => self.tool_args(key, &piece, out),
            Event::ToolEnd { key } => {
                if let Some(call) = self.calls.get_mut(&key) {
                    call.ended = true;
                }
                self.advance(out)
            }
            Event::Finish { reason, .. } => {
                self.finish = Some(reason);
                self.settle(out)
            }
            Event::End => {
                self.settle(out)?;
                let finish = self
                    .finish
                    .unwrap_or(Finish::natural(!self.calls.is_empty()));
                let status = Status::of(finish);
                let kind = match status {
                    Status::Incomplete(_) => "response.incomplete",
                    _ => "response.completed",
                };
                let output = std::mem::take(&mut self.output);
                self.write_response(kind, status, &output, Some(&totals.usage), None, out)
            }
        }
    }

    /// `response.failed`, with the items done so far and the node's error type as `code`.
    pub fn error(&mut self, message: &str, kind: Option<&str>, out: &mut Vec<u8>) {
        let error = ResponseError {
            code: kind.unwrap_or("server_error"),
            message,
        };
        let output = std::mem::take(&mut self.output);
        // Made of strings and numbers only: it always serializes.
        let _ = self.write_response(
            "response.failed",
            Status::Failed,
            &output,
            None,
            Some(error),
            out,
        );
    }

    fn start(&mut self, out: &mut Vec<u8>) -> Result<(), TranslateError> {
        if self.started {
            return Ok(());
        }
        self.started = true;
        let progress = Status::InProgress;
        self.write_response("response.created", progress, &[], None, None, out)?;
        self.write_response("response.in_progress", progress, &[], None, None, out)
    }

    fn text(
        &mut self,
        reasoning: bool,
        piece: &str,
        out: &mut Vec<u8>,
    ) -> Result<(), TranslateError> {
        let open_kind = match self.open {
            Open::Text { .. } => Some(false),
            Open::Reasoning { .. } => Some(true),
            Open::Nothing => None,
        };
        if open_kind != Some(reasoning) {
            self.settle(out)?;
            self.open_text(reasoning, out)?;
        }
        let sequence_number = self.next_sequence();
        let (kind, item_id, output_index, content_index, summary_index, logprobs) =
            match &mut self.open {
                Open::Text { index, id, text } => {
                    text.push_str(piece);
                    (
                        "response.output_text.delta",
                        id.as_str(),
                        *index,
                        Some(0),
                        None,
                        Some([]),
                    )
                }
                Open::Reasoning { index, id, text } => {
                    text.push_str(piece);
                    let kind = "response.reasoning_summary_text.delta";
                    (kind, id.as_str(), *index, None, Some(0), None)
                }
                Open::Nothing => return Ok(()),
            };
        let delta = Delta {
            kind,
            sequence_number,
            item_id,
            output_index,
            content_index,
            summary_index,
            delta: piece,
            logprobs,
        };
        write_frame(out, kind, &delta)
    }

    fn open_text(&mut self, reasoning: bool, out: &mut Vec<u8>) -> Result<(), TranslateError> {
        let index = self.take_index();
        if reasoning {
            let id = self.ids.item("rs", index);
            self.added(index, &reasoning_item(&id, None), out)?;
            let frame = ContentFrame {
                part: Some(Part::Summary(summary_part(""))),
                summary_index: Some(0),
                ..ContentFrame::new("response.reasoning_summary_part.added", &id, index)
            };
            self.write(frame, out)?;
            self.open = Open::Reasoning {
                index,
                id,
                text: String::new(),
            };
        } else {
            let id = self.ids.item("msg", index);
            self.added(index, &message_item(&id, "", Status::InProgress), out)?;
            let frame = ContentFrame {
                content_index: Some(0),
                part: Some(Part::Text(text_part(""))),
                ..ContentFrame::new("response.content_part.added", &id, index)
            };
            self.write(frame, out)?;
            self.open = Open::Text {
                index,
                id,
                text: String::new(),
            };
        }
        Ok(())
    }

    /// Ends the open text or reasoning item.
    fn close_open(&mut self, out: &mut Vec<u8>) -> Result<(), TranslateError> {
        match std::mem::replace(&mut self.open, Open::Nothing) {
            Open::Nothing => Ok(()),
            Open::Text { index, id, text } => {
                let frame = ContentFrame {
                    content_index: Some(0),
                    logprobs: Some([]),
                    text: Some(&text),
                    ..ContentFrame::new("response.output_text.done", &id, index)
                };
                self.write(frame, out)?;
                let frame = ContentFrame {
                    content_index: Some(0),
                    part: Some(Part::Text(text_part(&text))),
                    ..ContentFrame::new("response.content_part.done", &id, index)
                };
                self.write(frame, out)?;
                self.done(index, &message_item(&id, &text, Status::Completed), out)
            }
            Open::Reasoning { index, id, text } => {
                let frame = ContentFrame {
                    summary_index: Some(0),
                    text: Some(&text),
                    ..ContentFrame::new("response.reasoning_summary_text.done", &id, index)
                };
                self.write(frame, out)?;
                let frame = ContentFrame {
                    part: Some(Part::Summary(summary_part(&text))),
                    summary_index: Some(0),
                    ..ContentFrame::new("response.reasoning_summary_part.done", &id, index)
                };
                self.write(frame, out)?;
                self.done(index, &reasoning_item(&id, Some(&text)), out)
            }
        }
    }

    fn tool_start(
        &mut self,
        key: u64,
        id: String,
        name: String,
        out: &mut Vec<u8>,
    ) -> Result<(), TranslateError> {
        if self.calls.contains_key(&key) {
            return Ok(());
        }
        self.close_open(out)?;
        let custom = is_custom(&self.ctx, &name);
        self.calls.insert(
            key,
            Call {
                id,
                name,
                custom,
                arguments: String::new(),
                index: None,
                item_id: String::new(),
                ended: false,
                closed: false,
            },
        );
        self.queue.push_back(key);
        self.advance(out)
    }

    fn tool_args(
        &mut self,
        key: u64,
        piece: &str,
        out: &mut Vec<u8>,
    ) -> Result<(), TranslateError> {
        let call = self.calls.get_mut(&key).ok_or_else(|| {
            TranslateError::Upstream("tool call arguments before the call".to_owned())
        })?;
        if call.closed {
            return Err(TranslateError::Upstream(format!(
                "the node sent arguments for tool call {key} after it was done"
            )));
        }
        call.arguments.push_str(piece);
        let Some(output_index) = call.index.filter(|_| !call.custom) else {
            self.held = self.held.saturating_add(piece.len());
            if self.held > MAX_HELD {
                return Err(held_too_long());
            }
            return Ok(());
        };
        let sequence_number = self.next_sequence();
        let Some(call) = self.calls.get(&key) else {
            return Ok(());
        };
        let delta = Delta {
            kind: "response.function_call_arguments.delta",
            sequence_number,
            item_id: &call.item_id,
            output_index,
            content_index: None,
            summary_index: None,
            delta: piece,
            logprobs: None,
        };
        write_frame(out, delta.kind, &delta)
    }

    /// Writes what the queue's front calls allow, in order: a function call goes live at
    /// once (with the arguments held for it) and is done when the node ends it; a custom
    /// call is written whole once ended.
    fn advance(&mut self, out: &mut Vec<u8>) -> Result<(), TranslateError> {
        while let Some(&key) = self.queue.front() {
            let Some(call) = self.calls.get(&key) else {
                self.queue.pop_front();
                continue;
            };
            let (live, ended, custom) = (call.index.is_some(), call.ended, call.custom);
            if !live && (!custom || ended) {
                self.open_call(key, out)?;
            }
            if !ended {
                return Ok(());
            }
            self.close_call(key, out)?;
            self.queue.pop_front();
        }
        Ok(())
    }

    fn open_call(&mut self, key: u64, out: &mut Vec<u8>) -> Result<(), TranslateError> {
        let index = self.take_index();
        let Some(call) = self.calls.get_mut(&key) else {
            return Ok(());
        };
        call.index = Some(index);
        call.item_id = self.ids.item(if call.custom { "ctc" } else { "fc" }, index);
        self.held = self.held.saturating_sub(call.arguments.len());
        let item = call_item(
            &self.ctx,
            &self.ids,
            index,
            &call.id,
            &call.name,
            "",
            Status::InProgress,
        );
        let sequence_number = self.sequence;
        self.sequence += 1;
        write_frame(
            out,
            ITEM_ADDED,
            &item_frame(ITEM_ADDED, index, &item, sequence_number),
        )?;
        let (kind, held) = if call.custom {
            let input = custom_input(&call.arguments);
            ("response.custom_tool_call_input.delta", Cow::Owned(input))
        } else {
            let arguments = call.arguments.as_str();
            (
                "response.function_call_arguments.delta",
                Cow::Borrowed(arguments),
            )
        };
        if held.is_empty() {
            return Ok(());
        }
        let delta = Delta {
            kind,
            sequence_number: self.sequence,
            item_id: &call.item_id,
            output_index: index,
            content_index: None,
            summary_index: None,
            delta: &held,
            logprobs: None,
        };
        self.sequence += 1;
        write_frame(out, kind, &delta)
    }

    fn close_call(&mut self, key: u64, out: &mut Vec<u8>) -> Result<(), TranslateError> {
        let Some(call) = self.calls.get_mut(&key) else {
            return Ok(());
        };
        let Some(index) = call.index else {
            return Ok(());
        };
        call.closed = true;
        if call.arguments.trim().is_empty() {
            call.arguments = "{}".to_owned();
        }
        let item = call_item(
            &self.ctx,
            &self.ids,
            index,
            &call.id,
            &call.name,
            &call.arguments,
            Status::Completed,
        );
        let mut frame = match &item {
            Item::CustomCall { input, .. } => ContentFrame {
                input: Some(input),
                ..ContentFrame::new("response.custom_tool_call_input.done", &call.item_id, index)
            },
            _ => ContentFrame {
                arguments: Some(&call.arguments),
                name: Some(&call.name),
                ..ContentFrame::new(
                    "response.function_call_arguments.done",
                    &call.item_id,
                    index,
                )
            },
        };
        frame.sequence_number = self.sequence;
        self.sequence += 1;
        write_frame(out, frame.kind, &frame)?;
        let item = rendered(&item)?;
        let sequence_number = self.sequence;
        self.sequence += 1;
        write_frame(
            out,
            ITEM_DONE,
            &item_frame(ITEM_DONE, index, &*item, sequence_number),
        )?;
        self.output.push(item);
        Ok(())
    }

    /// Ends every item, held calls included (written whole, in order).
    fn settle(&mut self, out: &mut Vec<u8>) -> Result<(), TranslateError> {
        self.close_open(out)?;
        for call in self.calls.values_mut() {
            call.ended = true;
        }
        self.advance(out)
    }

    fn added(
        &mut self,
        index: usize,
        item: &Item<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), TranslateError> {
        let frame = item_frame(ITEM_ADDED, index, item, self.next_sequence());
        write_frame(out, ITEM_ADDED, &frame)
    }

    /// `output_item.done`; the item, rendered once, is kept for the terminal response.
    fn done(
        &mut self,
        index: usize,
        item: &Item<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), TranslateError> {
        let item = rendered(item)?;
        let frame = item_frame(ITEM_DONE, index, &*item, self.next_sequence());
        write_frame(out, ITEM_DONE, &frame)?;
        self.output.push(item);
        Ok(())
    }

    fn take_index(&mut self) -> usize {
        let index = self.next_index;
        self.next_index += 1;
        index
    }

    fn next_sequence(&mut self) -> u64 {
        let n = self.sequence;
        self.sequence += 1;
        n
    }

    /// A content event, numbered.
    fn write(
        &mut self,
        mut frame: ContentFrame<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), TranslateError> {
        frame.sequence_number = self.next_sequence();
        write_frame(out, frame.kind, &frame)
    }

    /// An event carrying the whole `response`: created, in progress, and the terminal one.
    fn write_response(
        &mut self,
        kind: &'static str,
        status: Status,
        output: &[Box<RawValue>],
        usage: Option<&crate::translate::Usage>,
        error: Option<ResponseError<'_>>,
        out: &mut Vec<u8>,
    ) -> Result<(), TranslateError> {
        let sequence_number = self.next_sequence();
        let frame = ResponseFrame {
            response: ResponseObject {
                ctx: &self.ctx,
                ids: &self.ids,
                status,
                output,
                usage,
                error,
            },
            sequence_number,
            kind,
        };
        write_frame(out, kind, &frame)
    }
}

const ITEM_ADDED: &str = "response.output_item.added";
const ITEM_DONE: &str = "response.output_item.done";

fn item_frame<'a, I: Serialize + ?Sized>(
    kind: &'static str,
    output_index: usize,
    item: &'a I,
    sequence_number: u64,
) -> ItemFrame<'a, I> {
    ItemFrame {
        item,
        output_index,
        sequence_number,
        kind,
    }
}

/// Writes the event straight into `out`; should its body ever fail to serialize, nothing of
/// it stays there.
fn write_frame(out: &mut Vec<u8>, kind: &str, body: &impl Serialize) -> Result<(), TranslateError> {
    let start = out.len();
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    if let Err(e) = serde_json::to_writer(&mut *out, body) {
        out.truncate(start);
        return Err(TranslateError::Upstream(e.to_string()));
    }
    out.extend_from_slice(b"\n\n");
    Ok(())
}

//! Stub until the translation branch lands: the contract only.
use super::{Dialect, ResponseContext, TranslateError, Usage};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamState {
    Open,
    Done,
    Failed,
}

pub struct StreamTranslator {
    state: StreamState,
}

impl StreamTranslator {
    pub fn new(_from: Dialect, _to: Dialect, _ctx: ResponseContext) -> Self {
        StreamTranslator {
            state: StreamState::Open,
        }
    }

    pub fn push(&mut self, _chunk: &[u8], _out: &mut Vec<u8>) -> Result<(), TranslateError> {
        Err(TranslateError::Upstream(
            "translation is not built yet".into(),
        ))
    }

    pub fn state(&self) -> StreamState {
        self.state
    }

    pub fn fail(&mut self, _message: &str, _out: &mut Vec<u8>) {
        self.state = StreamState::Failed;
    }

    pub fn usage(&self) -> Usage {
        Usage::default()
    }
}

//! Stub until the translation branch lands: the contract only.
use super::{Dialect, EmbedDialect, ResponseContext, TranslateError, Usage};

pub fn response(
    _from: Dialect,
    _to: Dialect,
    _body: &[u8],
    _ctx: &ResponseContext,
) -> Result<(Vec<u8>, Usage), TranslateError> {
    Err(TranslateError::Upstream(
        "translation is not built yet".into(),
    ))
}

pub fn usage(_dialect: Dialect, _body: &[u8]) -> Usage {
    Usage::default()
}

pub fn embed_response(
    _from: EmbedDialect,
    _to: EmbedDialect,
    _body: &[u8],
    _ctx: &ResponseContext,
) -> Result<(Vec<u8>, Usage), TranslateError> {
    Err(TranslateError::Upstream(
        "translation is not built yet".into(),
    ))
}

//! `tokenizer.json` written from a SentencePiece model (`spiece.model`) for
//! the repositories that ship only that (`google/siglip-base-patch16-224`):
//! the protobuf read by hand (pieces, trainer and normalizer specs) and the
//! result laid out as transformers' `SpmConverter` lays it out (Unigram;
//! the precompiled character map, right strip, runs of spaces to one `▁`;
//! `Metaspace` always prepending `▁`; the control pieces as special added
//! tokens; `$A </s>` after). `tests/text_parity.rs` checks the ids equal the
//! converter's file and the slow `SiglipTokenizer`. Models this layout does
//! not reproduce (BPE, byte fallback, other normalizer flags) are refused.

use std::path::Path;

use serde_json::json;

use crate::error::{Error, Result};

/// The SentencePiece model file name in a hub repository.
pub(crate) const SPM_FILE: &str = "spiece.model";

struct Piece {
    text: String,
    score: f32,
    /// 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte.
    kind: u64,
}

#[derive(Default)]
struct Spec {
    pieces: Vec<Piece>,
    model_type: Option<u64>,
    unk_id: Option<u64>,
    byte_fallback: bool,
    charsmap: Vec<u8>,
    add_dummy_prefix: Option<bool>,
    remove_extra_whitespaces: Option<bool>,
    escape_whitespaces: Option<bool>,
}

/// A protobuf reader over one message's bytes.
struct Wire<'a> {
    b: &'a [u8],
    at: usize,
}

enum Value<'a> {
    Varint(u64),
    Fixed32(u32),
    Bytes(&'a [u8]),
}

impl<'a> Wire<'a> {
    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.b.get(self.at)?;
            self.at += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    /// The next field: its number and value; `None` at the end, `Some(Err)`
    /// on malformed bytes.
    fn next(&mut self) -> Option<std::result::Result<(u64, Value<'a>), ()>> {
        if self.at >= self.b.len() {
            return None;
        }
        let Some(key) = self.varint() else {
            return Some(Err(()));
        };
        let value = match key & 7 {
            0 => self.varint().map(Value::Varint),
            1 => {
                let end = self.at + 8;
                (end <= self.b.len()).then(|| {
                    self.at = end;
                    Value::Varint(0)
                })
            }
            2 => self.varint().and_then(|len| {
                let end = self.at.checked_add(usize::try_from(len).ok()?)?;
                let bytes = self.b.get(self.at..end)?;
                self.at = end;
                Some(Value::Bytes(bytes))
            }),
            5 => self.b.get(self.at..self.at + 4).map(|s| {
                self.at += 4;
                Value::Fixed32(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
            }),
            _ => None,
        };
        Some(value.map(|v| (key >> 3, v)).ok_or(()))
    }
}

fn parse(bytes: &[u8]) -> std::result::Result<Spec, String> {
    let bad = || "not a SentencePiece model (malformed protobuf)".to_string();
    let mut spec = Spec::default();
    let mut top = Wire { b: bytes, at: 0 };
    while let Some(field) = top.next() {
        match field.map_err(|_| bad())? {
            (1, Value::Bytes(b)) => {
                let mut piece = Piece {
                    text: String::new(),
                    score: 0.0,
                    kind: 1,
                };
                let mut w = Wire { b, at: 0 };
                while let Some(f) = w.next() {
                    match f.map_err(|_| bad())? {
                        (1, Value::Bytes(s)) => {
                            piece.text = String::from_utf8(s.to_vec())
                                .map_err(|_| "a piece is not UTF-8".to_string())?
                        }
                        (2, Value::Fixed32(x)) => piece.score = f32::from_bits(x),
                        (3, Value::Varint(k)) => piece.kind = k,
                        _ => {}
                    }
                }
                spec.pieces.push(piece);
            }
            (2, Value::Bytes(b)) => {
                let mut w = Wire { b, at: 0 };
                while let Some(f) = w.next() {
                    match f.map_err(|_| bad())? {
                        (3, Value::Varint(v)) => spec.model_type = Some(v),
                        (35, Value::Varint(v)) => spec.byte_fallback = v != 0,
                        (40, Value::Varint(v)) => spec.unk_id = Some(v),
                        _ => {}
                    }
                }
            }
            (3, Value::Bytes(b)) => {
                let mut w = Wire { b, at: 0 };
                while let Some(f) = w.next() {
                    match f.map_err(|_| bad())? {
                        (2, Value::Bytes(m)) => spec.charsmap = m.to_vec(),
                        (3, Value::Varint(v)) => spec.add_dummy_prefix = Some(v != 0),
                        (4, Value::Varint(v)) => spec.remove_extra_whitespaces = Some(v != 0),
                        (5, Value::Varint(v)) => spec.escape_whitespaces = Some(v != 0),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    if spec.pieces.is_empty() {
        return Err(bad());
    }
    Ok(spec)
}

/// Standard base64 with padding (the form `tokenizers` reads the
/// precompiled character map in).
fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The `tokenizer.json` text for the SentencePiece model at `path`, with
/// `eos` appended to every text.
pub(crate) fn tokenizer_json(path: &Path, eos: &str) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let refuse = |reason: String| Error::Config {
        path: path.to_path_buf(),
        reason,
    };
    let spec = parse(&bytes).map_err(refuse)?;
    if spec.model_type.unwrap_or(1) != 1 {
        return Err(refuse(
            "a BPE SentencePiece model; artlens converts Unigram models only (download the repository's tokenizer.json)".into(),
        ));
    }
    if spec.byte_fallback {
        return Err(refuse(
            "uses byte fallback, which the conversion does not reproduce (download the repository's tokenizer.json)".into(),
        ));
    }
    let flags = [
        spec.add_dummy_prefix,
        spec.remove_extra_whitespaces,
        spec.escape_whitespaces,
    ];
    if flags.iter().any(|f| *f == Some(false)) {
        return Err(refuse(
            "its normalizer turns off the dummy prefix, the white-space clean-up or escaping, which the conversion does not reproduce (download the repository's tokenizer.json)".into(),
        ));
    }
    let eos_id = spec
        .pieces
        .iter()
        .position(|p| p.text == eos)
        .ok_or_else(|| refuse(format!("has no `{eos}` piece")))?;
    let added: Vec<_> = spec
        .pieces
        .iter()
        .enumerate()
        .filter(|(_, p)| p.kind == 3 || p.kind == 4)
        .map(|(i, p)| {
            json!({"id": i, "content": p.text, "single_word": false, "lstrip": false,
                   "rstrip": false, "normalized": false, "special": p.kind == 3})
        })
        .collect();
    let vocab: Vec<_> = spec
        .pieces
        .iter()
        .map(|p| json!([p.text, f64::from(p.score)]))
        .collect();
    let mut normalizers = Vec::new();
    if !spec.charsmap.is_empty() {
        normalizers
            .push(json!({"type": "Precompiled", "precompiled_charsmap": base64(&spec.charsmap)}));
    }
    normalizers.push(json!({"type": "Strip", "strip_left": false, "strip_right": true}));
    normalizers
        .push(json!({"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": "\u{2581}"}));
    let seq = |id: &str| json!({"Sequence": {"id": id, "type_id": 0}});
    let special = json!({"SpecialToken": {"id": eos, "type_id": 0}});
    let t = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": {"type": "Sequence", "normalizers": normalizers},
        "pre_tokenizer": {"type": "Metaspace", "replacement": "\u{2581}", "prepend_scheme": "always", "split": true},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [seq("A"), special.clone()],
            "pair": [seq("A"), special.clone(), seq("B"), special],
            "special_tokens": {eos: {"id": eos, "ids": [eos_id], "tokens": [eos]}},
        },
        "decoder": {"type": "Metaspace", "replacement": "\u{2581}", "prepend_scheme": "always", "split": true},
        "model": {"type": "Unigram", "unk_id": spec.unk_id.unwrap_or(0), "vocab": vocab, "byte_fallback": false},
    });
    Ok(t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_pads_like_the_standard() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn malformed_protobuf_is_an_error_not_a_panic() {
        for bytes in [&b"\x0a\xff\xff\xff\xff\xff"[..], b"\xff", b"\x0a\x05ab"] {
            assert!(parse(bytes).is_err());
        }
    }
}

//! open_clip's CLIP tokenizer (`open_clip.tokenizer.SimpleTokenizer`,
//! open_clip 3.3.0), which the timm CLIP repositories' text towers were
//! trained with. It differs from transformers' `tokenizer.json` for CLIP in
//! what it does before the byte-level BPE, so it is reimplemented here
//! rather than read through the `tokenizers` crate:
//!
//! * the text is cleaned as `_clean_lower` cleans it: `ftfy.fix_text` (the
//!   parts that apply to valid Unicode, see [`fix_text`]), `html.unescape`
//!   twice, white space squeezed, trimmed, lower-cased;
//! * the special tokens are open_clip's `<start_of_text>` and
//!   `<end_of_text>` (ids: the last two of the vocabulary), which a text
//!   may spell out; transformers' `<|startoftext|>` is ordinary text here;
//! * every text is `[SOT] tokens [EOT]`, and one longer than the context is
//!   cut to the context with its last id replaced by EOT.
//!
//! The BPE vocabulary and merges are the ones open_clip ships
//! (`bpe_simple_vocab_16e6.txt.gz`); artlens reads them from a CLIP
//! `tokenizer.json` (`model.vocab`, `model.merges`), which holds the same
//! vocabulary in the same order (see docs/BACKBONES.md, "Text towers").

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use tokenizers::utils::SysRegex;
use tokenizers::NormalizedString;

use crate::error::{Error, Result};

use super::tokenizer::Tokens;

/// open_clip's special tokens, the last two entries of its vocabulary.
const SOT: &str = "<start_of_text>";
const EOT: &str = "<end_of_text>";

/// `SimpleTokenizer.pat` without its special-token alternatives (matched
/// first, by hand). The text is lower-cased before, so open_clip's
/// `re.IGNORECASE` changes nothing.
const PATTERN: &str = r"'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+";

/// Words whose BPE is kept, as open_clip's cache keeps them; a bound keeps
/// a long-running server's memory flat.
const CACHE_LIMIT: usize = 50_000;

/// The tokenizer, built from a byte-level BPE vocabulary.
pub(crate) struct SimpleTokenizer {
    encoder: HashMap<String, u32>,
    ranks: HashMap<(String, String), usize>,
    merges: Vec<(String, String)>,
    byte_encoder: [char; 256],
    pattern: SysRegex,
    sot: u32,
    eot: u32,
    context: usize,
    cache: Mutex<HashMap<String, Vec<u32>>>,
}

/// `tokenizer.json`'s BPE model, as much of it as the vocabulary needs.
#[derive(serde::Deserialize)]
struct TokenizerJson {
    model: BpeModel,
}

#[derive(serde::Deserialize)]
struct BpeModel {
    #[serde(rename = "type")]
    kind: Option<String>,
    vocab: HashMap<String, u32>,
    merges: Vec<Merge>,
}

/// A merge as `"a b"` (older files) or `["a", "b"]`.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Merge {
    Joined(String),
    Pair(Vec<String>),
}

/// The bytes `bytes_to_unicode` keeps as their own character.
fn is_printable(b: u32) -> bool {
    (u32::from(b'!')..=u32::from(b'~')).contains(&b)
        || (0xA1..=0xAC).contains(&b)
        || (0xAE..=0xFF).contains(&b)
}

/// OpenAI CLIP's `bytes_to_unicode`: every byte as a printable character.
fn bytes_to_unicode() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut extra = 0;
    for b in 0..256u32 {
        let c = if is_printable(b) {
            b
        } else {
            extra += 1;
            255 + extra
        };
        table[b as usize] = char::from_u32(c).unwrap_or('\0');
    }
    table
}

impl SimpleTokenizer {
    /// Reads the vocabulary and merges from a CLIP `tokenizer.json` at
    /// `path`, for a model of `context` positions and `vocab_size` token
    /// embeddings.
    pub(crate) fn from_tokenizer_json(
        path: &Path,
        context: usize,
        vocab_size: usize,
    ) -> Result<SimpleTokenizer> {
        let bad = |reason: String| Error::Config {
            path: path.to_path_buf(),
            reason,
        };
        let file: TokenizerJson = crate::model::config::read_json(path, "CLIP tokenizer.json")?;
        let model = file.model;
        if model.kind.as_deref().is_some_and(|k| k != "BPE") {
            return Err(bad(format!(
                "its model is {:?}, not the byte-level BPE of CLIP's tokenizer",
                model.kind.unwrap_or_default()
            )));
        }
        // open_clip numbers the vocabulary: the 256 byte characters, the
        // same with `</w>`, one entry per merge, then its two special
        // tokens. transformers' CLIP file has that order with its own names
        // for the last two; any other layout is another tokenizer.
        let merges: Vec<(String, String)> = model
            .merges
            .into_iter()
            .map(|m| match m {
                Merge::Joined(s) => {
                    let mut it = s.splitn(2, ' ');
                    (
                        it.next().unwrap_or_default().to_string(),
                        it.next().unwrap_or_default().to_string(),
                    )
                }
                Merge::Pair(p) => (
                    p.first().cloned().unwrap_or_default(),
                    p.get(1).cloned().unwrap_or_default(),
                ),
            })
            .collect();
        let byte_encoder = bytes_to_unicode();
        // The byte characters in the order of `bytes_to_unicode()`'s
        // dict: the printable bytes first, then the others.
        let units: Vec<char> = (0..256u32)
            .filter(|&b| is_printable(b))
            .chain((0..256u32).filter(|&b| !is_printable(b)))
            .map(|b| byte_encoder[b as usize])
            .collect();
        let mut order: Vec<String> = units.iter().map(|c| c.to_string()).collect();
        order.extend(units.iter().map(|c| format!("{c}</w>")));
        order.extend(merges.iter().map(|(a, b)| format!("{a}{b}")));
        let mut encoder = HashMap::with_capacity(order.len() + 2);
        for (i, token) in order.iter().enumerate() {
            if model.vocab.get(token) != Some(&(i as u32)) {
                return Err(bad(format!(
                    "entry {i} of CLIP's vocabulary (`{token}`) has id {:?} here; the file is not CLIP's byte-level BPE in open_clip's order",
                    model.vocab.get(token)
                )));
            }
            encoder.insert(token.clone(), i as u32);
        }
        let (sot, eot) = (order.len() as u32, order.len() as u32 + 1);
        encoder.insert(SOT.to_string(), sot);
        encoder.insert(EOT.to_string(), eot);
        if encoder.len() != vocab_size {
            return Err(bad(format!(
                "makes a vocabulary of {} tokens (with open_clip's two special tokens) but the model's text_cfg.vocab_size is {vocab_size}; the tokenizer is not this model's",
                encoder.len()
            )));
        }
        let ranks = merges
            .iter()
            .enumerate()
            .map(|(i, m)| (m.clone(), i))
            .collect();
        let pattern = SysRegex::new(PATTERN)
            .map_err(|e| bad(format!("open_clip's token pattern does not compile: {e}")))?;
        Ok(SimpleTokenizer {
            encoder,
            ranks,
            merges,
            byte_encoder,
            pattern,
            sot,
            eot,
            context,
            cache: Mutex::new(HashMap::new()),
        })
    }

    pub(crate) fn context(&self) -> usize {
        self.context
    }

    /// `SimpleTokenizer.__call__` for one text, without the zero padding
    /// (the causal attention and the pooling at EOT make it irrelevant).
    pub(crate) fn encode(&self, text: &str) -> Tokens {
        let mut ids = vec![self.sot];
        let text = clean_lower(text);
        let mut at = 0;
        while at < text.len() {
            let rest = &text[at..];
            // The special tokens come first in open_clip's pattern.
            if let Some((token, id)) = [(SOT, self.sot), (EOT, self.eot)]
                .into_iter()
                .find(|(t, _)| rest.starts_with(t))
            {
                ids.push(id);
                at += token.len();
                continue;
            }
            // The leftmost match of the whole pattern: a special token's
            // text wins where it starts no later than the next word (the
            // special tokens are its first alternatives), and is ordinary
            // text where it starts inside one.
            let Some((s, e)) = self.pattern.find_iter(rest).next() else {
                break;
            };
            if let Some(p) = [SOT, EOT].iter().filter_map(|t| rest.find(t)).min() {
                if p <= s {
                    at += p;
                    continue;
                }
            }
            if let Some(word) = rest.get(s..e).filter(|w| !w.is_empty()) {
                ids.extend(self.word_ids(word));
                at += e;
            } else {
                // An empty match cannot advance: step one character.
                at += rest.chars().next().map_or(1, char::len_utf8);
            }
        }
        ids.push(self.eot);
        let full_len = ids.len();
        if full_len > self.context {
            ids.truncate(self.context);
            if let Some(last) = ids.last_mut() {
                *last = self.eot;
            }
        }
        let len = ids.len();
        Tokens { ids, full_len, len }
    }

    /// One pre-tokenized word's ids: its UTF-8 bytes as characters, then
    /// BPE (`SimpleTokenizer.bpe`).
    fn word_ids(&self, word: &str) -> Vec<u32> {
        if let Some(ids) = self.lock_cache().get(word) {
            return ids.clone();
        }
        let chars: Vec<String> = word
            .bytes()
            .map(|b| self.byte_encoder[b as usize].to_string())
            .collect();
        let ids: Vec<u32> = self
            .bpe(chars)
            .iter()
            .filter_map(|t| self.encoder.get(t).copied())
            .collect();
        let mut cache = self.lock_cache();
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(word.to_string(), ids.clone());
        ids
    }

    /// Merges the lowest-ranked adjacent pair until none is in the merges,
    /// the last symbol carrying `</w>`.
    fn bpe(&self, mut word: Vec<String>) -> Vec<String> {
        if let Some(last) = word.last_mut() {
            last.push_str("</w>");
        }
        while word.len() > 1 {
            let best = word
                .windows(2)
                .filter_map(|p| self.ranks.get(&(p[0].clone(), p[1].clone())))
                .min()
                .copied();
            let Some(rank) = best else { break };
            let (first, second) = &self.merges[rank];
            let mut merged = Vec::with_capacity(word.len());
            let mut i = 0;
            while i < word.len() {
                if i + 1 < word.len() && &word[i] == first && &word[i + 1] == second {
                    merged.push(format!("{first}{second}"));
                    i += 2;
                } else {
                    merged.push(std::mem::take(&mut word[i]));
                    i += 1;
                }
            }
            word = merged;
        }
        word
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<u32>>> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// open_clip's `_clean_lower`: `ftfy.fix_text`, `html.unescape` twice,
/// trimmed, white space squeezed, lower-cased.
pub(crate) fn clean_lower(text: &str) -> String {
    let fixed = fix_text(text);
    let unescaped = unescape_html(&unescape_html(&fixed));
    squeeze_space(&unescaped).to_lowercase()
}

/// Python's `" ".join(text.split())`: runs of white space (`str.isspace`)
/// made one space, none at either end.
fn squeeze_space(text: &str) -> String {
    text.split(is_python_space)
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn is_python_space(ch: char) -> bool {
    ch.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&ch)
}

/// The steps of `ftfy.fix_text` (ftfy 6, default settings) that change
/// valid Unicode text, in ftfy's order and repeated, as ftfy repeats them,
/// until nothing changes: HTML entities (unless the original text holds
/// `<`), Latin ligatures and full-width characters replaced by their plain
/// forms, curly quotes made straight, terminal escapes and control
/// characters removed, NFC. ftfy's repair of mis-decoded text (mojibake
/// such as `Ã©` for `é`, C1 controls read as Windows-1252) is not
/// reproduced: such text tokenizes as written.
fn fix_text(text: &str) -> String {
    let html = !text.contains('<');
    let mut text = text.to_string();
    // Each pass only shortens or keeps the text but for the NFKC forms,
    // which are fixed points: a few passes reach the end.
    for _ in 0..8 {
        let next = fix_pass(&text, html);
        if next == text {
            break;
        }
        text = next;
    }
    text
}

fn fix_pass(text: &str, html: bool) -> String {
    let text = if html {
        unescape_html(text)
    } else {
        text.to_string()
    };
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        if let Some(plain) = latin_ligature(ch) {
            out.push_str(plain);
        } else if ch == '\u{3000}' {
            out.push(' ');
        } else if ('\u{ff01}'..='\u{ffef}').contains(&ch) {
            // ftfy's width map: the character's NFKC form where it differs.
            let mut n = NormalizedString::from(ch.to_string());
            n.nfkc();
            out.push_str(n.get());
        } else {
            match ch {
                '\u{2bc}' | '\u{2018}'..='\u{201b}' => out.push('\''),
                '\u{201c}'..='\u{201f}' => out.push('"'),
                c => out.push(c),
            }
        }
    }
    let out: String = remove_terminal_escapes(&out)
        .chars()
        .filter(|&c| !is_ftfy_control(c))
        .collect();
    let mut n = NormalizedString::from(out);
    n.nfc();
    n.get().to_string()
}

/// ftfy's `LIGATURES`, with `ŉ`'s apostrophe already straightened (ftfy
/// uncurls it in the next step).
fn latin_ligature(c: char) -> Option<&'static str> {
    Some(match c {
        'Ĳ' => "IJ",
        'ĳ' => "ij",
        'ŉ' => "'n",
        'Ǳ' => "DZ",
        'ǲ' => "Dz",
        'ǳ' => "dz",
        'Ǆ' => "DŽ",
        'ǅ' => "Dž",
        'ǆ' => "dž",
        'Ǉ' => "LJ",
        'ǈ' => "Lj",
        'ǉ' => "lj",
        'Ǌ' => "NJ",
        'ǋ' => "Nj",
        'ǌ' => "nj",
        'ﬀ' => "ff",
        'ﬁ' => "fi",
        'ﬂ' => "fl",
        'ﬃ' => "ffi",
        'ﬄ' => "ffl",
        'ﬅ' => "ſt",
        'ﬆ' => "st",
        _ => return None,
    })
}

/// ftfy's `CONTROL_CHARS`: the characters `remove_control_chars` drops.
fn is_ftfy_control(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{8}'
        | '\u{b}'
        | '\u{e}'..='\u{1f}'
        | '\u{7f}'
        | '\u{206a}'..='\u{206f}'
        | '\u{feff}'
        | '\u{fff9}'..='\u{fffc}')
}

/// ftfy's `remove_terminal_escapes`: `ESC [ digits-and-semicolons letter`.
fn remove_terminal_escapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(p) = rest.find("\u{1b}[") {
        out.push_str(&rest[..p]);
        let tail = &rest[p + 2..];
        let params = tail
            .find(|c: char| !(c.is_ascii_digit() || c == ';'))
            .unwrap_or(tail.len());
        match tail[params..].chars().next() {
            Some(c) if c.is_ascii_alphabetic() => rest = &tail[params + 1..],
            _ => {
                out.push_str("\u{1b}[");
                rest = tail;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Python's `html.unescape` for numeric character references and the
/// named entities ordinary text carries (`&amp;`, `&lt;`, `&gt;`,
/// `&quot;`, `&apos;`, `&nbsp;`, with or without `;`, as HTML5 reads
/// them). Other named entities stay as written.
fn unescape_html(text: &str) -> String {
    if !text.contains('&') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(p) = rest.find('&') {
        out.push_str(&rest[..p]);
        rest = &rest[p..];
        match entity(rest) {
            Some((replacement, used)) => {
                out.push_str(&replacement);
                rest = &rest[used..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The entity at the start of `s` (which starts with `&`): its text and
/// how many bytes it spans.
fn entity(s: &str) -> Option<(String, usize)> {
    let body = &s[1..];
    if let Some(num) = body.strip_prefix('#') {
        let (hex, digits) = match num.strip_prefix(['x', 'X']) {
            Some(h) => (true, h),
            None => (false, num),
        };
        let len = digits
            .find(|c: char| {
                !(if hex {
                    c.is_ascii_hexdigit()
                } else {
                    c.is_ascii_digit()
                })
            })
            .unwrap_or(digits.len());
        if len == 0 {
            return None;
        }
        let value = u32::from_str_radix(&digits[..len], if hex { 16 } else { 10 }).ok();
        let used = 1 + 1 + usize::from(hex) + len + usize::from(digits[len..].starts_with(';'));
        // Python's replacements for the invalid code points: NUL, surrogates
        // and those past Unicode become U+FFFD; 0x80–0x9F are read as
        // Windows-1252 (only the commonest are mapped here).
        let ch = match value {
            Some(0) | None => '\u{fffd}',
            Some(0x80) => '€',
            Some(0x85) => '…',
            Some(0x91) => '‘',
            Some(0x92) => '’',
            Some(0x93) => '“',
            Some(0x94) => '”',
            Some(0x96) => '–',
            Some(0x97) => '—',
            Some(v) => char::from_u32(v).unwrap_or('\u{fffd}'),
        };
        return Some((ch.to_string(), used));
    }
    const NAMED: &[(&str, &str)] = &[
        ("amp", "&"),
        ("lt", "<"),
        ("gt", ">"),
        ("quot", "\""),
        ("nbsp", "\u{a0}"),
    ];
    // `&apos;` is read only with its semicolon (HTML5's legacy names,
    // the others here, also without).
    if body.starts_with("apos;") {
        return Some(("'".into(), 6));
    }
    NAMED.iter().find_map(|(name, value)| {
        body.strip_prefix(name).map(|after| {
            let used = 1 + name.len() + usize::from(after.starts_with(';'));
            (value.to_string(), used)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleaning_follows_open_clip() {
        assert_eq!(clean_lower("  Hello\t\nWORLD  "), "hello world");
        assert_eq!(clean_lower("ＡＢＣ！"), "abc!");
        assert_eq!(clean_lower("“quoted” ’s"), "\"quoted\" 's");
        assert_eq!(clean_lower("ﬁne &amp;amp; &#233;t&#xE9;"), "fine & été");
        assert_eq!(clean_lower("a\u{1b}[31mred\u{1b}[0m"), "ared");
    }

    #[test]
    fn the_byte_table_is_clips() {
        let t = bytes_to_unicode();
        assert_eq!(t[b'a' as usize], 'a');
        assert_eq!(t[b' ' as usize], 'Ġ');
        assert_eq!(t[0], 'Ā');
    }
}

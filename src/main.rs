//! The `artlens` command: parses arguments and hands over to `cli`.

mod cli;
// The web app is optional (the `serve` feature, on by default); without it
// `artlens serve` says how to get a build that has it.
#[cfg(feature = "serve")]
mod server;

fn main() {
    quiet_decoder_panics();
    std::process::exit(cli::run());
}

/// Image decoders can panic on hostile files; the library catches those
/// panics and reports the file as undecodable, but Rust's default hook would
/// still print "thread panicked at ..." first. Panics raised inside the
/// decoder crates, or in sled while the store catches them, are therefore
/// left to that report; any other panic is a bug in artlens and says so,
/// without a backtrace dump.
fn quiet_decoder_panics() {
    std::panic::set_hook(Box::new(|info| {
        let file = info.location().map(|l| l.file()).unwrap_or("");
        let in_decoder = [
            "/image-",
            "/zune-",
            "/png-",
            "/gif-",
            "/tiff-",
            "/image-webp-",
            "/jpeg-decoder-",
            "/fdeflate-",
            "/weezl-",
        ]
        .iter()
        .any(|c| file.contains(c));
        // The store catches sled's panics on a damaged store and reports
        // the damage as an ordinary error (issue 26, item 5).
        if in_decoder || artlens::store::catching_sled_panic() {
            return;
        }
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!(
            "artlens: internal error: {msg}{at}. Please report this with the command you ran."
        );
    }));
}

//! `appreg`: registers an application for a Microsoft 365 backup or migration product in a
//! Microsoft Entra ID tenant, for installers and admins.
//!
//! A thin layer over the `entra_appreg` library: parse the options, call the library, print the
//! result. With `--json`, stdout holds exactly one JSON object (the result, or an error
//! object); everything for humans goes to stderr.
//!
//! Exit codes: 0 done; 2 bad usage or input (nothing was changed); 3 partial (registered, but
//! some grants were refused); 1 any other failure.

mod args;
mod commands;
mod connect;
mod exit;
mod failure;
mod output;
mod ui;

use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;
use entra_appreg::redact::for_terminal;

use crate::args::Cli;
use crate::failure::Failure;
use crate::ui::Ui;

fn print_json(value: &serde_json::Value) {
    let text = ascii_json(&serde_json::to_string_pretty(value).unwrap_or_else(|_| "{}".to_owned()));
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

/// The JSON with every non-ASCII character written as a `\u` escape, so that it reads the same
/// whatever code page decodes it. Windows PowerShell decodes a native command's output with
/// `[Console]::OutputEncoding`, an OEM code page by default, which would garble UTF-8 in a
/// display name or a path before `ConvertFrom-Json` sees it. Outside strings JSON is ASCII, so
/// only string contents change, and they decode to the same text.
fn ascii_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{unit:04x}");
            }
        }
    }
    out
}

fn fail(failure: &Failure, json: bool) -> ExitCode {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "error: {}", for_terminal(&failure.message));
    drop(err);
    if json {
        print_json(&failure.to_json());
    } else if let Some(secret) = failure
        .details
        .credential
        .as_ref()
        .and_then(|c| c["secret"].as_str())
    {
        // A secret that is live despite the failure: handed over once, as on success.
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "Client secret value:     {secret}\n  (the secret above is still registered on the app; shown only this once: use it, or remove it from the app)"
        );
    }
    ExitCode::from(failure.exit_code)
}

fn main() -> ExitCode {
    let raw: Vec<OsString> = std::env::args_os().collect();
    let cli = match Cli::try_parse_from(&raw) {
        Ok(cli) => cli,
        Err(e) => {
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion)
                || !args::wants_json(&raw)
            {
                // Help and version exit 0; usage errors exit 2 with clap's message.
                e.exit();
            }
            let _ = e.print();
            let message = e.to_string();
            let message = message
                .lines()
                .next()
                .unwrap_or("")
                .trim_start_matches("error: ");
            print_json(&Failure::usage(message).to_json());
            return ExitCode::from(exit::EXIT_USAGE);
        }
    };
    let json = commands::connect_args(&cli.command).json;
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return fail(
                &Failure::other(format!("cannot start the async runtime: {e}")),
                json,
            );
        }
    };
    let ui = Ui::new();
    let result = runtime.block_on(commands::run(cli.command, &ui));
    ui.finish();
    match result {
        Ok(outcome) => {
            if json {
                print_json(&outcome.json);
            } else {
                let mut out = std::io::stdout().lock();
                let _ = write!(out, "{}", for_terminal(&outcome.human));
                let _ = out.flush();
            }
            ExitCode::from(outcome.exit_code)
        }
        Err(failure) => fail(&failure, json),
    }
}

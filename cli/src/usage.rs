//! Docker's help and usage errors for a verb the `berth` dispatcher ran: `--help` in
//! docker/cli's layout (`Usage:  berth stop [OPTIONS] CONTAINER [CONTAINER...]`, the one-line
//! description, `Aliases:`, `Options:` as pflag prints them), and its two usage errors with
//! their statuses (docker/cli v28 `cli/required.go` and `FlagErrorFunc`):
//!
//! ```text
//! berth: 'berth stop' requires at least 1 argument      (status 1)
//!
//! Usage:  berth stop [OPTIONS] CONTAINER [CONTAINER...]
//!
//! See 'berth stop --help' for more information
//!
//! unknown flag: --x                                     (status 125)
//!
//! Usage:  berth ps [OPTIONS]
//!
//! Run 'berth ps --help' for more information
//! ```
//!
//! The one source of each verb's flags and their descriptions is its tool's clap definition;
//! this module only lays them out. The command path is the one the user typed: the
//! dispatcher exports its prefix in [`PREFIX_ENV`] (`berth`, `berth ps`, `berth volume`,
//! `berth container ls`), and the tool's own subcommands follow. Flags shared by every tool
//! (`--root`, `--json`...: clap's global flags) are berth's, not the verb's, and are not listed;
//! nor are flags under [`STAGE_HEADING`] or [`RUNC_HEADING`], and flags under
//! [`OTHER_VERB_HEADING`] only in that verb's help. A flag's description keeps its line breaks,
//! indented as pflag does ([`FORMAT_HELP`]); its type word is pflag's (`string`, `int`, `list`,
//! `filter`, or a value name that is one of pflag's words, such as `bytes`).

use clap::{Arg, ArgAction, Command};

/// The help heading of flags a verb takes only as a pipeline stage (`start -`), which its
/// Docker help leaves out.
pub const STAGE_HEADING: &str = "Pipeline stage (start -, create -)";

/// The help heading of flags only runc's verbs take (`exec --process`), which the Docker
/// verb's help leaves out.
pub const RUNC_HEADING: &str = "runc";

/// docker/cli's `--format` help of a listing (`flagsHelper.FormatHelp`).
pub const FORMAT_HELP: &str = "Format output using a custom template:
'table':            Print output in table format with column headers (default)
'table TEMPLATE':   Print output in table format using the given Go template
'json':             Print in JSON format
'TEMPLATE':         Print output using the given Go template.
Refer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates";

/// docker/cli's `--format` help of `inspect` and of single-document verbs
/// (`flagsHelper.InspectFormatHelp`).
pub const INSPECT_FORMAT_HELP: &str = "Format output using a custom template:
'json':             Print in JSON format
'TEMPLATE':         Print output using the given Go template.
Refer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates";

/// The help heading of flags a tool takes only when it serves another verb
/// (`berth-build --prune --force` is `berth builder prune -f`): that verb's help lists only
/// them, under Docker's description ([`OTHER_VERBS`]); the tool's own help leaves them out.
pub const OTHER_VERB_HEADING: &str = "berth builder prune";

/// The description of a verb served by another's tool, by command path.
const OTHER_VERBS: &[(&str, &str)] = &[("berth builder prune", "Remove build cache")];

/// Set by the dispatcher: the command path before the tool's own subcommands.
pub const PREFIX_ENV: &str = "BERTH_CMD_PREFIX";

/// The subcommand `argv` names, and Docker's command path to it.
pub fn find(root: &Command, argv: &[String]) -> (Command, String) {
    let mut path = std::env::var(PREFIX_ENV).unwrap_or_else(|_| "berth".into());
    let mut cmd = root.clone();
    cmd.build();
    for a in argv {
        if cmd.get_subcommands().next().is_none() {
            break;
        }
        if a.starts_with('-') {
            continue;
        }
        let Some(sub) = cmd.find_subcommand(a).cloned() else {
            break;
        };
        path.push(' ');
        path.push_str(sub.get_name());
        cmd = sub;
    }
    (cmd, path)
}

/// Docker's use lines where they are not the arguments' names in order, by the command
/// path's last words (the longer first).
const USE_LINES: &[(&str, &str)] = &[
    ("run", "IMAGE [COMMAND] [ARG...]"),
    ("create", "IMAGE [COMMAND] [ARG...]"),
    ("exec", "CONTAINER COMMAND [ARG...]"),
    (
        "cp",
        "CONTAINER:SRC_PATH DEST_PATH|-\n\tberth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
    ),
    ("port", "CONTAINER [PRIVATE_PORT[/PROTO]]"),
    ("tag", "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]"),
    ("pull", "NAME[:TAG|@DIGEST]"),
    ("push", "NAME[:TAG]"),
    ("kill", "CONTAINER [CONTAINER...]"),
    ("images", "[REPOSITORY[:TAG]]"),
    ("container inspect", "CONTAINER [CONTAINER...]"),
    ("image inspect", "IMAGE [IMAGE...]"),
    ("network inspect", "NETWORK [NETWORK...]"),
    ("volume inspect", "VOLUME [VOLUME...]"),
    ("inspect", "NAME|ID [NAME|ID...]"),
    ("top", "CONTAINER [ps OPTIONS]"),
    ("commit", "CONTAINER [REPOSITORY[:TAG]]"),
    ("import", "file|- [REPOSITORY[:TAG]]"),
    ("builder prune", ""),
    ("builder build", "PATH | -"),
    ("build", "PATH | -"),
];

fn is_global(a: &Arg) -> bool {
    a.is_global_set()
        || a.is_hide_set()
        || a.get_id() == "help"
        || a.get_id() == "version"
        || matches!(a.get_help_heading(), Some(STAGE_HEADING | RUNC_HEADING))
}

/// The verb served by another's tool that `path` names, if any.
fn other_verb(path: &str) -> Option<&'static str> {
    OTHER_VERBS
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, about)| *about)
}

/// Whether `a` is one of the options `path`'s help lists.
fn listed(a: &Arg, path: &str) -> bool {
    let other = a.get_help_heading() == Some(OTHER_VERB_HEADING);
    !a.is_positional()
        && !is_global(a)
        && match other_verb(path) {
            Some(_) => other,
            None => !other,
        }
}

fn has_options(cmd: &Command, path: &str) -> bool {
    cmd.get_arguments().any(|a| listed(a, path))
}

fn positional_words(cmd: &Command) -> Vec<String> {
    cmd.get_positionals()
        .filter(|a| !a.is_hide_set())
        .map(|a| {
            let name = a
                .get_value_names()
                .and_then(|n| n.first())
                .map_or_else(|| a.get_id().to_string().to_uppercase(), |n| n.to_string());
            let many = matches!(a.get_action(), ArgAction::Append)
                || a.get_num_args().is_some_and(|n| n.max_values() > 1);
            match (a.is_required_set(), many) {
                (true, true) => format!("{name} [{name}...]"),
                (true, false) => name,
                (false, true) => format!("[{name}...]"),
                (false, false) => format!("[{name}]"),
            }
        })
        .collect()
}

/// `berth stop [OPTIONS] CONTAINER [CONTAINER...]`.
pub fn use_line(cmd: &Command, path: &str) -> String {
    let mut line = path.to_string();
    if has_options(cmd, path) {
        line.push_str(" [OPTIONS]");
    }
    let args = match USE_LINES
        .iter()
        .find(|(v, _)| path.ends_with(&format!(" {v}")))
    {
        Some((_, a)) => a.to_string(),
        None => positional_words(cmd).join(" "),
    };
    if !args.is_empty() {
        line.push(' ');
        line.push_str(&args);
    }
    line
}

/// pflag's type words that a value name may give.
const PFLAG_WORDS: &[&str] = &[
    "bytes", "decimal", "uint16", "uint", "duration", "list", "int",
];

/// pflag's type word for a flag's value.
fn type_word(a: &Arg) -> &'static str {
    use std::any::TypeId;
    if !a.get_action().takes_values() {
        return "";
    }
    // A value that may be left out (`start -a`, `commit -p`): pflag's boolean layout.
    if a.get_num_args().is_some_and(|n| n.min_values() == 0) {
        return "";
    }
    if a.get_long() == Some("filter") {
        return "filter";
    }
    // A value name that is one of pflag's type words (`bytes`, `decimal`, `uint16`) is shown.
    let named = a
        .get_value_names()
        .and_then(|n| n.first())
        .map(|n| n.as_str());
    if let Some(w) = PFLAG_WORDS.iter().find(|w| named == Some(**w)) {
        return w;
    }
    if matches!(a.get_action(), ArgAction::Append) {
        return "list";
    }
    let t = a.get_value_parser().type_id();
    if t == TypeId::of::<bool>() {
        return "";
    }
    let ints = [
        TypeId::of::<i64>(),
        TypeId::of::<u64>(),
        TypeId::of::<i32>(),
        TypeId::of::<u32>(),
        TypeId::of::<u16>(),
        TypeId::of::<usize>(),
        TypeId::of::<isize>(),
    ];
    if ints.iter().any(|i| t == *i) {
        "int"
    } else if t == TypeId::of::<f64>() {
        "float"
    } else {
        "string"
    }
}

/// The `Options:` lines, as pflag's `FlagUsagesWrapped` lays them out: sorted by name, the
/// descriptions aligned three spaces after the longest flag.
fn options(cmd: &Command, path: &str) -> String {
    let mut flags: Vec<&Arg> = cmd.get_arguments().filter(|a| listed(a, path)).collect();
    flags.sort_by_key(|a| a.get_long().unwrap_or_default());
    let rows: Vec<(String, String)> = flags
        .iter()
        .map(|a| {
            let mut left = match (a.get_short(), a.get_long()) {
                (Some(s), Some(l)) => format!("  -{s}, --{l}"),
                (None, Some(l)) => format!("      --{l}"),
                (Some(s), None) => format!("  -{s}"),
                (None, None) => String::new(),
            };
            let t = type_word(a);
            if !t.is_empty() {
                left.push(' ');
                left.push_str(t);
            }
            let mut help = a
                .get_help()
                .map(|h| h.to_string())
                .unwrap_or_default()
                .trim_end_matches('.')
                .to_string();
            let defaults: Vec<String> = a
                .get_default_values()
                .iter()
                .map(|v| v.to_string_lossy().into_owned())
                .collect();
            let is_bool = a.get_action().takes_values() && t.is_empty();
            if is_bool && defaults == ["true"] {
                help += " (default true)";
            }
            if !t.is_empty()
                && !defaults.is_empty()
                && !defaults.iter().all(|d| d.is_empty() || d == "0")
            {
                let d = defaults.join(",");
                help += &if t == "string" {
                    format!(" (default \"{d}\")")
                } else {
                    format!(" (default {d})")
                };
            }
            (left, help)
        })
        .collect();
    let width = rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
    // pflag indents a description's further lines to its column.
    let indent = format!("\n{:width$}   ", "");
    rows.iter()
        .map(|(l, h)| match h.is_empty() {
            true => format!("{l}\n"),
            false => format!("{l:<width$}   {}\n", h.replace('\n', &indent)),
        })
        .collect()
}

/// Docker's other names of a verb, by command path.
fn aliases(path: &str) -> Option<String> {
    let (prefix, verb) = path.rsplit_once(' ')?;
    let container = [
        "attach", "commit", "cp", "create", "diff", "exec", "export", "kill", "logs", "pause",
        "port", "rename", "restart", "run", "start", "stats", "stop", "top", "unpause", "update",
        "wait",
    ];
    let image = ["history", "import", "load", "pull", "push", "save", "tag"];
    let list = match (prefix, verb) {
        ("berth" | "berth container", v) if container.contains(&v) => {
            format!("berth container {v}, berth {v}")
        }
        ("berth" | "berth container", "rm") => {
            "berth container rm, berth container remove, berth rm".into()
        }
        ("berth", "ps") | ("berth container", "ls") => {
            "berth container ls, berth container list, berth container ps, berth ps".into()
        }
        ("berth" | "berth image", v) if image.contains(&v) => format!("berth image {v}, berth {v}"),
        ("berth" | "berth system", v @ ("events" | "info")) => {
            format!("berth system {v}, berth {v}")
        }
        ("berth", "images") | ("berth image", "ls") => {
            "berth image ls, berth image list, berth images".into()
        }
        ("berth", "rmi") | ("berth image", "rm") => {
            "berth image rm, berth image remove, berth rmi".into()
        }
        (p @ ("berth network" | "berth volume"), "ls") => format!("{p} ls, {p} list"),
        (p @ ("berth network" | "berth volume"), "rm") => format!("{p} rm, {p} remove"),
        _ => return None,
    };
    Some(list)
}

/// `VERB --help` in docker/cli's layout (it starts with an empty line, as Docker's does).
pub fn help(cmd: &Command, path: &str) -> String {
    let about = match other_verb(path) {
        Some(about) => about.to_string(),
        None => cmd.get_about().map(|a| a.to_string()).unwrap_or_default(),
    };
    let group = !has_options(cmd, path) && cmd.get_subcommands().next().is_some();
    let usage = if group {
        format!("{path} COMMAND")
    } else {
        use_line(cmd, path)
    };
    let mut out = format!("\nUsage:  {usage}\n\n{}\n", about.trim());
    if let Some(a) = aliases(path) {
        out += &format!("\nAliases:\n  {a}\n");
    }
    let subs: Vec<&Command> = cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help" && !has_options(cmd, path))
        .collect();
    if !subs.is_empty() {
        let width = subs.iter().map(|s| s.get_name().len()).max().unwrap_or(0);
        out += "\nCommands:\n";
        for s in &subs {
            let about = s.get_about().map(|a| a.to_string()).unwrap_or_default();
            out += &format!("  {:<width$} {}\n", s.get_name(), about.trim());
        }
    }
    let opts = options(cmd, path);
    if !opts.is_empty() {
        out += "\nOptions:\n";
        out += &opts;
    }
    if !subs.is_empty() {
        out += &format!("\nRun '{path} COMMAND --help' for more information on a command.\n");
    }
    out
}

/// docker/cli's argument-count errors: `berth: 'berth stop' requires at least 1 argument`.
pub fn args_error(cmd: &Command, path: &str) -> String {
    let pos: Vec<&Arg> = cmd.get_positionals().filter(|a| !a.is_hide_set()).collect();
    let required = pos.iter().filter(|a| a.is_required_set()).count().max(1);
    let many = pos.iter().any(|a| {
        matches!(a.get_action(), ArgAction::Append)
            || a.get_num_args().is_some_and(|n| n.max_values() > 1)
    });
    let plural = |n: usize| if n == 1 { "argument" } else { "arguments" };
    let (what, help_word) = if many {
        (
            format!("requires at least {required} {}", plural(required)),
            "See",
        )
    } else if required == pos.len() {
        (format!("requires {required} {}", plural(required)), "Run")
    } else {
        (
            format!(
                "requires at least {required} and at most {} {}",
                pos.len(),
                plural(pos.len())
            ),
            "Run",
        )
    };
    format!(
        "berth: '{path}' {what}\n\nUsage:  {}\n\n{help_word} '{path} --help' for more information\n",
        use_line(cmd, path)
    )
}

/// docker/cli's `FlagErrorFunc`: pflag's error, the use line, and where help is.
pub fn flag_error(cmd: &Command, path: &str, err: &str) -> String {
    format!(
        "{err}\n\nUsage:  {}\n\nRun '{path} --help' for more information\n",
        use_line(cmd, path)
    )
}

/// pflag's words for a clap error (`unknown flag: --x`, `flag needs an argument: --name`).
pub fn pflag_words(e: &clap::Error) -> String {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let arg = match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(s)) => {
            s.split_whitespace().next().unwrap_or_default().to_string()
        }
        _ => String::new(),
    };
    let value = match e.get(ContextKind::InvalidValue) {
        Some(ContextValue::String(s)) => s.clone(),
        _ => String::new(),
    };
    match e.kind() {
        ErrorKind::UnknownArgument if arg.starts_with("--") => {
            format!("unknown flag: {}", arg.split('=').next().unwrap_or(&arg))
        }
        ErrorKind::UnknownArgument if arg.starts_with('-') => {
            let c = arg.chars().nth(1).unwrap_or('-');
            format!("unknown shorthand flag: '{c}' in {arg}")
        }
        ErrorKind::InvalidValue if value.is_empty() => format!("flag needs an argument: {arg}"),
        ErrorKind::InvalidValue | ErrorKind::ValueValidation => {
            // pflag's `invalid argument %q for %q flag: %v`, the value parser's reason last.
            match std::error::Error::source(e) {
                Some(why) => format!("invalid argument \"{value}\" for \"{arg}\" flag: {why}"),
                None => format!("invalid argument \"{value}\" for \"{arg}\" flag"),
            }
        }
        _ => {
            let msg = e.render().to_string();
            let first = msg
                .lines()
                .next()
                .unwrap_or("invalid arguments")
                .to_string();
            first.strip_prefix("error: ").unwrap_or(&first).to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stop() -> Command {
        Command::new("stop")
            .about("Stop one or more running containers")
            .arg(
                Arg::new("signal")
                    .short('s')
                    .long("signal")
                    .help("Signal to send to the container"),
            )
            .arg(
                Arg::new("time")
                    .short('t')
                    .long("timeout")
                    .value_parser(clap::value_parser!(i64))
                    .help("Seconds to wait before killing the container"),
            )
            .arg(Arg::new("root").long("root").global(true).help("berth's"))
            .arg(
                Arg::new("containers")
                    .value_name("CONTAINER")
                    .required(true)
                    .num_args(1..),
            )
    }

    #[test]
    fn help_is_docker_clis_layout() {
        assert_eq!(
            help(&stop(), "berth stop"),
            "\nUsage:  berth stop [OPTIONS] CONTAINER [CONTAINER...]\n\n\
             Stop one or more running containers\n\n\
             Aliases:\n  berth container stop, berth stop\n\n\
             Options:\n\
             \x20 -s, --signal string   Signal to send to the container\n\
             \x20 -t, --timeout int     Seconds to wait before killing the container\n"
        );
    }

    #[test]
    fn options_use_pflags_type_words_and_wrap_as_pflag() {
        let c = Command::new("history")
            .arg(Arg::new("format").long("format").help(INSPECT_FORMAT_HELP))
            .arg(
                Arg::new("human")
                    .short('H')
                    .long("human")
                    .action(ArgAction::Set)
                    .num_args(0..=1)
                    .default_value("true")
                    .default_missing_value("true")
                    .value_parser(clap::value_parser!(bool))
                    .help("Print sizes and dates in human readable format"),
            )
            .arg(
                Arg::new("memory")
                    .short('m')
                    .long("memory")
                    .value_name("bytes")
                    .help("Memory limit"),
            );
        assert_eq!(
            options(&c, "berth history"),
            "      --format string   Format output using a custom template:\n\
             \x20                       'json':             Print in JSON format\n\
             \x20                       'TEMPLATE':         Print output using the given Go template.\n\
             \x20                       Refer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates\n\
             \x20 -H, --human           Print sizes and dates in human readable format (default true)\n\
             \x20 -m, --memory bytes    Memory limit\n"
        );
    }

    #[test]
    fn usage_errors_are_docker_clis() {
        assert_eq!(
            args_error(&stop(), "berth stop"),
            "berth: 'berth stop' requires at least 1 argument\n\n\
             Usage:  berth stop [OPTIONS] CONTAINER [CONTAINER...]\n\n\
             See 'berth stop --help' for more information\n"
        );
        let rename = Command::new("rename")
            .arg(Arg::new("c").value_name("CONTAINER").required(true))
            .arg(Arg::new("n").value_name("NEW_NAME").required(true));
        assert!(
            args_error(&rename, "berth rename")
                .starts_with("berth: 'berth rename' requires 2 arguments\n\nUsage:  berth rename CONTAINER NEW_NAME\n")
        );
        assert_eq!(
            flag_error(&stop(), "berth stop", "unknown flag: --x"),
            "unknown flag: --x\n\nUsage:  berth stop [OPTIONS] CONTAINER [CONTAINER...]\n\n\
             Run 'berth stop --help' for more information\n"
        );
    }
}

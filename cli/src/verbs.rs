//! Parsing with only the verb the command line names.
//!
//! clap copies every `global = true` option into every subcommand of the command it parses
//! with (`Command::_build_self`), deferred ones included. For berth-spawn that was ten options
//! cloned into 24 verbs at every start: 55 fresh heap pages, each a page fault, and about
//! 0.1 ms of a `run` that takes 5.
//!
//! A tool whose verbs are wrapped in [`Verbs`] gets them added one at a time. [`try_parse`]
//! first parses with a command that holds only the verb the arguments name (the first
//! argument that is a verb's name or alias), and falls back to the whole command for
//! everything else: no verb, --help, --version, or any error. The error and help texts are
//! therefore always the whole command's.
//!
//! A parse that succeeds with only one verb gives what the whole command would give. The top
//! level is the same (the tool's own derive), and the verb is the same subcommand. The whole
//! command only adds other verbs, and a token that would name one of them is an error for the
//! pruned command, which then falls back. This holds because no berth tool takes a positional
//! argument beside its verbs at the top level, or infers verbs from prefixes (`infer_subcommands`,
//! where "st" would be unique among fewer verbs). The tests check both.

use std::cell::{Cell, RefCell};
use std::ffi::OsString;
use std::ops::{Deref, DerefMut};

use clap::{ArgMatches, Command, FromArgMatches, Subcommand};

thread_local! {
    /// The arguments [`try_parse`] is building a pruned command for; taken by the first
    /// [`Verbs::augment_subcommands`].
    static ARGS: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
    /// Whether that build added only one verb.
    static PRUNED: Cell<bool> = const { Cell::new(false) };
}

/// A tool's verbs (`S`, its derived `Subcommand` enum), added to its command one at a time
/// when [`try_parse`] builds it. Use it as the type of the tool's `#[command(subcommand)]`
/// field; it dereferences to `S`.
#[derive(Debug)]
pub struct Verbs<S>(pub S);

impl<S> Deref for Verbs<S> {
    type Target = S;
    fn deref(&self) -> &S {
        &self.0
    }
}

impl<S> DerefMut for Verbs<S> {
    fn deref_mut(&mut self) -> &mut S {
        &mut self.0
    }
}

impl<S: Subcommand> Subcommand for Verbs<S> {
    fn augment_subcommands(cmd: Command) -> Command {
        augment(cmd, S::augment_subcommands)
    }
    fn augment_subcommands_for_update(cmd: Command) -> Command {
        augment(cmd, S::augment_subcommands_for_update)
    }
    fn has_subcommand(name: &str) -> bool {
        S::has_subcommand(name)
    }
}

impl<S: FromArgMatches> FromArgMatches for Verbs<S> {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        S::from_arg_matches(m).map(Verbs)
    }
    fn from_arg_matches_mut(m: &mut ArgMatches) -> Result<Self, clap::Error> {
        S::from_arg_matches_mut(m).map(Verbs)
    }
    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches(m)
    }
    fn update_from_arg_matches_mut(&mut self, m: &mut ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches_mut(m)
    }
}

/// Adds every verb (`add`), or, while [`try_parse`] builds, only the one its arguments name.
fn augment(cmd: Command, add: fn(Command) -> Command) -> Command {
    let Some(args) = ARGS.with(|a| a.borrow_mut().take()) else {
        return add(cmd);
    };
    // The verbs are deferred: building them all here costs their names and abouts, not their
    // arguments.
    let all = add(Command::new(""));
    let verb = args.iter().find_map(|a| all.find_subcommand(a));
    match verb {
        Some(v) => {
            PRUNED.with(|p| p.set(true));
            cmd.subcommand(v.clone())
        }
        None => add(cmd),
    }
}

/// `T::try_parse()`, with only the verb the command line names when `T`'s verbs are
/// [`Verbs`] (see the module docs).
pub fn try_parse<T: clap::Parser>() -> Result<T, clap::Error> {
    try_parse_from(std::env::args_os().collect())
}

/// [`try_parse`] of the given arguments (the program name first).
pub fn try_parse_from<T: clap::Parser>(argv: Vec<OsString>) -> Result<T, clap::Error> {
    // Arguments that are not UTF-8 never name a verb.
    let words = argv
        .iter()
        .skip(1)
        .filter_map(|a| a.to_str())
        .map(String::from);
    ARGS.with(|a| *a.borrow_mut() = Some(words.collect()));
    PRUNED.with(|p| p.set(false));
    let cmd = T::command();
    // Still there: `T` has no [`Verbs`], and `cmd` is its whole command.
    let unused = ARGS.with(|a| a.borrow_mut().take()).is_some();
    if unused || !PRUNED.with(|p| p.replace(false)) {
        return parse_with(cmd, argv);
    }
    match parse_with::<T>(cmd, argv.clone()) {
        Ok(t) => Ok(t),
        Err(_) => T::try_parse_from(argv),
    }
}

/// [`try_parse_from`] and clap's own parse of `args` (after the program name `name`), each
/// as text: the value's `Debug`, or the error's kind and message. The module docs argue they
/// are always equal; a tool's tests check it on its own command lines.
#[doc(hidden)]
pub fn both_parses<T: clap::Parser + std::fmt::Debug>(
    name: &str,
    args: &[&str],
) -> (String, String) {
    let argv: Vec<OsString> = std::iter::once(name)
        .chain(args.iter().copied())
        .map(OsString::from)
        .collect();
    let show = |r: Result<T, clap::Error>| match r {
        Ok(t) => format!("{t:?}"),
        Err(e) => format!("{:?}: {}", e.kind(), e.render()),
    };
    (
        show(try_parse_from::<T>(argv.clone())),
        show(T::try_parse_from(argv)),
    )
}

/// What `T::try_parse_from` does, with `cmd` built already.
fn parse_with<T: clap::Parser>(cmd: Command, argv: Vec<OsString>) -> Result<T, clap::Error> {
    let mut m = cmd.try_get_matches_from(argv)?;
    T::from_arg_matches_mut(&mut m).map_err(|e| e.format(&mut T::command()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[derive(Parser, Debug)]
    #[command(name = "tool", version)]
    struct Top {
        #[arg(long, global = true, default_value = "/r")]
        root: String,
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        cmd: Verbs<Cmd>,
    }

    #[derive(Subcommand, Debug)]
    #[command(defer = true)]
    enum Cmd {
        Start {
            #[arg(short, long)]
            attach: bool,
            id: String,
        },
        State {
            id: String,
        },
        #[command(name = "unpause", visible_alias = "resume")]
        Resume {
            id: String,
        },
        Stop {
            #[arg(short, long = "timeout")]
            time: Option<u32>,
            ids: Vec<String>,
        },
    }

    #[test]
    fn a_pruned_parse_gives_what_the_whole_command_gives() {
        for args in [
            &["start", "a"][..],
            &["--root", "/x", "start", "-a", "a"],
            &["start", "--root", "/x", "--json", "a"],
            &["--root", "state", "state", "x"],
            &["--root", "start", "state", "x"],
            &["resume", "c"],
            &["stop", "-t", "3", "a", "b"],
            &["stop", "state", "start"],
            &["state"],
            &["stat", "x"],
            &["start", "--nope", "a"],
            &["start", "--help"],
            &["help", "start"],
            &["--version"],
            &[],
            &["--json"],
            &["nothing", "start", "a"],
        ] {
            let (pruned, whole) = both_parses::<Top>("tool", args);
            assert_eq!(pruned, whole, "{args:?}");
        }
    }

    /// A tool without [`Verbs`] (every pipeline stage): its one command, built once, parses.
    #[derive(Parser, Debug)]
    #[command(name = "stage")]
    struct Plain {
        #[arg(long, global = true)]
        json: bool,
        #[arg(long = "network")]
        network: Option<String>,
        record: Option<String>,
        #[command(subcommand)]
        cmd: Option<Cmd>,
    }

    #[test]
    fn a_tool_without_verbs_parses_as_clap_does() {
        for args in [
            &["--network=none", "-"][..],
            &["--json", "state", "x"],
            &["--nope"],
            &["--help"],
            &[],
        ] {
            let (ours, clap) = both_parses::<Plain>("stage", args);
            assert_eq!(ours, clap, "{args:?}");
        }
        // Nothing was left for a later build to find.
        assert!(ARGS.with(|a| a.borrow().is_none()));
    }

    #[test]
    fn only_the_verb_given_is_built_and_other_commands_are_whole() {
        ARGS.with(|a| *a.borrow_mut() = Some(vec!["--json".into(), "resume".into()]));
        let cmd = Top::command();
        let names: Vec<_> = cmd.get_subcommands().map(|s| s.get_name()).collect();
        assert_eq!(names, ["unpause"]);
        assert!(PRUNED.with(|p| p.replace(false)));
        // The next build (the fallback, --help, the generated docs) has every verb.
        assert_eq!(Top::command().get_subcommands().count(), 4);
    }
}

//! clap definition of the shell script `berth-run` (the dispatcher `berth` is in
//! `dispatch`), so that its completions, man page and `--help` come from clap like every
//! tool's. The scripts parse their own arguments (dash starts in a millisecond).
//!
//! [`RUN_FLAGS`] and [`REFUSED_RUN_FLAGS`] (in `run_flags`) are the one definition of `berth run`'s flags:
//! `tests/tests/run_flags.rs` holds berth-run's case tables to them (every flag accepted and
//! sent to the stage named here, every refused one refused by name, and no flag in the script
//! that is not here).

use clap::{Arg, ArgAction, Command};

use crate::run_flags::LIST_FLAGS;
pub use crate::run_flags::{REFUSED_RUN_FLAGS, RUN_FLAGS};

/// `berth run --help`, `berth create --help` (`verb` is `run` or `create`): docker/cli's
/// layout (`berth_cli::usage`) over [`RUN_FLAGS`], each flag once, in Docker's words.
pub fn run_help(verb: &str) -> String {
    let about = match verb {
        "create" => "Create a new container",
        _ => "Create and run a new container from an image",
    };
    let mut c = Command::new(format!("berth {verb}")).about(about);
    for (long, short, value, _, help) in RUN_FLAGS {
        let mut a = Arg::new(*long).long(*long).help(*help);
        if let Some(s) = short {
            a = a.short(*s);
        }
        a = match (*value, LIST_FLAGS.contains(long)) {
            (false, _) => a.action(ArgAction::SetTrue),
            (true, true) => a.action(ArgAction::Append),
            (true, false) => a.action(ArgAction::Set),
        };
        c = c.arg(a);
    }
    let c = c
        .disable_help_flag(true)
        .arg(Arg::new("image").value_name("IMAGE").required(true));
    let mut out = berth_cli::usage::help(&c, &format!("berth {verb}"));
    out.push_str(
        "\nExit status: 125 if berth fails, 126 if the command cannot be invoked, 127 if it \
         cannot be found, otherwise the container's own. --dry-run prints the stage pipeline \
         instead of running it.\n",
    );
    out
}

/// `berth-run` (and `berth run`, `berth create`).
pub fn run(name: &str) -> Command {
    let mut c = Command::new(name.to_string())
        .about("Create and run a new container from an image, as the pipeline of berth's stages")
        .long_about(
            "Create and run a new container from an image. Each of Docker's flags goes to the stage \
             that owns it: berth-pull | berth-unpack | berth-netns | berth-vol | berth-spawn.\n\n\
             Exit status: 125 if berth fails, 126 if the command cannot be invoked, 127 if it \
             cannot be found, otherwise the container's own.",
        )
        .disable_help_flag(true)
        .arg(Arg::new("help").long("help").action(ArgAction::Help).help("Print help"));
    for (long, short, value, stage, help) in RUN_FLAGS {
        let mut a = Arg::new(*long)
            .long(*long)
            .help(format!("{help} [{stage}]"));
        if let Some(s) = short {
            a = a.short(*s);
        }
        a = if *value {
            a.action(ArgAction::Append).value_name("VALUE")
        } else {
            a.action(ArgAction::SetTrue)
        };
        c = c.arg(a);
    }
    c.arg(Arg::new("image").value_name("IMAGE").required(true))
        .arg(
            Arg::new("command")
                .value_name("COMMAND")
                .num_args(0..)
                .trailing_var_arg(true)
                .allow_hyphen_values(true),
        )
}

#[cfg(test)]
mod tests {
    #[test]
    fn definitions_are_valid() {
        super::run("berth-run").debug_assert();
        super::super::dispatch::berth().debug_assert();
    }
}

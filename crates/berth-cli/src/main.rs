//! `berth`: a Docker-compatible command-line client for berthd.
//!
//! Flow: clap parses argv into plain structs (`args`), the `cmd` modules
//! validate them and talk to the daemon through bollard (`client`), and
//! `main` turns the outcome into Docker's messages and exit statuses.

mod args;
mod client;
mod cmd;
mod error;
mod filter;
mod opts;
mod output;
mod ports;
mod template;
mod tty;

use clap::error::ErrorKind;
use clap::Parser;
use error::StatusError;

fn main() {
    let cli = match args::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = match e.kind() {
                ErrorKind::DisplayHelp
                | ErrorKind::DisplayVersion
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => 0,
                ErrorKind::MissingRequiredArgument | ErrorKind::TooFewValues => 1,
                _ => 125,
            };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    error::set_host(&cli.host);

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("berth: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = match runtime.block_on(cmd::dispatch(cli)) {
        Ok(code) => code,
        Err(e) => match e.downcast_ref::<StatusError>() {
            Some(s) => {
                if !s.message.is_empty() {
                    eprintln!("{}", s.message);
                }
                s.code
            }
            None => {
                eprintln!("{}", error::describe(&e));
                1
            }
        },
    };
    // Exit without dropping the runtime: a blocking stdin reader (exec -i)
    // would otherwise keep the process alive.
    std::process::exit(code);
}

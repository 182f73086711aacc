//! Command execution: one module per command family.

pub mod container;
pub mod exec;
pub mod image;
pub mod inspect;
pub mod network;
pub mod run;
pub mod system;

use crate::args::{Cli, Command, ContainerCommand, ImageCommand, NetworkCommand, ObjectType};
use crate::client::Client;

/// Runs the parsed command line and returns the process exit status.
pub async fn dispatch(cli: Cli) -> anyhow::Result<i32> {
    // `version` prints the client half even without a daemon.
    if let Command::Version(a) = &cli.command {
        return system::version(&cli.host, a).await;
    }
    if let Command::Logout(a) = &cli.command {
        return image::logout(a).await;
    }
    precheck(&cli.command)?;
    let client = Client::connect(&cli.host).await?;
    let c = &client;
    match cli.command {
        Command::Version(_) => Ok(0),
        Command::Info(a) => system::info(c, &a).await,
        Command::Run(a) => run::run(c, &a).await,
        Command::Create(a) => run::create(c, &a).await,
        Command::Start(a) => container::start(c, &a).await,
        Command::Stop(a) => container::stop(c, &a, false).await,
        Command::Restart(a) => container::stop(c, &a, true).await,
        Command::Kill(a) => container::kill(c, &a).await,
        Command::Rm(a) => container::rm(c, &a).await,
        Command::Rename(a) => container::rename(c, &a).await,
        Command::Ps(a) => container::ps(c, &a).await,
        Command::Logs(a) => container::logs(c, &a).await,
        Command::Port(a) => container::port(c, &a).await,
        Command::Exec(a) => exec::exec(c, &a).await,
        Command::Inspect(a) => inspect::inspect(c, a.typ, a.format.as_deref(), &a.names).await,
        Command::Import(a) => image::import(c, &a).await,
        Command::Images(a) => image::images(c, &a).await,
        Command::Rmi(a) => image::rmi(c, &a).await,
        Command::Pull(a) => image::pull(c, &a).await,
        Command::Push(a) => image::push(c, &a).await,
        Command::Save(a) => image::save(c, &a).await,
        Command::Load(a) => image::load(c, &a).await,
        Command::Tag(a) => image::tag(c, &a).await,
        Command::Login(a) => image::login(c, &a).await,
        Command::Logout(a) => image::logout(&a).await,
        Command::Container(sub) => match sub {
            ContainerCommand::Ls(a) => container::ps(c, &a).await,
            ContainerCommand::Run(a) => run::run(c, &a).await,
            ContainerCommand::Create(a) => run::create(c, &a).await,
            ContainerCommand::Start(a) => container::start(c, &a).await,
            ContainerCommand::Stop(a) => container::stop(c, &a, false).await,
            ContainerCommand::Restart(a) => container::stop(c, &a, true).await,
            ContainerCommand::Kill(a) => container::kill(c, &a).await,
            ContainerCommand::Rm(a) => container::rm(c, &a).await,
            ContainerCommand::Rename(a) => container::rename(c, &a).await,
            ContainerCommand::Logs(a) => container::logs(c, &a).await,
            ContainerCommand::Exec(a) => exec::exec(c, &a).await,
            ContainerCommand::Port(a) => container::port(c, &a).await,
            ContainerCommand::Prune(a) => container::prune(c, &a).await,
            ContainerCommand::Inspect(a) => {
                let t = Some(ObjectType::Container);
                inspect::inspect(c, t, a.format.as_deref(), &a.names).await
            }
        },
        Command::Image(sub) => match sub {
            ImageCommand::Ls(a) => image::images(c, &a).await,
            ImageCommand::Rm(a) => image::rmi(c, &a).await,
            ImageCommand::Import(a) => image::import(c, &a).await,
            ImageCommand::Pull(a) => image::pull(c, &a).await,
            ImageCommand::Push(a) => image::push(c, &a).await,
            ImageCommand::Save(a) => image::save(c, &a).await,
            ImageCommand::Load(a) => image::load(c, &a).await,
            ImageCommand::Tag(a) => image::tag(c, &a).await,
            ImageCommand::Prune(a) => image::prune(c, &a).await,
            ImageCommand::Inspect(a) => {
                let t = Some(ObjectType::Image);
                inspect::inspect(c, t, a.format.as_deref(), &a.names).await
            }
        },
        Command::Network(sub) => match sub {
            NetworkCommand::Ls(a) => network::ls(c, &a).await,
            NetworkCommand::Create(a) => network::create(c, &a).await,
            NetworkCommand::Rm(a) => network::rm(c, &a).await,
            NetworkCommand::Prune(a) => network::prune(c, &a).await,
            NetworkCommand::Connect(a) => network::connect(c, &a).await,
            NetworkCommand::Disconnect(a) => network::disconnect(c, &a).await,
            NetworkCommand::Inspect(a) => {
                let t = Some(ObjectType::Network);
                inspect::inspect(c, t, a.format.as_deref(), &a.names).await
            }
        },
    }
}

/// Validates flags that need no daemon, so bad input is reported (with
/// Docker's exit status) even when berthd is not reachable.
fn precheck(command: &Command) -> anyhow::Result<()> {
    use crate::error::StatusError;
    let status = |e: String| StatusError::new(1, e);
    match command {
        Command::Run(a) | Command::Container(ContainerCommand::Run(a)) => {
            run::spec_or_fail(&a.opts, a.detach, "run")?;
        }
        Command::Create(a) | Command::Container(ContainerCommand::Create(a)) => {
            run::spec_or_fail(&a.opts, false, "create")?;
        }
        Command::Exec(a) | Command::Container(ContainerCommand::Exec(a)) => {
            exec::prepare(a)?;
        }
        Command::Import(a) | Command::Image(ImageCommand::Import(a)) => {
            image::import_query(a).map_err(status)?;
        }
        Command::Network(NetworkCommand::Create(a)) => {
            network::create_request(a).map_err(status)?;
        }
        Command::Network(NetworkCommand::Connect(a)) => {
            network::connect_request(a).map_err(|e| status(e.to_string()))?;
        }
        _ => {}
    }
    Ok(())
}

/// Prints a per-object failure the Docker way and remembers that one failed.
pub fn report(failed: &mut bool, err: &bollard::errors::Error) {
    *failed = true;
    eprintln!("{}", crate::error::describe_api_error(err));
}

/// Exit status for commands that act on several objects.
pub fn status(failed: bool) -> i32 {
    i32::from(failed)
}

/// Asks a yes/no question on the terminal; `false` unless the answer is y/yes.
pub fn confirm(prompt: &str) -> bool {
    crate::output::out(&format!("{prompt} [y/N] "));
    let mut line = String::new();
    if std::io::stdin().read_line(&mut line).is_err() {
        return false;
    }
    matches!(line.trim().to_lowercase().as_str(), "y" | "yes")
}

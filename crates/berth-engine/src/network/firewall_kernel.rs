//! The netlink batches of `firewall::add`/`remove` against the kernel and `nft`: in a throwaway
//! network namespace, a network added (and removed) by batch must leave berth's tables exactly
//! as the equivalent `nft -f` script does, and `nft` must go on working with what the batch
//! made. Needs root and `nft`; skipped otherwise (failed with `BERTH_REQUIRE_PRIVILEGED=1`).

use super::firewall::{self, FwNet};
use berth_kernel::{netns, nf_tables::ruleset, nft, Result};
use std::path::PathBuf;

fn net(i: u8, internal: bool, icc: bool, v6: bool) -> FwNet {
    let mut subnets = vec![format!("10.120.{i}.0/24").parse().unwrap()];
    if v6 {
        subnets.push(format!("fd00:{i}::/64").parse().unwrap());
    }
    FwNet {
        key: format!("k{i}"),
        bridge: format!("br-k{i}"),
        internal,
        masquerade: true,
        icc,
        open: [i.is_multiple_of(2), v6],
        subnets,
    }
}

fn listing() -> Result<String> {
    Ok(format!(
        "{}\n{}",
        nft::list_table("inet", "berth")?.unwrap_or_default(),
        nft::list_table("bridge", "berth")?.unwrap_or_default()
    ))
}

/// Runs `f` in a new network namespace (removed afterwards), or says why it cannot.
fn in_throwaway_netns<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Option<T> {
    let usable = nix::unistd::geteuid().is_root()
        && std::process::Command::new("nft")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
    if !usable {
        assert!(
            std::env::var_os("BERTH_REQUIRE_PRIVILEGED").is_none(),
            "{name}: needs root and nft"
        );
        eprintln!("skipped {name}: needs root and nft");
        return None;
    }
    let path = PathBuf::from(format!(
        "{}/berth-fwtest-{}-{name}",
        std::env::temp_dir().display(),
        std::process::id()
    ));
    netns::create(&path).expect("create a network namespace");
    let r = netns::run_in(&path, f);
    let _ = netns::remove(&path);
    Some(r.expect("in the throwaway namespace"))
}

#[test]
fn batches_leave_the_tables_as_nft_scripts_do() {
    let nets = [
        net(1, false, true, false),
        net(2, true, false, true),
        net(3, false, false, false),
    ];
    let Some((by_script, by_batch, after_rm_script, after_rm_batch)) =
        in_throwaway_netns("equivalence", move || {
            let base = firewall::full(&[], &[], &[]);
            nft::apply(&base)?;
            for n in &nets {
                nft::apply(&firewall::script(&firewall::add(n)))?;
            }
            let by_script = listing()?;
            nft::apply(&firewall::script(&firewall::remove(&nets[1])))?;
            let after_rm_script = listing()?;
            nft::apply(&base)?;
            for n in &nets {
                ruleset::apply(&firewall::add(n))?;
            }
            let by_batch = listing()?;
            ruleset::apply(&firewall::remove(&nets[1]))?;
            let after_rm_batch = listing()?;
            // nft still understands the sets: it removes, by script, what a batch added.
            nft::apply(&firewall::script(&firewall::remove(&nets[2])))?;
            ruleset::apply(&firewall::add(&nets[2]))?;
            // Adding a network that is there already changes nothing (as `nft add` does).
            ruleset::apply(&firewall::add(&nets[2]))?;
            assert_eq!(listing()?, after_rm_batch);
            Ok((by_script, by_batch, after_rm_script, after_rm_batch))
        })
    else {
        return;
    };
    assert_eq!(by_batch, by_script);
    assert_eq!(after_rm_batch, after_rm_script);
    assert!(by_batch.contains("\"br-k2\" . \"br-k2\""), "{by_batch}");
    assert!(!after_rm_batch.contains("br-k2"), "{after_rm_batch}");
}

#[test]
fn a_failed_batch_leaves_nothing_behind() {
    let Some((before, after, err)) = in_throwaway_netns("rollback", || {
        nft::apply(&firewall::full(&[net(1, false, true, false)], &[], &[]))?;
        let before = listing()?;
        // A second network whose bridge is new but whose subnet overlaps the first one's: its
        // elements go in until `nets4` refuses the overlapping interval.
        let mut clash = net(9, false, false, true);
        clash.subnets[0] = "10.120.1.128/25".parse().unwrap();
        let err = ruleset::apply(&firewall::add(&clash))
            .err()
            .map(|e| e.to_string());
        Ok((before, listing()?, err))
    }) else {
        return;
    };
    assert!(err.is_some(), "adding a clashing network succeeded");
    assert_eq!(after, before);
}

#[test]
fn transactions_are_attributed_to_the_thread_or_nft_process_that_made_them() {
    use berth_kernel::nf_tables::generations::{generations, Generation};
    let Some((by_thread, tid, by_nft)) = in_throwaway_netns("generations", || {
        let mut gens = generations()?;
        nft::apply(&firewall::full(&[], &[], &[]))?;
        let by_nft = gens.blocking_recv();
        ruleset::apply(&firewall::add(&net(1, false, true, false)))?;
        let by_thread = gens.blocking_recv();
        drop(gens);
        // The reader ends at the next event after its receiver is gone.
        ruleset::apply(&firewall::remove(&net(1, false, true, false)))?;
        Ok((by_thread, nix::unistd::gettid().as_raw() as u32, by_nft))
    }) else {
        return;
    };
    assert_eq!(by_thread, Some(Generation::By(Some(tid))));
    match by_nft {
        Some(Generation::By(Some(pid))) => assert!(nft::ran_here(pid), "pid {pid}"),
        other => panic!("nft's transaction reported as {other:?}"),
    }
}

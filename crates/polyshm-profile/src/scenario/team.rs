//! Study tables 6–10: a master and one drone (the `polyshm` binary itself), timed per
//! transport. Each point is one `Team::run` roundtrip (serde or pod key): the payload
//! travels to the drone, the drone echoes it, and the master has it back.
//!
//! | family | table | transport | task |
//! |---|---|---|---|
//! | `socket_empty_task` | 6 (tcp), ref (unix, hybrid, hybrid-unprotected, shm) | all five | `polyshm.empty` |
//! | `socket_request` | 7 (tcp), ref (unix) | tcp, unix | `polyshm.echo_bytes`, `polyshm.echo_i64` |
//! | `hybrid_protected` | 8 | hybrid | the same |
//! | `hybrid_unprotected` | 9 | hybrid-unprotected | the same |
//! | `shm_command` | 10 | shm | the same |
//!
//! Sizes are the study's, 1 … 1,000,000 bytes and integers (the study's table 7
//! starts at 10 and its table 10 has integers only; the extra points have no study
//! figure but give tables 8–10 a same-run baseline at every size).

use super::{byte_payload, int_payload, Context, Scenario};
use crate::config::{Config, DECADES_FROM_1};
use crate::error::ProfileError;
use crate::row::{Row, TableRef, Unit};
use polyshm::sync::WaitStrategy;
use polyshm::team::{builtin, Signal, Tasks, Team, TeamError, Transport, DEFAULT_WAIT};

/// Map a team error; the description is copied only when there is an error.
pub(super) fn team_err<'a>(
    scenario: &'static str,
    what: &'a str,
) -> impl FnOnce(TeamError) -> ProfileError + 'a {
    move |source| ProfileError::Team {
        scenario,
        what: what.to_string(),
        source,
    }
}

/// A team of one drone on `transport`, pinned as the context's placement says.
///
/// The team is started from the unpinned thread: started from the pinned master it
/// would see one usable CPU and refuse a drone on another.
fn spawn(
    ctx: &Context<'_>,
    scenario: &'static str,
    transport: Transport,
) -> Result<Team, ProfileError> {
    spawn_with(ctx, scenario, transport, Tasks::new())
}

/// [`spawn`] with the master's registry `tasks` (the drone program must register the
/// same).
pub(super) fn spawn_with(
    ctx: &Context<'_>,
    scenario: &'static str,
    transport: Transport,
    tasks: Tasks,
) -> Result<Team, ProfileError> {
    spawn_team(
        ctx,
        scenario,
        transport,
        tasks,
        Signal::Semaphore,
        DEFAULT_WAIT,
    )
}

fn spawn_team(
    ctx: &Context<'_>,
    scenario: &'static str,
    transport: Transport,
    tasks: Tasks,
    signal: Signal,
    wait: WaitStrategy,
) -> Result<Team, ProfileError> {
    let (_, drone_cpu) = ctx.cpus();
    let program = ctx.program()?;
    let spawned = ctx.unpinned.run(move || {
        Team::builder(tasks)
            .drones(1)
            .transport(transport)
            .pin_drones(vec![drone_cpu])
            .program(program)
            .signal(signal)
            .wait_strategy(wait)
            .spawn()
    });
    match spawned {
        Some(r) => r.map_err(team_err(
            scenario,
            &format!("start a drone over {transport}"),
        )),
        None => Err(ProfileError::Helper {
            scenario,
            detail: "the unpinned thread that starts teams is gone".into(),
        }),
    }
}

/// The transports of `list` this platform has; a note for each it lacks.
fn available(ctx: &mut Context<'_>, list: &[Transport]) -> Vec<Transport> {
    list.iter()
        .copied()
        .filter(|t| {
            if !t.is_available() {
                ctx.notes.push(format!(
                    "transport `unix` skipped: this platform ({}) has no Unix sockets",
                    polyshm::sys::PLATFORM
                ));
                false
            } else {
                true
            }
        })
        .collect()
}

/// How many of `list` this platform has.
fn count_available(list: &[Transport]) -> usize {
    list.iter().filter(|t| t.is_available()).count()
}

/// The row's transport id (the team's own `Display`).
fn transport_id(t: Transport) -> String {
    t.to_string()
}

/// A team's variant name: its transport, `+window` when it signals by window
/// messages, `+block` when its waits never spin (each wakes through the kernel).
fn variant_id(team: &Team) -> String {
    match (team.signal(), team.wait_strategy()) {
        (Signal::Window, _) => format!("{}+window", team.transport()),
        (_, WaitStrategy::Block) => format!("{}+block", team.transport()),
        _ => transport_id(team.transport()),
    }
}

/// Time echo roundtrips of every size and unit over `team`.
fn echo_points(
    ctx: &mut Context<'_>,
    scenario_family: &'static str,
    team: &Team,
    table: TableRef,
    scenario: &str,
) -> Result<Vec<Row>, ProfileError> {
    let budget = ctx.budget.roundtrip();
    let transport = variant_id(team);
    let mut rows = Vec::new();
    for size in ctx.config.sizes(DECADES_FROM_1) {
        let n = size as usize;
        let bytes = byte_payload(n);
        let what = format!("echo {n} bytes over {transport}");
        let row = ctx.point(
            budget,
            table,
            scenario,
            &transport,
            Some((size, Unit::Bytes)),
            || {
                let back: Vec<u8> = team
                    .run(&builtin::ECHO_BYTES, &bytes)
                    .map_err(team_err(scenario_family, &what))?;
                expect_len(scenario_family, &what, back.len(), n)
            },
        )?;
        let back: Vec<u8> = team
            .run(&builtin::ECHO_BYTES, &bytes)
            .map_err(team_err(scenario_family, &what))?;
        expect_equal(scenario_family, &what, back == bytes)?;
        rows.push(row);
    }
    for size in ctx.config.sizes(DECADES_FROM_1) {
        let n = size as usize;
        let ints = int_payload(n);
        let what = format!("echo {n} integers over {transport}");
        let row = ctx.point(
            budget,
            table,
            scenario,
            &transport,
            Some((size, Unit::Ints)),
            || {
                let back: Vec<i64> = team
                    .run(&builtin::ECHO_I64, &ints)
                    .map_err(team_err(scenario_family, &what))?;
                expect_len(scenario_family, &what, back.len(), n)
            },
        )?;
        let back: Vec<i64> = team
            .run(&builtin::ECHO_I64, &ints)
            .map_err(team_err(scenario_family, &what))?;
        expect_equal(scenario_family, &what, back == ints)?;
        rows.push(row);
    }
    Ok(rows)
}

/// Table 10's zero-copy row: the integer echo with the request written straight into
/// the drone's mailbox (a loan) and the answer read where it lies (a `Reply`), by an
/// in-place task: the payload is written once and never copied.
fn zero_copy_points(ctx: &mut Context<'_>, team: &Team) -> Result<Vec<Row>, ProfileError> {
    const ID: &str = "shm_command";
    let budget = ctx.budget.roundtrip();
    let transport = transport_id(team.transport());
    let key = builtin::ECHO_I64_IN_PLACE;
    let mut rows = Vec::new();
    for size in ctx.config.sizes(DECADES_FROM_1) {
        let n = size as usize;
        let ints = int_payload(n);
        let what = format!("zero-copy echo of {n} integers over {transport}");
        let row = ctx.point(
            budget,
            TableRef::Study(10),
            "shm_command_zero_copy",
            &transport,
            Some((size, Unit::Ints)),
            || {
                let mut loan = team.loan(&key, n).map_err(team_err(ID, &what))?;
                loan.copy_from_slice(&ints);
                let reply = loan.send().map_err(team_err(ID, &what))?;
                std::hint::black_box(reply.last());
                expect_len(ID, &what, reply.len(), n)
            },
        )?;
        let mut loan = team.loan(&key, n).map_err(team_err(ID, &what))?;
        loan.copy_from_slice(&ints);
        let reply = loan.send().map_err(team_err(ID, &what))?;
        expect_equal(ID, &what, *reply == ints[..])?;
        rows.push(row);
    }
    Ok(rows)
}

fn expect_len(
    scenario: &'static str,
    what: &str,
    got: usize,
    want: usize,
) -> Result<(), ProfileError> {
    if got == want {
        return Ok(());
    }
    Err(ProfileError::Wrong {
        scenario,
        what: format!("{what}: length of the echo"),
        expected: want.to_string(),
        found: got.to_string(),
    })
}

fn expect_equal(scenario: &'static str, what: &str, equal: bool) -> Result<(), ProfileError> {
    if equal {
        return Ok(());
    }
    Err(ProfileError::Wrong {
        scenario,
        what: format!("{what}: the echo"),
        expected: "the payload sent".into(),
        found: "different values".into(),
    })
}

/// Table 6: the empty task, over every transport.
pub struct EmptyTask;

impl Scenario for EmptyTask {
    fn id(&self) -> &'static str {
        "socket_empty_task"
    }
    fn table(&self) -> TableRef {
        TableRef::Study(6)
    }
    fn title(&self) -> &'static str {
        "Communication overhead: request of the empty task (tcp: the study's Polycephaly; others for reference)"
    }
    fn row_ids(&self) -> &'static [&'static str] {
        &["socket_empty_task", "empty_task"]
    }
    fn two_process(&self) -> bool {
        true
    }
    fn points(&self, _: &Config) -> usize {
        count_available(&Transport::ALL)
    }
    fn run(&self, ctx: &mut Context<'_>) -> Result<Vec<Row>, ProfileError> {
        const ID: &str = "socket_empty_task";
        let budget = ctx.budget.roundtrip();
        let mut rows = Vec::new();
        for transport in available(ctx, &Transport::ALL) {
            let team = spawn(ctx, ID, transport)?;
            let (table, scenario) = match transport {
                Transport::Tcp => (TableRef::Study(6), "socket_empty_task"),
                _ => (TableRef::Ref, "empty_task"),
            };
            let what = format!("run polyshm.empty over {transport}");
            rows.push(ctx.point(
                budget,
                table,
                scenario,
                &transport_id(transport),
                None,
                || team.run(&builtin::EMPTY, ()).map_err(team_err(ID, &what)),
            )?);
        }
        Ok(rows)
    }
}

/// Table 7: socket requests (tcp), and the same over a Unix socket (reference).
pub struct Requests;

impl Scenario for Requests {
    fn id(&self) -> &'static str {
        "socket_request"
    }
    fn table(&self) -> TableRef {
        TableRef::Study(7)
    }
    fn title(&self) -> &'static str {
        "Socket requests: bytes and integer arrays echoed (tcp: the study's Polycephaly; unix for reference)"
    }
    fn row_ids(&self) -> &'static [&'static str] {
        &["socket_request"]
    }
    fn two_process(&self) -> bool {
        true
    }
    fn points(&self, config: &Config) -> usize {
        count_available(&[Transport::Tcp, Transport::Unix]) * 2 * config.sizes(DECADES_FROM_1).len()
    }
    fn run(&self, ctx: &mut Context<'_>) -> Result<Vec<Row>, ProfileError> {
        const ID: &str = "socket_request";
        let mut rows = Vec::new();
        for transport in available(ctx, &[Transport::Tcp, Transport::Unix]) {
            let table = match transport {
                Transport::Tcp => TableRef::Study(7),
                _ => TableRef::Ref,
            };
            let team = spawn(ctx, ID, transport)?;
            rows.extend(echo_points(ctx, ID, &team, table, "socket_request")?);
        }
        Ok(rows)
    }
}

/// Tables 8 and 9: socket request, result through shared memory, with or without the
/// semaphore.
pub struct Hybrid {
    /// Table 8 (`true`) or table 9 (`false`).
    pub protected: bool,
}

impl Scenario for Hybrid {
    fn id(&self) -> &'static str {
        if self.protected {
            "hybrid_protected"
        } else {
            "hybrid_unprotected"
        }
    }
    fn table(&self) -> TableRef {
        TableRef::Study(if self.protected { 8 } else { 9 })
    }
    fn title(&self) -> &'static str {
        if self.protected {
            "Socket request, result via protected shared memory (factor vs table 7)"
        } else {
            "Socket request, result via unprotected shared memory (factor vs table 7)"
        }
    }
    fn row_ids(&self) -> &'static [&'static str] {
        &["hybrid_result"]
    }
    fn two_process(&self) -> bool {
        true
    }
    fn points(&self, config: &Config) -> usize {
        2 * config.sizes(DECADES_FROM_1).len()
    }
    fn run(&self, ctx: &mut Context<'_>) -> Result<Vec<Row>, ProfileError> {
        let id = self.id();
        let team = spawn(
            ctx,
            id,
            Transport::Hybrid {
                protected: self.protected,
            },
        )?;
        echo_points(ctx, id, &team, self.table(), "hybrid_result")
    }
}

/// Table 10: command and data both through shared memory.
pub struct ShmCommand;

impl Scenario for ShmCommand {
    fn id(&self) -> &'static str {
        "shm_command"
    }
    fn table(&self) -> TableRef {
        TableRef::Study(10)
    }
    fn title(&self) -> &'static str {
        "Shared-memory command: protected write + unprotected read (factor vs table 7)"
    }
    fn row_ids(&self) -> &'static [&'static str] {
        &["shm_command", "shm_command_zero_copy"]
    }
    fn two_process(&self) -> bool {
        true
    }
    fn points(&self, config: &Config) -> usize {
        (3 + 4 * usize::from(config.signal == Signal::Window)) * config.sizes(DECADES_FROM_1).len()
    }
    fn run(&self, ctx: &mut Context<'_>) -> Result<Vec<Row>, ProfileError> {
        let team = spawn(ctx, "shm_command", Transport::Shm)?;
        let mut rows = echo_points(
            ctx,
            "shm_command",
            &team,
            TableRef::Study(10),
            "shm_command",
        )?;
        rows.extend(zero_copy_points(ctx, &team)?);
        if ctx.config.signal == Signal::Window {
            // The study's own signalling, same run: the hand-over by window messages,
            // beside the semaphores made to block (no spin: every hand-over a kernel
            // wake through the named semaphore, as every window message is).
            drop(team);
            for (signal, wait) in [
                (Signal::Semaphore, WaitStrategy::Block),
                (Signal::Window, WaitStrategy::Block),
            ] {
                let team = spawn_team(
                    ctx,
                    "shm_command",
                    Transport::Shm,
                    Tasks::new(),
                    signal,
                    wait,
                )?;
                rows.extend(echo_points(
                    ctx,
                    "shm_command",
                    &team,
                    TableRef::Study(10),
                    "shm_command",
                )?);
            }
        }
        Ok(rows)
    }
}

//! A shared matrix through the team: drones get the matrix's handle and a tile as a
//! task argument, open it once (cached) and write their tile in place; only their
//! pid travels back.

use crate::support::{keys, team, trial};
use libtest_mimic::{Failed, Trial};
use polyshm::objects::{MatrixHandle, SharedMatrix, Tile, Tiling};
use polyshm::team::Transport;

/// What the drones write at (`r`, `c`): never 0, different everywhere.
pub fn cell(r: usize, c: usize) -> u64 {
    ((r as u64) << 32) | (c as u64 + 1)
}

/// The `fill_tile` task (in a drone).
pub fn fill_tile(handle: &MatrixHandle<u64>, tile: &Tile) -> (u32, usize) {
    let m = SharedMatrix::open_cached(handle).unwrap_or_else(|e| panic!("{e}"));
    let mut part = m.claim(tile.index).unwrap_or_else(|e| panic!("{e}"));
    for r in tile.row_range() {
        let row: Vec<u64> = tile.col_range().map(|c| cell(r, c)).collect();
        part.write_row(r, &row).unwrap_or_else(|e| panic!("{e}"));
    }
    (std::process::id(), polyshm::objects::cache::cached().len())
}

/// The trials of this module, one per transport.
pub fn trials() -> Vec<Trial> {
    Transport::ALL
        .into_iter()
        .map(|t| {
            trial(
                format!(
                    "{}::objects::drones_write_tiles_of_a_shared_matrix",
                    t.id().replace('-', "_")
                ),
                move || drones_write_tiles(t),
            )
            .with_ignored_flag(!t.is_available())
        })
        .collect()
}

fn drones_write_tiles(t: Transport) -> Result<(), Failed> {
    let team = team(t, 2);
    let name = polyshm::shm::unique_name("t-team-matrix");
    let m = SharedMatrix::<u64>::create(&name, 45, 30, Tiling::tiles(8, 8))?;
    assert_eq!(m.parts(), 24);
    let handle = m.handle();
    let answers = team.map(
        &keys().fill_tile,
        m.tiles().map(|tile| (handle.clone(), tile)),
    )?;
    assert_eq!(answers.len(), 24);
    let drones: Vec<u32> = crate::support::pids(&team);
    for (pid, cached) in &answers {
        assert!(
            drones.contains(pid),
            "answered by drone {pid}, not one of {drones:?}"
        );
        // Each drone opened the matrix once, whatever number of tiles it wrote.
        assert_eq!(*cached, 1, "drone {pid} holds {cached} cached objects");
    }
    let cells = m.to_vec()?;
    for r in 0..m.rows() {
        for c in 0..m.cols() {
            assert_eq!(cells[r * m.cols() + c], cell(r, c), "cell ({r}, {c})");
        }
    }
    // Every drone dropped its claims.
    for tile in m.tiles() {
        assert_eq!(m.claimant(tile.index)?, None, "tile {}", tile.index);
    }
    // A second matrix, another round: the drones' caches drop the first one's
    // mapping once its segment is gone (where a segment's name lives as long as some
    // process maps it, Windows, the cache keeps it until `forget`).
    drop(m);
    let name2 = polyshm::shm::unique_name("t-team-matrix");
    let m2 = SharedMatrix::<u64>::create(&name2, 8, 8, Tiling::rows(4))?;
    let h2 = m2.handle();
    let answers = team.map(&keys().fill_tile, m2.tiles().map(|tile| (h2.clone(), tile)))?;
    let most = if polyshm::sys::SEGMENTS_PERSIST { 1 } else { 2 };
    assert!(
        answers
            .iter()
            .all(|&(_, cached)| (1..=most).contains(&cached)),
        "{answers:?}"
    );
    assert_eq!(m2.get(7, 7)?, cell(7, 7));
    Ok(())
}

//! [`PodOut`]: where a pod task registered with
//! [`Tasks::pod_task_into`](super::Tasks::pod_task_into) writes its result — straight
//! into the transport's reply area, so that the drone copies nothing after the task.
//!
//! Through [`Shm`](super::Transport::Shm) and the hybrids the area is the drone's
//! mailbox result area (shared memory the master reads the reply from); through the
//! sockets it is the link's reused send buffer. The master makes the mailbox's result
//! area at least as large as the request, so an answer no longer than its question
//! always lands there. A longer answer is not refused: once the area is full the
//! values written so far move to a vector of their own and the rest follows them
//! there (the transport then sends that vector, growing the mailbox first), so a task
//! never needs to know how large the area is.

/// The result of a pod task, written where the transport sends it from.
///
/// Append with [`push`](Self::push), [`extend_from_slice`](Self::extend_from_slice)
/// or [`Extend`]; read and change what is written with
/// [`as_slice`](Self::as_slice) / [`as_mut_slice`](Self::as_mut_slice).
///
/// ```
/// use polyshm::team::{PodOut, PodTask, Tasks};
/// let mut tasks = Tasks::new();
/// let double: PodTask<f64, f64> =
///     tasks.pod_task_into("double", |v: &[f64], out: &mut PodOut<f64>| {
///         out.extend(v.iter().map(|x| x * 2.0))
///     });
/// # assert!(tasks.contains(double.name()));
/// ```
pub struct PodOut<'a, R> {
    /// The transport's area, seen as values (empty if it has none or it is not
    /// aligned for `R`).
    area: &'a mut [R],
    /// Values written into `area`.
    len: usize,
    /// Where the values went once the area was full (all of them, in order).
    spill: Option<Vec<R>>,
}

impl<'a, R: bytemuck::Pod> PodOut<'a, R> {
    /// Write into `area` (bytes the transport lends; the part that holds whole values
    /// of `R` is used, none of it if it is not aligned for `R`).
    pub(crate) fn new(area: &'a mut [u8]) -> PodOut<'a, R> {
        let size = std::mem::size_of::<R>();
        let whole = area.len().checked_div(size).unwrap_or(0) * size;
        let area = bytemuck::try_cast_slice_mut::<u8, R>(&mut area[..whole]).unwrap_or_default();
        PodOut {
            area,
            len: 0,
            spill: None,
        }
    }

    /// Number of values written.
    pub fn len(&self) -> usize {
        match &self.spill {
            Some(v) => v.len(),
            None => self.len,
        }
    }

    /// Whether nothing is written yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values written so far.
    pub fn as_slice(&self) -> &[R] {
        match &self.spill {
            Some(v) => v,
            None => &self.area[..self.len],
        }
    }

    /// The values written so far, to change in place.
    pub fn as_mut_slice(&mut self) -> &mut [R] {
        match &mut self.spill {
            Some(v) => v,
            None => &mut self.area[..self.len],
        }
    }

    /// Room for `more` values beyond those written: the area if they fit, else the
    /// spill vector (made now, holding what the area held).
    fn room(&mut self, more: usize) -> Option<&mut [R]> {
        if self.spill.is_none() {
            match self.len.checked_add(more) {
                Some(end) if end <= self.area.len() => {
                    return Some(&mut self.area[self.len..end]);
                }
                _ => {
                    let mut v = Vec::with_capacity(self.len.saturating_add(more));
                    v.extend_from_slice(&self.area[..self.len]);
                    self.spill = Some(v);
                }
            }
        }
        None
    }

    /// Append one value.
    pub fn push(&mut self, value: R) {
        match self.room(1) {
            Some(slot) => {
                slot[0] = value;
                self.len += 1;
            }
            None => self.spill.as_mut().expect("spilled").push(value),
        }
    }

    /// Append a slice of values (one copy, into the area where they fit).
    pub fn extend_from_slice(&mut self, values: &[R]) {
        match self.room(values.len()) {
            Some(slot) => {
                slot.copy_from_slice(values);
                self.len += values.len();
            }
            None => self
                .spill
                .as_mut()
                .expect("spilled")
                .extend_from_slice(values),
        }
    }

    /// What the transport sends: `Ok(bytes)` — the first bytes of the area — or, if
    /// the area overflowed, `Err(vector)` with every value.
    pub(crate) fn finish(self) -> Result<usize, Vec<R>> {
        match self.spill {
            Some(v) => Err(v),
            None => Ok(self.len * std::mem::size_of::<R>()),
        }
    }
}

impl<R: bytemuck::Pod> Extend<R> for PodOut<'_, R> {
    fn extend<I: IntoIterator<Item = R>>(&mut self, iter: I) {
        let mut iter = iter.into_iter();
        // Values the iterator promises go straight into their slots.
        let (lower, _) = iter.size_hint();
        if lower > 0 {
            if let Some(slots) = self.room(lower) {
                let mut n = 0;
                for (slot, v) in slots.iter_mut().zip(iter.by_ref()) {
                    *slot = v;
                    n += 1;
                }
                self.len += n;
            }
        }
        for v in iter {
            self.push(v);
        }
    }
}

impl<R> std::fmt::Debug for PodOut<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PodOut")
            .field("area_values", &self.area.len())
            .field("written_in_area", &self.len)
            .field("spilled", &self.spill.as_ref().map(Vec::len))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values that fit stay in the area; the first that does not moves them all, in
    /// order, to a vector of their own.
    #[test]
    fn fills_the_area_then_spills_in_order() {
        let mut area = vec![0u64; 4];
        let bytes = bytemuck::cast_slice_mut::<u64, u8>(&mut area);
        let mut out = PodOut::<u64>::new(bytes);
        out.push(1);
        out.extend_from_slice(&[2, 3]);
        assert_eq!(out.as_slice(), [1, 2, 3]);
        out.as_mut_slice()[0] = 10;
        out.extend([4]);
        assert_eq!(out.finish(), Ok(32));
        assert_eq!(area, [10, 2, 3, 4]);

        let bytes = bytemuck::cast_slice_mut::<u64, u8>(&mut area);
        let mut out = PodOut::<u64>::new(bytes);
        out.extend(1..=3u64);
        out.extend_from_slice(&[4, 5]);
        out.push(6);
        out.extend((7..=9u64).filter(|_| true));
        assert_eq!(out.len(), 9);
        assert_eq!(out.finish(), Err((1..=9).collect::<Vec<u64>>()));
    }

    /// An area not aligned for the values, or none at all, is not used: everything
    /// goes to the vector.
    #[test]
    fn misaligned_or_missing_area_spills() {
        let mut area = vec![0u64; 4];
        let bytes = &mut bytemuck::cast_slice_mut::<u64, u8>(&mut area)[1..];
        let mut out = PodOut::<u32>::new(bytes);
        out.push(7);
        assert_eq!(out.finish(), Err(vec![7]));
        let mut out = PodOut::<u32>::new(&mut []);
        assert!(out.is_empty());
        out.extend_from_slice(&[]);
        assert_eq!(out.finish(), Ok(0));
        let mut bytes = [0u8; 8];
        let mut out = PodOut::<()>::new(&mut bytes);
        out.push(());
        assert_eq!(out.len(), 1);
    }
}

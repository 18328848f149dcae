//! One training step: a batch's two views in, the parameters and Adam moments
//! updated in place. On one core the step is one graph (`train_step_c*.onnx`); on
//! more, the batch's views are cut into slices, one per core, and the step runs as
//! four graphs (models/generate.py, "The train step split in four"):
//!
//! 1. each core runs the forward pass of its slice (`forward_step`);
//! 2. the contrastive loss compares every view with every other (`loss_step`);
//! 3. each core runs the backward pass of its slice (`backward_step`), reading
//!    the tensors its forward pass saved;
//! 4. the slices' gradients are summed and AdamW applies them (`update_step`).
//!
//! ONNX Runtime's own threads meet at every operator, which on these small
//! batches costs as much as it saves; slices meet twice a step (BENCHMARKS,
//! "Train step on two cores").
use crate::engine::onnx::architectures::Architecture;
use ort::session::{Session, SessionInputValue};
use ort::value::{DynValue, TensorRef};
use rayon::prelude::*;
use std::borrow::Cow;

/// The parameters being trained and their AdamW state.
pub struct Optimizer {
    pub params: Vec<f32>,
    pub adam_m: Vec<f32>,
    pub adam_v: Vec<f32>,
    /// Steps taken (AdamW's bias correction counts from 1).
    pub step: u64,
}

impl Optimizer {
    pub fn new(params: Vec<f32>) -> Optimizer {
        let zeros = vec![0f32; params.len()];
        Optimizer { params, adam_m: zeros.clone(), adam_v: zeros, step: 0 }
    }
}

/// One batch, ready for a step.
pub struct Batch<'a> {
    /// The first and the second view of each of the batch's `n` images, as
    /// `n`×channels×side×side pixels each.
    pub views: &'a (Vec<f32>, Vec<f32>),
    /// The 2n×2n contrastive targets (`neighbour_positives::view_targets`).
    pub targets: &'a [f32],
    pub n: usize,
    pub channels: usize,
    pub side: usize,
}

/// The step's hyperparameters at this step.
#[derive(Clone, Copy)]
pub struct StepSettings {
    pub learning_rate: f32,
    pub temperature: f32,
    pub weight_decay: f32,
}

pub enum TrainStep {
    /// The whole step as one graph, on one core.
    Fused(Session),
    /// The step's passes on slices of the batch, one worker per core.
    Split(SplitStep),
}

pub struct SplitStep {
    /// A session runs one call at a time, so every worker has its own.
    workers: Vec<Worker>,
    loss: Session,
    update: Session,
}

struct Worker {
    forward: Session,
    backward: Session,
}

/// A slice's forward-pass outputs by name: z and the tensors its backward pass reads.
type SavedTensors = Vec<(String, DynValue)>;

fn ort_error(e: ort::Error) -> String {
    format!("training step failed in ONNX Runtime: {e}")
}

impl TrainStep {
    /// The step of `arch` for `workers` cores: the fused graph for one, the split
    /// graphs for more. `session` makes a one-thread session of a graph.
    pub fn new(
        arch: &Architecture,
        workers: usize,
        session: impl Fn(&[u8]) -> Result<Session, String>,
    ) -> Result<TrainStep, String> {
        if workers <= 1 {
            return Ok(TrainStep::Fused(session(arch.train_step)?));
        }
        let split = &arch.split_step;
        let workers = (0..workers)
            .map(|_| Ok(Worker { forward: session(split.forward)?, backward: session(split.backward)? }))
            .collect::<Result<Vec<_>, String>>()?;
        Ok(TrainStep::Split(SplitStep { workers, loss: session(split.loss)?, update: session(split.update)? }))
    }

    /// Runs one step on `batch` and returns its loss.
    pub fn run(&mut self, opt: &mut Optimizer, batch: &Batch<'_>, settings: StepSettings) -> Result<f32, String> {
        opt.step += 1;
        let loss = match self {
            TrainStep::Fused(session) => run_fused(session, opt, batch, settings)?,
            TrainStep::Split(split) => split.run(opt, batch, settings)?,
        };
        if !loss.is_finite() {
            return Err(format!(
                "training diverged at step {} (loss is {loss}); try a smaller learning_rate",
                opt.step
            ));
        }
        Ok(loss)
    }
}

fn scalar(value: f32) -> ndarray::Array0<f32> {
    ndarray::arr0(value)
}

/// Copies the update's outputs (`params_out`, `adam_m_out`, `adam_v_out`) into `opt`.
fn take_update(outputs: &ort::session::SessionOutputs<'_>, opt: &mut Optimizer) -> Result<(), String> {
    for (name, dst) in
        [("params_out", &mut opt.params), ("adam_m_out", &mut opt.adam_m), ("adam_v_out", &mut opt.adam_v)]
    {
        dst.copy_from_slice(outputs[name].try_extract_tensor::<f32>().map_err(ort_error)?.1);
    }
    Ok(())
}

fn run_fused(
    session: &mut Session,
    opt: &mut Optimizer,
    batch: &Batch<'_>,
    settings: StepSettings,
) -> Result<f32, String> {
    let p = opt.params.len();
    let n = batch.n;
    let shape = [n, batch.channels, batch.side, batch.side];
    let (step, lr, temp, wd) = (
        scalar(opt.step as f32),
        scalar(settings.learning_rate),
        scalar(settings.temperature),
        scalar(settings.weight_decay),
    );
    let outputs = session
        .run(ort::inputs![
            "params" => TensorRef::from_array_view(([p], &opt.params[..])).map_err(ort_error)?,
            "adam_m" => TensorRef::from_array_view(([p], &opt.adam_m[..])).map_err(ort_error)?,
            "adam_v" => TensorRef::from_array_view(([p], &opt.adam_v[..])).map_err(ort_error)?,
            "step" => TensorRef::from_array_view(step.view()).map_err(ort_error)?,
            "learning_rate" => TensorRef::from_array_view(lr.view()).map_err(ort_error)?,
            "temperature" => TensorRef::from_array_view(temp.view()).map_err(ort_error)?,
            "weight_decay" => TensorRef::from_array_view(wd.view()).map_err(ort_error)?,
            "view1" => TensorRef::from_array_view((shape, &batch.views.0[..])).map_err(ort_error)?,
            "view2" => TensorRef::from_array_view((shape, &batch.views.1[..])).map_err(ort_error)?,
            "targets" => TensorRef::from_array_view(([2 * n, 2 * n], batch.targets)).map_err(ort_error)?,
        ])
        .map_err(ort_error)?;
    let loss = outputs["loss"].try_extract_tensor::<f32>().map_err(ort_error)?.1[0];
    take_update(&outputs, opt)?;
    Ok(loss)
}

/// The views `start..end` of the batch's 2n (the first views, then the second):
/// borrowed when they lie within one of the two, copied when they straddle both.
fn views_range<'a>(
    views: &'a (Vec<f32>, Vec<f32>),
    image_len: usize,
    n: usize,
    start: usize,
    end: usize,
) -> Cow<'a, [f32]> {
    let first = |i: usize| i.min(n) * image_len;
    let second = |i: usize| i.saturating_sub(n) * image_len;
    if end <= n {
        Cow::Borrowed(&views.0[first(start)..first(end)])
    } else if start >= n {
        Cow::Borrowed(&views.1[second(start)..second(end)])
    } else {
        Cow::Owned([&views.0[first(start)..], &views.1[..second(end)]].concat())
    }
}

/// The fewest views a slice is given: below this a slice's convolutions cost more
/// in fixed overhead than another core saves (and every worker holds sessions of
/// its own).
pub const MIN_SLICE_VIEWS: usize = 8;

/// How many workers a step of `batch_size` images uses with `threads` threads.
pub fn workers_for(threads: usize, batch_size: usize) -> usize {
    threads.min(2 * batch_size / MIN_SLICE_VIEWS).max(1)
}

/// Where each of `workers` slices of `total` views starts and ends: as even as can be.
pub fn slice_bounds(total: usize, workers: usize) -> Vec<(usize, usize)> {
    let workers = workers.clamp(1, total.max(1));
    (0..workers).map(|w| (w * total / workers, (w + 1) * total / workers)).collect()
}

/// Runs `work` for every (worker, slice) pair on the process's thread pool, and
/// returns the results in order. The pool's threads live as long as the backend, so
/// each step's slices run on threads the scheduler already keeps on their own cores.
fn on_every_worker<S: Sync, T: Send>(
    workers: &mut [Worker],
    slices: &[S],
    work: impl Fn(&mut Worker, &S) -> Result<T, String> + Sync,
) -> Result<Vec<T>, String> {
    workers.par_iter_mut().zip(slices).with_max_len(1).map(|(worker, slice)| work(worker, slice)).collect()
}

impl SplitStep {
    fn run(&mut self, opt: &mut Optimizer, batch: &Batch<'_>, settings: StepSettings) -> Result<f32, String> {
        let (n, image_len) = (batch.n, batch.channels * batch.side * batch.side);
        let bounds = slice_bounds(2 * n, self.workers.len());
        let params = &opt.params[..];
        let p = params.len();

        // 1. Each slice's forward pass: z, and what its backward pass reads.
        let saved: Vec<SavedTensors> = on_every_worker(&mut self.workers, &bounds, |worker, &(a, b)| {
            let images = views_range(batch.views, image_len, n, a, b);
            let shape = [b - a, batch.channels, batch.side, batch.side];
            let outputs = worker
                .forward
                .run(ort::inputs![
                    "params" => TensorRef::from_array_view(([p], params)).map_err(ort_error)?,
                    "images" => TensorRef::from_array_view((shape, &images[..])).map_err(ort_error)?,
                ])
                .map_err(ort_error)?;
            Ok(outputs.into_iter().map(|(name, value)| (name.to_string(), value)).collect())
        })?;

        // 2. The loss over the whole batch, and its gradient for every view's z.
        let mut z = Vec::new();
        for outputs in &saved {
            let (_, value) = outputs.iter().find(|(name, _)| name == "z").ok_or("the forward pass gave no z")?;
            z.extend_from_slice(value.try_extract_tensor::<f32>().map_err(ort_error)?.1);
        }
        let dim = z.len() / (2 * n);
        let temperature = scalar(settings.temperature);
        let outputs = self
            .loss
            .run(ort::inputs![
                "z" => TensorRef::from_array_view(([2 * n, dim], &z[..])).map_err(ort_error)?,
                "temperature" => TensorRef::from_array_view(temperature.view()).map_err(ort_error)?,
                "targets" => TensorRef::from_array_view(([2 * n, 2 * n], batch.targets)).map_err(ort_error)?,
            ])
            .map_err(ort_error)?;
        let loss = outputs["loss"].try_extract_tensor::<f32>().map_err(ort_error)?.1[0];
        let dz = outputs["dz"].try_extract_tensor::<f32>().map_err(ort_error)?.1.to_vec();
        drop(outputs);

        // 3. Each slice's backward pass: its part of the gradient.
        let slices: Vec<((usize, usize), &SavedTensors)> = bounds.iter().copied().zip(&saved).collect();
        let parts: Vec<DynValue> = on_every_worker(&mut self.workers, &slices, |worker, &((a, b), saved)| {
            let mut inputs: Vec<(Cow<str>, SessionInputValue)> = vec![
                ("params".into(), TensorRef::from_array_view(([p], params)).map_err(ort_error)?.into()),
                (
                    "dz".into(),
                    TensorRef::from_array_view(([b - a, dim], &dz[a * dim..b * dim])).map_err(ort_error)?.into(),
                ),
            ];
            inputs.extend(
                saved.iter().filter(|(name, _)| name != "z").map(|(name, value)| (name.as_str().into(), value.into())),
            );
            let mut outputs = worker.backward.run(inputs).map_err(ort_error)?;
            outputs.remove("grad").ok_or_else(|| "the backward pass gave no gradient".to_string())
        })?;
        drop(saved);

        // 4. AdamW on the summed gradient.
        let mut grad = parts[0].try_extract_tensor::<f32>().map_err(ort_error)?.1.to_vec();
        for part in &parts[1..] {
            for (g, x) in grad.iter_mut().zip(part.try_extract_tensor::<f32>().map_err(ort_error)?.1) {
                *g += x;
            }
        }
        let (step, lr, wd) = (scalar(opt.step as f32), scalar(settings.learning_rate), scalar(settings.weight_decay));
        let outputs = self
            .update
            .run(ort::inputs![
                "params" => TensorRef::from_array_view(([p], params)).map_err(ort_error)?,
                "adam_m" => TensorRef::from_array_view(([p], &opt.adam_m[..])).map_err(ort_error)?,
                "adam_v" => TensorRef::from_array_view(([p], &opt.adam_v[..])).map_err(ort_error)?,
                "grad" => TensorRef::from_array_view(([p], &grad[..])).map_err(ort_error)?,
                "step" => TensorRef::from_array_view(step.view()).map_err(ort_error)?,
                "learning_rate" => TensorRef::from_array_view(lr.view()).map_err(ort_error)?,
                "weight_decay" => TensorRef::from_array_view(wd.view()).map_err(ort_error)?,
            ])
            .map_err(ort_error)?;
        take_update(&outputs, opt)?;
        Ok(loss)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slice_has_at_least_eight_views() {
        assert_eq!(workers_for(2, 32), 2);
        assert_eq!(workers_for(64, 32), 8, "64 views: 8 slices of 8");
        assert_eq!(workers_for(4, 4), 1, "8 views: one slice");
        assert_eq!(workers_for(1, 256), 1);
        assert_eq!(workers_for(0, 32), 1);
    }

    #[test]
    fn slices_are_even_and_cover_the_batch() {
        assert_eq!(slice_bounds(64, 2), vec![(0, 32), (32, 64)]);
        assert_eq!(slice_bounds(10, 3), vec![(0, 3), (3, 6), (6, 10)]);
        assert_eq!(slice_bounds(4, 8), vec![(0, 1), (1, 2), (2, 3), (3, 4)], "never an empty slice");
        assert_eq!(slice_bounds(6, 1), vec![(0, 6)]);
    }

    #[test]
    fn a_slice_of_views_is_borrowed_unless_it_straddles_both_views() {
        let views = (vec![1.0, 1.0, 2.0, 2.0, 3.0, 3.0], vec![4.0, 4.0, 5.0, 5.0, 6.0, 6.0]);
        let range = |a, b| views_range(&views, 2, 3, a, b);
        assert!(matches!(range(0, 3), Cow::Borrowed(s) if s == [1.0, 1.0, 2.0, 2.0, 3.0, 3.0]));
        assert!(matches!(range(3, 5), Cow::Borrowed(s) if s == [4.0, 4.0, 5.0, 5.0]));
        assert!(matches!(range(2, 4), Cow::Owned(s) if s == [3.0, 3.0, 4.0, 4.0]));
        assert_eq!(&range(1, 6)[..], &[2.0, 2.0, 3.0, 3.0, 4.0, 4.0, 5.0, 5.0, 6.0, 6.0]);
    }
}

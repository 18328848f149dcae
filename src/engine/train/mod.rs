//! The SimCLR training loop: plain Rust around the ONNX graphs of a step
//! (`step`: one graph on one core, four graphs on slices of the batch on more).
//!
//! Parameters and Adam moments live in Rust vectors that ONNX Runtime reads in
//! place each step; the next batch is augmented on another thread while the
//! current step runs. Nothing here touches Postgres: the caller passes an
//! `interrupted` callback (checked between steps) and an `on_epoch` callback.
use crate::engine::gradient_descriptor;
use crate::engine::image::augment::{augment_pairs, AugmentOptions};
use crate::engine::image::Picture;
use crate::engine::neighbour_positives::{view_targets, NeighbourTable};
use crate::engine::onnx::architectures::{Architecture, Readout};
use crate::engine::onnx::encoder_file;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::time::Instant;
use step::{Batch, StepSettings};
pub use step::{Optimizer, TrainStep};

pub mod step;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainConfig {
    pub max_epochs: u32,
    /// A time budget: stop after the last epoch that fits (at least one).
    #[serde(default)]
    pub max_seconds: Option<f64>,
    pub batch_size: usize,
    pub learning_rate: f32,
    #[serde(default)]
    pub lr_schedule: LrSchedule,
    /// Fraction of the planned steps over which the learning rate rises linearly from 0.
    #[serde(default)]
    pub warmup_fraction: f32,
    pub temperature: f32,
    pub weight_decay: f32,
    pub image_size: u32,
    pub channels: u8,
    pub seed: u64,
    pub augment: AugmentOptions,
    /// Whether the embedding carries the gradient descriptor beside h
    /// (`engine::gradient_descriptor`); models of 0.5.0 and before did not.
    #[serde(default)]
    pub gradient_descriptor: bool,
    /// The layer the model embeds with (h for models before 0.9.0).
    #[serde(default)]
    pub readout: Readout,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EpochStats {
    pub epoch: u32,
    pub loss: f32,
    /// Images trained per second of the epoch's wall-clock time.
    pub images_per_second: f64,
    /// Images per second spent inside the ONNX train step alone (comparable to
    /// driving the same graph from another language).
    pub step_images_per_second: f64,
    /// Seconds since training started.
    pub seconds: f64,
}

/// How the learning rate moves over a build (after the warm-up).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LrSchedule {
    #[default]
    Constant,
    /// Half a cosine from the base rate down to zero at the last planned step.
    Cosine,
}

impl LrSchedule {
    pub const NAMES: &'static str = "constant, cosine";

    pub fn parse(name: &str) -> Option<LrSchedule> {
        match name {
            "constant" => Some(LrSchedule::Constant),
            "cosine" => Some(LrSchedule::Cosine),
            _ => None,
        }
    }
}

/// The learning rate of step `step` (1-based) of `planned` steps.
pub fn learning_rate_at(config: &TrainConfig, step: u64, planned: u64) -> f32 {
    let planned = planned.max(1);
    let warmup = (config.warmup_fraction as f64 * planned as f64).round() as u64;
    if step <= warmup {
        return config.learning_rate * step as f32 / warmup as f32;
    }
    match config.lr_schedule {
        LrSchedule::Constant => config.learning_rate,
        LrSchedule::Cosine => {
            let progress = ((step - warmup - 1) as f64 / (planned - warmup).max(1) as f64).min(1.0);
            config.learning_rate * (0.5 * (1.0 + (std::f64::consts::PI * progress).cos())) as f32
        }
    }
}

/// Train steps in one epoch of `images` images: a last batch of one image is dropped.
pub fn steps_per_epoch(images: usize, batch_size: usize) -> u64 {
    (images / batch_size + usize::from(images % batch_size >= 2)) as u64
}

/// The batches of one epoch: a seeded shuffle cut into `batch_size` pieces; a
/// last piece of one image is dropped because a contrastive pair needs two.
pub fn epoch_batches(count: usize, batch_size: usize, seed: u64, epoch: u32) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..count).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)));
    order.chunks(batch_size).filter(|b| b.len() >= 2).map(<[usize]>::to_vec).collect()
}

/// Loss and timing of the steps of (part of) an epoch; parts add up.
#[derive(Default, Clone, Copy)]
pub struct Progress {
    loss_sum: f64,
    images: usize,
    step_seconds: f64,
    steps: u32,
}

impl std::ops::AddAssign for Progress {
    fn add_assign(&mut self, other: Progress) {
        self.loss_sum += other.loss_sum;
        self.images += other.images;
        self.step_seconds += other.step_seconds;
        self.steps += other.steps;
    }
}

impl Progress {
    /// Steps taken so far in the epoch: numbers the next batch's augmentation seed.
    pub fn steps(&self) -> u32 {
        self.steps
    }
}

/// The model being trained: its train step, parameters and Adam state.
pub struct Trainer<'a> {
    arch: &'a Architecture,
    step: TrainStep,
    opt: Optimizer,
    config: &'a TrainConfig,
    started: Instant,
    /// Steps the learning-rate schedule spans (set by `train`).
    planned_steps: u64,
    /// The training images' neighbours, when pairs may be made of two images.
    neighbours: Option<NeighbourTable>,
}

impl<'a> Trainer<'a> {
    pub fn new(arch: &'a Architecture, step: TrainStep, config: &'a TrainConfig) -> Trainer<'a> {
        Trainer {
            arch,
            step,
            opt: Optimizer::new(arch.initial_params()),
            config,
            started: Instant::now(),
            planned_steps: 1,
            neighbours: None,
        }
    }

    /// Pairs a view of an image with a view of one of its `neighbours` (with the
    /// probability `config.augment.neighbour_positives`). The table indexes the
    /// images `run_batches` gets, so it is for training sets trained in one
    /// window (all images in memory).
    pub fn pair_with_neighbours(&mut self, neighbours: NeighbourTable) {
        self.neighbours = Some(neighbours);
    }

    /// Starts from trained encoder weights (a warm start); the projection head
    /// keeps its initial weights. Fails if `encoder` has the wrong length.
    pub fn start_from(&mut self, encoder: &[f32]) -> Result<(), String> {
        if encoder.len() != self.arch.encoder_param_count {
            return Err(format!(
                "the pretrained encoder has {} weights, {} needs {}",
                encoder.len(),
                self.arch.name,
                self.arch.encoder_param_count
            ));
        }
        self.opt.params[..encoder.len()].copy_from_slice(encoder);
        Ok(())
    }

    /// One step per batch (indices into `pictures`); the next batch is augmented on
    /// another thread while the current step runs. `first_step` numbers the batches
    /// within the epoch, so that every view's augmentation has its own seed.
    pub fn run_batches(
        &mut self,
        pictures: &[Picture],
        batches: &[Vec<usize>],
        epoch: u32,
        first_step: u32,
        interrupted: &mut impl FnMut(),
    ) -> Result<Progress, String> {
        let config = self.config;
        // A window of another size (a streamed build) is not what the table indexes.
        let neighbours = self.neighbours.as_ref().filter(|t| t.len() == pictures.len());
        let prepare = |batch: &[usize], step: u32| {
            let partners = partners(batch, neighbours, config, epoch, step);
            let pairs: Vec<(&Picture, &Picture)> =
                batch.iter().zip(&partners).map(|(&i, &j)| (&pictures[i], &pictures[j])).collect();
            let views =
                augment_pairs(&pairs, config.image_size, config.channels, &config.augment, config.seed, epoch, step);
            // A partner drawn by label shares it, so both views have the batch image's class
            // (none without labels: SimCLR's targets).
            let classes: Vec<Option<u32>> = batch.iter().map(|&i| neighbours.and_then(|t| t.class(i))).collect();
            (views, view_targets(&classes))
        };
        let mut progress = Progress::default();
        let mut ready = batches.first().map(|b| prepare(b, first_step));
        for (i, batch) in batches.iter().enumerate() {
            interrupted();
            let (views, targets) = ready.take().expect("a batch is always prepared ahead");
            let settings = StepSettings {
                learning_rate: learning_rate_at(config, self.opt.step + 1, self.planned_steps),
                temperature: config.temperature,
                weight_decay: config.weight_decay,
            };
            let batch_views = Batch {
                views: &views,
                targets: &targets,
                n: batch.len(),
                channels: config.channels as usize,
                side: config.image_size as usize,
            };
            let (step, opt) = (&mut self.step, &mut self.opt);
            let (loss, next, seconds) = std::thread::scope(|scope| {
                let next = batches.get(i + 1).map(|b| scope.spawn(move || prepare(b, first_step + i as u32 + 1)));
                let step_start = Instant::now();
                let loss = step.run(opt, &batch_views, settings);
                let seconds = step_start.elapsed().as_secs_f64();
                (loss, next.map(|h| h.join().expect("augmentation thread panicked")), seconds)
            });
            progress += Progress {
                loss_sum: loss? as f64 * batch.len() as f64,
                images: batch.len(),
                step_seconds: seconds,
                steps: 1,
            };
            ready = next;
        }
        Ok(progress)
    }

    pub fn epoch_stats(&self, epoch: u32, progress: Progress, epoch_start: Instant) -> EpochStats {
        EpochStats {
            epoch,
            loss: (progress.loss_sum / progress.images.max(1) as f64) as f32,
            images_per_second: progress.images as f64 / epoch_start.elapsed().as_secs_f64().max(1e-9),
            step_images_per_second: progress.images as f64 / progress.step_seconds.max(1e-9),
            seconds: self.started.elapsed().as_secs_f64(),
        }
    }

    /// The standalone encoder ONNX with the trained weights: a model trained with
    /// flips gets the encoder that averages an image and its mirror; with the
    /// gradient descriptor, `gradient_pca` is its fitted mean and projection.
    pub fn encoder_onnx(&self, gradient_pca: Option<&[f32]>) -> Vec<u8> {
        let readout = self.config.readout;
        let graph = self.arch.encoder_graph(self.config.augment.flip, gradient_pca.is_some(), readout);
        let model =
            encoder_file::with_initializer(graph, "params", &self.opt.params[..self.arch.encoder_params(readout)]);
        match gradient_pca {
            Some(pca) => encoder_file::with_initializer(&model, gradient_descriptor::INITIALIZER, pca),
            None => model,
        }
    }
}

/// The image each of `batch`'s images is paired with: itself, or with neighbour
/// positives one of its neighbours, drawn from a generator seeded by (seed, epoch, step).
fn partners(
    batch: &[usize],
    neighbours: Option<&NeighbourTable>,
    config: &TrainConfig,
    epoch: u32,
    step: u32,
) -> Vec<usize> {
    let probability = config.augment.neighbour_positives;
    match neighbours {
        Some(table) if probability > 0.0 => {
            let stream = ((epoch as u64) << 32) | step as u64;
            let mut rng = ChaCha8Rng::seed_from_u64(config.seed ^ 0x7061_6972_7320_2020);
            rng.set_stream(stream);
            batch.iter().map(|&i| table.partner(i, probability, &mut rng)).collect()
        }
        _ => batch.to_vec(),
    }
}

/// An order of the training images that depends only on their content, so the same
/// rows and seed give the same model whatever order the source query returned them in
/// (a parallel or distributed scan changes it from run to run). Equal keys are
/// identical images, so which of two equal pictures comes first cannot matter.
pub fn content_order(a: &Picture, b: &Picture) -> std::cmp::Ordering {
    (a.channels, a.width, a.height, &a.pixels).cmp(&(b.channels, b.width, b.height, &b.pixels))
}

/// Where each epoch's images come from, as windows that are shuffled and trained
/// one after another: one window of all the images when they fit in memory, or
/// windows read again from the source every epoch when they do not.
pub trait EpochImages {
    /// How many images an epoch trains on.
    fn image_count(&self) -> usize;

    /// Calls `train_window` with each window of `epoch`'s images, in order.
    fn for_each_window(
        &mut self,
        epoch: u32,
        train_window: &mut dyn FnMut(&[Picture]) -> Result<(), String>,
    ) -> Result<(), String>;
}

/// Images already decoded and shrunk, all in memory: one window per epoch.
impl EpochImages for Vec<Picture> {
    fn image_count(&self) -> usize {
        self.len()
    }

    fn for_each_window(
        &mut self,
        _epoch: u32,
        train_window: &mut dyn FnMut(&[Picture]) -> Result<(), String>,
    ) -> Result<(), String> {
        train_window(self)
    }
}

/// The epoch loop: every window gets its own seeded shuffle (seeded by the
/// steps taken so far in the epoch), `interrupted` is called between steps and
/// `on_epoch` after each epoch. With a time budget, how many epochs fit (at most
/// `max_epochs`, at least one) is planned after the first epoch and again after
/// every later one (`epochs_within`), and the learning-rate schedule follows the
/// plan; the build stops when one more epoch would overrun the budget.
pub fn train(
    trainer: &mut Trainer<'_>,
    images: &mut dyn EpochImages,
    config: &TrainConfig,
    mut interrupted: impl FnMut(),
    on_epoch: impl Fn(&EpochStats),
) -> Result<Vec<EpochStats>, String> {
    let per_epoch = steps_per_epoch(images.image_count(), config.batch_size);
    let mut epoch_count = config.max_epochs;
    trainer.planned_steps = per_epoch * epoch_count as u64;
    let mut epochs: Vec<EpochStats> = Vec::new();
    for epoch in 1..=config.max_epochs {
        if epoch > epoch_count {
            break;
        }
        let epoch_start = Instant::now();
        let mut progress = Progress::default();
        images.for_each_window(epoch, &mut |window| {
            let first_step = progress.steps();
            let batches = epoch_batches(window.len(), config.batch_size, config.seed ^ first_step as u64, epoch);
            progress += trainer.run_batches(window, &batches, epoch, first_step, &mut interrupted)?;
            Ok(())
        })?;
        let stats = trainer.epoch_stats(epoch, progress, epoch_start);
        if let Some(budget) = config.max_seconds {
            let first_end = epochs.first().map_or(stats.seconds, |first| first.seconds);
            epoch_count = epochs_within(budget, first_end, stats.seconds, epoch, config.max_epochs);
            trainer.planned_steps = per_epoch * epoch_count as u64;
        }
        on_epoch(&stats);
        epochs.push(stats);
    }
    Ok(epochs)
}

/// How many epochs fit in `budget` seconds, planned again after every epoch: after
/// the first from its end (`first_end`); after `done` epochs from the mean pace of
/// those after the first, which also paid ONNX Runtime's warm-up (0.66 s against
/// 0.47 s for each later one on the tutorial's images: planning on it alone left a
/// third of a budget unused). At least the epochs done (and one), at most `max_epochs`.
pub fn epochs_within(budget: f64, first_end: f64, now: f64, done: u32, max_epochs: u32) -> u32 {
    let planned = if done <= 1 {
        (budget / first_end.max(1e-6)).floor()
    } else {
        let pace = ((now - first_end) / (done - 1) as f64).max(1e-6);
        done as f64 + ((budget - now) / pace).floor().max(0.0)
    };
    (planned.min(u32::MAX as f64) as u32).clamp(done.max(1), max_epochs.max(done))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_order_does_not_depend_on_the_input_order() {
        let picture = |w: u32, fill: u8| Picture { width: w, height: 1, channels: 1, pixels: vec![fill; w as usize] };
        let mut a = vec![picture(2, 9), picture(1, 5), picture(2, 3), picture(1, 5), picture(3, 0)];
        let mut b: Vec<Picture> = a.iter().rev().cloned().collect();
        b.swap(0, 2);
        a.sort_unstable_by(content_order);
        b.sort_unstable_by(content_order);
        assert_eq!(a, b);
        assert_eq!(
            a.iter().map(|p| (p.width, p.pixels[0])).collect::<Vec<_>>(),
            vec![(1, 5), (1, 5), (2, 3), (2, 9), (3, 0)]
        );
    }

    fn config(schedule: LrSchedule, warmup_fraction: f32) -> TrainConfig {
        TrainConfig {
            max_epochs: 5,
            max_seconds: None,
            batch_size: 32,
            learning_rate: 0.01,
            lr_schedule: schedule,
            warmup_fraction,
            temperature: 0.1,
            weight_decay: 0.0,
            image_size: 28,
            channels: 1,
            seed: 1,
            augment: AugmentOptions::for_grayscale(),
            gradient_descriptor: false,
            readout: Readout::Features,
        }
    }

    #[test]
    fn partners_are_seeded_by_step_and_respect_the_probability() {
        // 8 points on a circle, 45 degrees apart: neighbours are the adjacent ones.
        let points: Vec<f32> = (0..8).flat_map(|i| [(i as f32 * 0.785).cos(), (i as f32 * 0.785).sin()]).collect();
        let table = NeighbourTable::nearest(&points, 2, 1, &mut || {});
        let batch: Vec<usize> = (0..8).collect();
        let mut cfg = config(LrSchedule::Constant, 0.0);
        assert_eq!(partners(&batch, Some(&table), &cfg, 1, 0), batch, "probability 0: SimCLR pairs");
        cfg.augment.neighbour_positives = 1.0;
        let first = partners(&batch, Some(&table), &cfg, 1, 0);
        assert!(first.iter().enumerate().all(|(i, &j)| j != i), "{first:?}");
        assert_eq!(first, partners(&batch, Some(&table), &cfg, 1, 0), "same seed, epoch and step");
        let others: Vec<Vec<usize>> = (1..6).map(|step| partners(&batch, Some(&table), &cfg, 1, step)).collect();
        assert!(others.iter().any(|o| o != &first), "another step draws other partners");
        assert_eq!(partners(&batch, None, &cfg, 1, 0), batch, "no table: SimCLR pairs");
    }

    #[test]
    fn learning_rate_warms_up_then_follows_the_schedule() {
        let constant = config(LrSchedule::Constant, 0.0);
        assert!((1..=100).all(|s| learning_rate_at(&constant, s, 100) == 0.01));
        let cosine = config(LrSchedule::Cosine, 0.1);
        let lr: Vec<f32> = (1..=100).map(|s| learning_rate_at(&cosine, s, 100)).collect();
        assert!((lr[0] - 0.001).abs() < 1e-7 && (lr[9] - 0.01).abs() < 1e-7, "linear warm-up over 10 steps");
        assert!((lr[10] - 0.01).abs() < 1e-7, "cosine starts at the base rate");
        assert!(lr[10..].windows(2).all(|w| w[1] <= w[0]), "then only decreases");
        assert!(lr[99] > 0.0 && lr[99] < 0.0001, "to nearly zero at the last step: {}", lr[99]);
        assert!(learning_rate_at(&cosine, 150, 100) >= 0.0, "steps past the plan stay at zero, never negative");
    }

    #[test]
    fn epoch_plans_count_steps_and_fit_the_budget() {
        assert_eq!(steps_per_epoch(1000, 32), 32, "31 full batches and one of 8");
        assert_eq!(steps_per_epoch(33, 32), 1, "a last batch of one image is dropped");
        assert_eq!(epochs_within(10.0, 2.4, 2.4, 1, 50), 4, "after the first epoch, its pace");
        assert_eq!(epochs_within(10.0, 2.4, 2.4, 1, 3), 3, "max_epochs caps the budget");
        assert_eq!(epochs_within(1.0, 2.4, 2.4, 1, 50), 1, "at least one epoch");
        // The tutorial's pace: a first epoch of 0.66 s, then 0.47 s each.
        assert_eq!(epochs_within(55.0, 0.66, 0.66, 1, 1000), 83);
        assert_eq!(epochs_within(55.0, 0.66, 1.13, 2, 1000), 116, "later epochs plan on their own pace");
        assert_eq!(epochs_within(60.0, 1.0, 58.0, 20, 1000), 20, "3 s per epoch: the next would end at 61 s");
        assert_eq!(epochs_within(60.0, 1.0, 40.0, 20, 1000), 29, "about 2.05 s per epoch");
        assert_eq!(epochs_within(60.0, 1.0, 70.0, 20, 1000), 20, "never fewer than done, even past the budget");
    }

    #[test]
    fn batches_cover_every_image_once_and_are_seeded() {
        let b = epoch_batches(10, 4, 7, 1);
        assert_eq!(b.iter().map(Vec::len).collect::<Vec<_>>(), vec![4, 4, 2]);
        let mut all: Vec<usize> = b.concat();
        all.sort();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        assert_eq!(b, epoch_batches(10, 4, 7, 1));
        assert_ne!(b, epoch_batches(10, 4, 7, 2));
    }

    /// The train step alone, driven by the same `TrainStep` as build_model, on fixed
    /// random batches, fused on one core and split on two (`IMAGE_SEARCH_BENCH_CHANNELS=3`
    /// for colour at 32 px): the figures BENCHMARKS' "Train step on two cores" cites.
    /// `cargo test --release --lib bench_train_step -- --ignored --nocapture`
    #[test]
    #[ignore = "benchmark; needs the ONNX Runtime library (ORT_LIB)"]
    fn bench_train_step_graph_only() {
        let lib = std::env::var("ORT_LIB")
            .unwrap_or_else(|_| "/usr/lib/postgresql/15/lib/libonnxruntime.so.1.32.0".to_string());
        let env = crate::engine::onnx::runtime::environment(&lib).unwrap();
        let channels: u8 = std::env::var("IMAGE_SEARCH_BENCH_CHANNELS").map_or(1, |c| c.parse().unwrap());
        let side = if channels == 1 { 28 } else { 32 };
        let arch = crate::engine::onnx::architectures::simclr_cnn(channels);
        let n = 32;
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let image_len = n * channels as usize * side * side;
        let batches: Vec<(Vec<f32>, Vec<f32>)> = (0..4)
            .map(|_| {
                let mut view = || (0..image_len).map(|_| rand::Rng::random::<f32>(&mut rng)).collect::<Vec<f32>>();
                (view(), view())
            })
            .collect();
        let targets = view_targets(&vec![None; n]);
        let settings = StepSettings { learning_rate: 0.003, temperature: 0.1, weight_decay: 1e-4 };
        let batches: Vec<Batch> = batches
            .iter()
            .map(|b| Batch { views: b, targets: &targets, n, channels: channels as usize, side })
            .collect();
        // Alternating rounds, so that a slow spell of the machine falls on both.
        let mut times = [Vec::new(), Vec::new()];
        for round in 0..6 {
            for (workers, times) in [1, 2].into_iter().zip(times.iter_mut()) {
                let one_thread = |graph: &[u8]| crate::engine::onnx::runtime::session(&env, graph, 1);
                let mut step = TrainStep::new(arch, workers, one_thread).unwrap();
                let mut opt = Optimizer::new(arch.initial_params());
                for b in batches.iter().take(3) {
                    step.run(&mut opt, b, settings).unwrap();
                }
                let until = Instant::now() + std::time::Duration::from_secs(2);
                while Instant::now() < until {
                    let start = Instant::now();
                    step.run(&mut opt, &batches[times.len() % 4], settings).unwrap();
                    times.push(start.elapsed().as_secs_f64());
                }
                if round == 5 {
                    times.sort_by(f64::total_cmp);
                    let median = times[times.len() / 2];
                    println!(
                        "TrainStep, {workers} worker(s), batch {n}, {channels}x{side}x{side}: median {:.2} ms/step = {:.0} images/s over {} steps",
                        median * 1e3,
                        n as f64 / median,
                        times.len()
                    );
                }
            }
        }
    }

    #[test]
    fn a_single_leftover_image_is_dropped() {
        let b = epoch_batches(9, 4, 0, 1);
        assert_eq!(b.iter().map(Vec::len).collect::<Vec<_>>(), vec![4, 4]);
    }
}

//! Positive pairs made of two similar images instead of one image twice.
//!
//! SimCLR's positive pair is two augmented views of the same image, so the network
//! learns what survives cropping and jitter, and little about what two different
//! shirts or two different 7s share. Here each training image's few nearest
//! neighbours by the gradient descriptor (`engine::gradient_descriptor`, fitted
//! before training) are found once, and with probability `p` a pair's second view
//! is made from one of them, drawn afresh each time. The descriptor is right about
//! the class of its nearest neighbour most of the time (clothes 77 %, digits 89 %
//! in models/STUDY.md), and unlike NNCLR's neighbours from the network being
//! trained, these are good from the first step.
//!
//! Measured (models/STUDY.md, session 6): p 0.9 among the 3 nearest lifts the default
//! grayscale embedding on clothes and digits alike.
//!
//! When the caller has labels (`build_model(..., label_col => ...)`), an image's
//! neighbours are instead all the other images with its label: the pairs then teach
//! exactly the similarity the caller means, a supervised contrastive objective
//! within SimCLR's loss (the batch's other images stay negatives, even those that
//! share the label).
use crate::engine::distance::inner_product;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// Neighbours kept per image; a pair's second view comes from one of them.
pub const NEIGHBOURS: usize = 3;
/// Largest set of images searched for one image's neighbours. Larger training sets
/// are cut into seeded random groups of at most this many, so finding neighbours
/// costs O(n · GROUP) rather than O(n²): 2.6 s for 30,000 images on 2 busy cores
/// (`bench_nearest_for_30000_images`).
const GROUP: usize = 4096;

/// Each training image's neighbours (indices into the training set): its
/// `NEIGHBOURS` nearest, or the other images with its label.
#[derive(Debug, Clone, PartialEq)]
pub struct NeighbourTable {
    /// `NEIGHBOURS` per image; empty for a table made from labels.
    neighbours: Vec<u32>,
    /// From labels: each image's class (`NO_CLASS` for an unlabelled image) and
    /// each class's images, so memory grows with the images, not their pairs.
    class_of: Vec<u32>,
    classes: Vec<Vec<u32>>,
}

/// The class of an image without a label: it is paired with itself.
const NO_CLASS: u32 = u32::MAX;

impl NeighbourTable {
    /// Nearest neighbours by cosine of `points` (`dims` values per image); ties go
    /// to the lower index, so the same points and seed give the same table.
    /// `interrupted` is called between groups.
    pub fn nearest(points: &[f32], dims: usize, seed: u64, interrupted: &mut dyn FnMut()) -> NeighbourTable {
        let count = points.len() / dims;
        let unit: Vec<f32> = points
            .chunks_exact(dims)
            .flat_map(|p| {
                let norm = p.iter().map(|v| v * v).sum::<f32>().sqrt();
                p.iter().map(move |v| if norm > 0.0 { v / norm } else { 0.0 })
            })
            .collect();
        let mut order: Vec<usize> = (0..count).collect();
        if count > GROUP {
            order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed ^ 0x6e65_6967_6862_6f75));
        }
        let mut neighbours = vec![0u32; count * NEIGHBOURS];
        for group in order.chunks(GROUP) {
            interrupted();
            let found: Vec<(usize, [u32; NEIGHBOURS])> =
                group.par_iter().map(|&i| (i, nearest_in_group(&unit, dims, i, group))).collect();
            for (i, row) in found {
                neighbours[i * NEIGHBOURS..(i + 1) * NEIGHBOURS].copy_from_slice(&row);
            }
        }
        NeighbourTable { neighbours, class_of: Vec::new(), classes: Vec::new() }
    }

    /// Neighbours by label: every other image with the same label (`None`: no label,
    /// the image pairs with itself).
    pub fn same_label<T: Ord>(labels: &[Option<T>]) -> NeighbourTable {
        let mut by_label: std::collections::BTreeMap<&T, u32> = std::collections::BTreeMap::new();
        let mut classes: Vec<Vec<u32>> = Vec::new();
        let class_of = labels
            .iter()
            .enumerate()
            .map(|(image, label)| match label {
                None => NO_CLASS,
                Some(label) => {
                    let class = *by_label.entry(label).or_insert_with(|| {
                        classes.push(Vec::new());
                        classes.len() as u32 - 1
                    });
                    classes[class as usize].push(image as u32);
                    class
                }
            })
            .collect();
        NeighbourTable { neighbours: Vec::new(), class_of, classes }
    }

    /// The image's label class, for a table made from labels and an image with a label.
    pub fn class(&self, image: usize) -> Option<u32> {
        self.class_of.get(image).copied().filter(|&c| c != NO_CLASS)
    }

    /// From labels: how many images have a label, and how many distinct labels there are.
    pub fn label_counts(&self) -> (usize, usize) {
        (self.classes.iter().map(Vec::len).sum(), self.classes.len())
    }

    /// How many images the table covers.
    pub fn len(&self) -> usize {
        if self.class_of.is_empty() {
            self.neighbours.len() / NEIGHBOURS
        } else {
            self.class_of.len()
        }
    }

    /// The image whose view is paired with a view of `image`: with probability
    /// `probability` one of its neighbours, else the image itself.
    pub fn partner(&self, image: usize, probability: f32, rng: &mut impl Rng) -> usize {
        if rng.random::<f32>() >= probability {
            return image;
        }
        if self.class_of.is_empty() {
            return self.neighbours[image * NEIGHBOURS + rng.random_range(0..NEIGHBOURS)] as usize;
        }
        let class = self.class_of[image];
        if class == NO_CLASS || self.classes[class as usize].len() < 2 {
            return image;
        }
        // A uniform draw among the class's other images: draw from all but one
        // slot, and let the image's own slot stand for the last one.
        let members = &self.classes[class as usize];
        let drawn = members[rng.random_range(0..members.len() - 1)] as usize;
        if drawn == image {
            members[members.len() - 1] as usize
        } else {
            drawn
        }
    }
}

/// The loss's target for each of a batch's 2N views (row-major [2N, 2N], rows sum to
/// 1, zero diagonal), for a batch whose images have `classes` (view k and view k + N
/// are the two views of image k). SimCLR's target is the view's partner alone; a view
/// of a labelled image shares its target equally among every other view with its
/// label, partner included (supervised contrastive loss, Khosla et al. 2020), so
/// images that share a label are never pushed apart as negatives.
pub fn view_targets(classes: &[Option<u32>]) -> Vec<f32> {
    let n = classes.len();
    let views = 2 * n;
    let mut targets = vec![0f32; views * views];
    for a in 0..views {
        let row = &mut targets[a * views..(a + 1) * views];
        let partner = (a + n) % views;
        match classes[a % n] {
            None => row[partner] = 1.0,
            Some(class) => {
                let same: Vec<usize> = (0..views).filter(|&b| b != a && classes[b % n] == Some(class)).collect();
                let share = 1.0 / same.len() as f32;
                for b in same {
                    row[b] = share;
                }
            }
        }
    }
    targets
}

/// The `NEIGHBOURS` members of `group` most similar to `image` (not itself). A
/// group smaller than that repeats the nearest ones; a group of one pairs the
/// image with itself.
fn nearest_in_group(unit: &[f32], dims: usize, image: usize, group: &[usize]) -> [u32; NEIGHBOURS] {
    let query = &unit[image * dims..(image + 1) * dims];
    let mut best: [(f32, usize); NEIGHBOURS] = [(f32::NEG_INFINITY, usize::MAX); NEIGHBOURS];
    for &other in group {
        if other == image {
            continue;
        }
        let row = &unit[other * dims..(other + 1) * dims];
        let similarity = inner_product(query, row);
        let candidate = (similarity, other);
        if better(candidate, best[NEIGHBOURS - 1]) {
            let mut at = NEIGHBOURS - 1;
            while at > 0 && better(candidate, best[at - 1]) {
                best[at] = best[at - 1];
                at -= 1;
            }
            best[at] = candidate;
        }
    }
    let found = best.iter().filter(|b| b.1 != usize::MAX).count();
    let mut out = [image as u32; NEIGHBOURS];
    for (k, slot) in out.iter_mut().enumerate() {
        if found > 0 {
            *slot = best[k % found].1 as u32;
        }
    }
    out
}

/// Higher similarity first; equal similarity: lower index first.
fn better(a: (f32, usize), b: (f32, usize)) -> bool {
    a.0 > b.0 || (a.0 == b.0 && a.1 < b.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Points on a circle at the given angles (degrees), 2-d.
    fn on_circle(degrees: &[f32]) -> Vec<f32> {
        degrees.iter().flat_map(|d| [d.to_radians().cos(), d.to_radians().sin()]).collect()
    }

    #[test]
    fn neighbours_are_the_nearest_by_angle_and_never_the_image_itself() {
        let points = on_circle(&[0.0, 10.0, 25.0, 45.0, 180.0, 190.0]);
        let table = NeighbourTable::nearest(&points, 2, 7, &mut || {});
        assert_eq!(table.len(), 6);
        assert_eq!(&table.neighbours[0..3], &[1, 2, 3]);
        assert_eq!(&table.neighbours[4 * 3..5 * 3], &[5, 3, 2]);
        for i in 0..6 {
            assert!(!table.neighbours[i * 3..(i + 1) * 3].contains(&(i as u32)));
        }
    }

    #[test]
    fn length_does_not_matter_only_direction() {
        // Image 2 is far longer: by dot product it would be image 0's nearest.
        let mut points = on_circle(&[0.0, 30.0, 50.0, 200.0]);
        points[4] *= 100.0;
        points[5] *= 100.0;
        let table = NeighbourTable::nearest(&points, 2, 7, &mut || {});
        assert_eq!(table.neighbours[0], 1);
    }

    #[test]
    fn tiny_sets_repeat_neighbours_and_a_single_image_pairs_with_itself() {
        let two = NeighbourTable::nearest(&on_circle(&[0.0, 90.0]), 2, 7, &mut || {});
        assert_eq!(two.neighbours, vec![1, 1, 1, 0, 0, 0]);
        let one = NeighbourTable::nearest(&on_circle(&[0.0]), 2, 7, &mut || {});
        assert_eq!(one.neighbours, vec![0, 0, 0]);
    }

    #[test]
    fn large_sets_are_searched_in_seeded_groups() {
        // 3 * GROUP random 16-d points in identical pairs (2k, 2k + 1): each finds
        // its twin when both land in the same group (a third of the time), and the
        // table depends only on the seed.
        let count = 3 * GROUP;
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let pairs: Vec<f32> = (0..count / 2 * 16).map(|_| rng.random_range(-1.0..1.0)).collect();
        let points: Vec<f32> = (0..count).flat_map(|i| pairs[i / 2 * 16..(i / 2 + 1) * 16].to_vec()).collect();
        let mut calls = 0;
        let a = NeighbourTable::nearest(&points, 16, 1, &mut || calls += 1);
        assert_eq!(calls, 3);
        assert_eq!(a, NeighbourTable::nearest(&points, 16, 1, &mut || {}));
        assert_ne!(a, NeighbourTable::nearest(&points, 16, 2, &mut || {}));
        let twins = (0..count).filter(|&i| a.neighbours[i * 3] as usize == i ^ 1).count();
        assert!(twins > count / 4 && twins < count / 2, "{twins}");
    }

    #[test]
    #[ignore = "timing; run with --ignored --nocapture"]
    fn bench_nearest_for_30000_images() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let points: Vec<f32> = (0..30_000 * 64).map(|_| rng.random_range(-1.0..1.0)).collect();
        let start = std::time::Instant::now();
        let table = NeighbourTable::nearest(&points, 64, 1, &mut || {});
        eprintln!("30,000 images x 64 dims: {:.2} s", start.elapsed().as_secs_f64());
        assert_eq!(table.len(), 30_000);
    }

    #[test]
    fn labelled_images_pair_with_every_other_image_of_their_label() {
        let labels = [Some("shirt"), Some("boot"), Some("shirt"), None, Some("shirt"), Some("bag")];
        let table = NeighbourTable::same_label(&labels);
        assert_eq!(table.len(), 6);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let partners: Vec<usize> = (0..3000).map(|_| table.partner(0, 1.0, &mut rng)).collect();
        assert!(partners.iter().all(|&p| p == 2 || p == 4), "only the other shirts");
        let twos = partners.iter().filter(|&&p| p == 2).count();
        assert!((1300..1700).contains(&twos), "both drawn about equally: {twos}");
        let fours: Vec<usize> = (0..200).map(|_| table.partner(4, 1.0, &mut rng)).collect();
        assert!(fours.contains(&0) && fours.contains(&2) && !fours.contains(&4));
        // Alone with its label, or unlabelled: the image itself.
        for lonely in [1, 3, 5] {
            assert!((0..100).all(|_| table.partner(lonely, 1.0, &mut rng) == lonely));
        }
        assert!((0..100).all(|_| table.partner(0, 0.0, &mut rng) == 0));
    }

    #[test]
    fn targets_are_the_partner_alone_or_every_view_of_the_label() {
        // Without labels: view k's target is view k + N and back, as SimCLR's.
        let plain = view_targets(&[None, None, None]);
        for a in 0..6 {
            let row = &plain[a * 6..(a + 1) * 6];
            assert_eq!(row.iter().sum::<f32>(), 1.0);
            assert_eq!(row[(a + 3) % 6], 1.0);
        }
        // Images 0 and 2 share a label; image 1 has another one, image 3 none.
        let t = view_targets(&[Some(7), Some(8), Some(7), None]);
        let row = |a: usize| &t[a * 8..(a + 1) * 8];
        let third = 1.0 / 3.0;
        assert_eq!(row(0), &[0.0, 0.0, third, 0.0, third, 0.0, third, 0.0]);
        assert_eq!(row(6), &[third, 0.0, third, 0.0, third, 0.0, 0.0, 0.0]);
        assert_eq!(row(1), &[0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0], "alone with its label: the partner");
        assert_eq!(row(7), &[0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0], "no label: the partner");
        assert!((0..8).all(|a| row(a)[a] == 0.0 && (row(a).iter().sum::<f32>() - 1.0).abs() < 1e-6));
    }

    #[test]
    fn partners_follow_the_probability() {
        let table = NeighbourTable::nearest(&on_circle(&[0.0, 10.0, 20.0, 30.0, 100.0]), 2, 7, &mut || {});
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        assert!((0..100).all(|_| table.partner(4, 0.0, &mut rng) == 4));
        let partners: Vec<usize> = (0..1000).map(|_| table.partner(0, 1.0, &mut rng)).collect();
        assert!(partners.iter().all(|&p| [1, 2, 3].contains(&p)));
        assert!([1, 2, 3].iter().all(|n| partners.iter().filter(|&&p| p == *n).count() > 250));
        let kept = (0..1000).filter(|_| table.partner(0, 0.9, &mut rng) == 0).count();
        assert!((60..140).contains(&kept), "{kept}");
    }
}

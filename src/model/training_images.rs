//! The images `build_model` trains on, read from the caller's source query:
//! decoded in parallel and shrunk to a small "base" size, then kept in memory
//! while they fit in `image_search.train_cache_mb`, or else read from the query
//! again in every epoch.
use crate::engine::image::access::ImageReader;
use crate::engine::image::resize::shrink;
use crate::engine::image::Picture;
use crate::engine::train::{self, EpochImages};
use crate::error::{bad_data, invalid};
use crate::spi::rows::{check_label_column, for_each_image_chunk, image_reader, ImageRow};
use pgrx::prelude::*;
use rayon::prelude::*;

/// Rows read from the source query per SPI batch.
const CHUNK_ROWS: usize = 512;

/// The training images: all in memory, or, when they would not fit in
/// image_search.train_cache_mb, read again from the source query every epoch.
pub enum TrainingImages<'a> {
    Cached(CachedImages),
    Streamed(StreamedImages<'a>),
}

/// The training images in memory, with each one's label when the build has a label
/// column (in the same order).
pub struct CachedImages {
    pub pictures: Vec<Picture>,
    pub labels: Option<Vec<Option<String>>>,
}

/// What the first read found, for the checks before training.
pub struct Census {
    pub rows: usize,
    pub usable: usize,
    pub any_colour: bool,
}

/// Decodes the images of one chunk in parallel, shrunk for cheap augmentation, each
/// with its row's text (the label); an unreadable image fails the build and names its row.
fn decode_chunk(reader: &ImageReader, chunk: Vec<ImageRow>, base_side: u32) -> Vec<(Picture, Option<String>)> {
    let decoded: Vec<(usize, Result<Picture, String>, Option<String>)> = chunk
        .into_par_iter()
        .filter_map(|r| r.image.map(|i| (r.row, i, r.text)))
        .map(|(row, image, text)| (row, reader.load_at_least(&image, base_side).map(|p| shrink(&p, base_side)), text))
        .collect();
    decoded
        .into_iter()
        .map(|(row, picture, text)| {
            (picture.unwrap_or_else(|e| bad_data(format!("row {row} of the source query: {e}"))), text)
        })
        .collect()
}

impl<'a> TrainingImages<'a> {
    /// The images as the training loop reads them, epoch by epoch.
    pub fn epoch_images(&mut self) -> &mut dyn EpochImages {
        match self {
            TrainingImages::Cached(cached) => &mut cached.pictures,
            TrainingImages::Streamed(streamed) => streamed,
        }
    }

    /// The images, when they are all in memory.
    pub fn cached(&self) -> Option<&[Picture]> {
        match self {
            TrainingImages::Cached(cached) => Some(&cached.pictures),
            TrainingImages::Streamed(_) => None,
        }
    }

    /// Each image's label, when the build has a label column and the images are in memory.
    pub fn labels(&self) -> Option<&[Option<String>]> {
        match self {
            TrainingImages::Cached(cached) => cached.labels.as_deref(),
            TrainingImages::Streamed(_) => None,
        }
    }

    /// Reads and checks every image of the source query once, keeping them while
    /// they fit in image_search.train_cache_mb. Cached images are put in an order
    /// of their own (`train::content_order`), so the query's row order does not
    /// change the model. With `label_col`, each image's label is read too (as text),
    /// and the images must fit in memory: the labels pair images across the whole set.
    /// Streamed windows hold `batch_size * 16` images: enough batches per shuffle to mix well.
    pub fn load(
        source_query: &'a str,
        image_col: &'a str,
        label_col: Option<&str>,
        base_side: u32,
        batch_size: usize,
    ) -> (TrainingImages<'a>, Census) {
        let reader = image_reader();
        let cache_limit = crate::settings::TRAIN_CACHE_MB.get() as usize * 1024 * 1024;
        let (mut labelled, mut cached_bytes, mut streamed) = (Vec::new(), 0usize, false);
        let mut census = Census { rows: 0, usable: 0, any_colour: false };
        Spi::connect(|client| {
            if let Some(label_col) = label_col {
                check_label_column(&client, source_query, label_col);
            }
            for_each_image_chunk(&client, source_query, image_col, label_col, CHUNK_ROWS, |chunk| {
                census.rows += chunk.len();
                for (picture, label) in decode_chunk(&reader, chunk, base_side) {
                    census.usable += 1;
                    census.any_colour |= picture.channels == 3;
                    cached_bytes += picture.pixels.len();
                    streamed |= cached_bytes > cache_limit;
                    if !streamed {
                        labelled.push((picture, label));
                    }
                }
                if streamed {
                    labelled = Vec::new();
                }
            });
        });
        if streamed && label_col.is_some() {
            invalid(format!(
                "label_col needs all the training images in memory, and the decoded images need more than \
                 image_search.train_cache_mb = {} MB; raise it (SET image_search.train_cache_mb = ...) or train on fewer rows",
                cache_limit / (1024 * 1024)
            ));
        }
        if streamed {
            notice!(
                "the decoded training images need more than image_search.train_cache_mb = {} MB; \
                 they will be read from the source query again in every epoch",
                cache_limit / (1024 * 1024)
            );
            let window_size = batch_size * 16;
            (
                TrainingImages::Streamed(StreamedImages {
                    image_count: census.usable,
                    source_query,
                    image_col,
                    base_side,
                    window_size,
                    reader,
                }),
                census,
            )
        } else {
            // Equal pictures with different labels are ordered by label, so the order
            // depends on the content alone.
            labelled.sort_unstable_by(|(a, a_label), (b, b_label)| {
                train::content_order(a, b).then_with(|| a_label.cmp(b_label))
            });
            let (pictures, labels): (Vec<Picture>, Vec<Option<String>>) = labelled.into_iter().unzip();
            let labels = label_col.map(|_| labels);
            (TrainingImages::Cached(CachedImages { pictures, labels }), census)
        }
    }
}

/// Images that do not fit in memory: every epoch reads the source query again
/// and trains on windows of a few thousand images, each shuffled. Memory is
/// bounded by the window, not the table. Unlike cached training, the windows
/// follow the query's row order, so a streamed build is reproducible only when
/// the source query returns its rows in a fixed order (an ORDER BY).
pub struct StreamedImages<'a> {
    image_count: usize,
    source_query: &'a str,
    image_col: &'a str,
    base_side: u32,
    window_size: usize,
    reader: ImageReader,
}

impl EpochImages for StreamedImages<'_> {
    fn image_count(&self) -> usize {
        self.image_count
    }

    fn for_each_window(
        &mut self,
        _epoch: u32,
        train_window: &mut dyn FnMut(&[Picture]) -> Result<(), String>,
    ) -> Result<(), String> {
        let mut window = Vec::new();
        let mut result = Ok(());
        Spi::connect(|client| {
            for_each_image_chunk(&client, self.source_query, self.image_col, None, CHUNK_ROWS, |chunk| {
                if result.is_err() {
                    return;
                }
                window
                    .extend(decode_chunk(&self.reader, chunk, self.base_side).into_iter().map(|(picture, _)| picture));
                if window.len() >= self.window_size {
                    result = train_window(&window);
                    window.clear();
                }
            });
        });
        result?;
        train_window(&window)
    }
}

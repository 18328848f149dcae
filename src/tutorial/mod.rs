//! The tutorial's conveniences: `run` (its statements as written), `load_csv`
//! (its COPY ... OPTIONS(overwrite=True)) and `display` (print_images, contact_sheet).
pub mod csv_load;
pub mod display;
pub mod run;

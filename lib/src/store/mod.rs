//! The content store: atomic writes, locks, and the OCI image layout under `<root>/images`.

pub mod atomic;
pub mod layout;
pub mod lock;

pub use layout::ImageStore;
pub use lock::Lock;
